"""The interface every backend implements (see :mod:`charsmith.backend`)."""

from __future__ import annotations

import abc
import contextlib
from typing import Any, Protocol

import numpy as np

__all__ = ["Backend", "Cell"]

Arrays = list[np.ndarray] | tuple[np.ndarray, ...]


class Cell(Protocol):
    """What a backend needs of a recurrent cell (the modules ``charsmith.nn.rnn``, ``gru``,
    ``lstm``): its name (which compiled kernels run it), its sizes (the rows of its per-step
    caches and gradients), and the NumPy maths of one step, feature-major, that the reference
    backend's time loop calls (and batch-major without a cache, for sampling)."""

    NAME: str
    GATES: int
    STATE_SIZE: int
    SCRATCH: int

    def prepare(self, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...

    def cache_rows(self, H: int) -> tuple[int, ...]: ...

    def grad_rows(self, H: int) -> tuple[int, ...]: ...

    def forward_fm(self, q: dict[str, np.ndarray], xp: np.ndarray, state: Arrays, new_state: Arrays,
                   cache: Arrays) -> None: ...  # fmt: skip

    def backward_fm(self, q: dict[str, np.ndarray], d_new: Arrays, state: Arrays, new_state: Arrays,
                    cache: Arrays, grads: Arrays, d_prev: Arrays, scratch: np.ndarray) -> None: ...  # fmt: skip

    def step(self, p: dict[str, np.ndarray], xp: np.ndarray,
             state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]: ...  # fmt: skip


class Backend(abc.ABC):
    """The engine's fast paths. Every method computes what the NumPy reference
    (:class:`charsmith.backend.Reference`) computes, to rounding; arrays are NumPy arrays
    of one float dtype. Shapes: B batch, T steps, H hidden units, G = gates * H, V vocabulary,
    N = T * B positions (column t * B + b)."""

    compiled: bool  # whether compiled kernels run the calls
    threads: int  # the thread budget: how many threads a call may use, the caller's included

    @property
    @abc.abstractmethod
    def status(self) -> str:
        """One line: which engine this is and, for NumPy, why the compiled kernels are not in use."""

    @abc.abstractmethod
    def with_threads(self, n: int) -> Backend:
        """The same backend with a thread budget of ``n`` (0: the default, $CHARSMITH_THREADS or
        the usable cores). A new object: other users of this one are unaffected."""

    def blas_on_one_thread(self) -> contextlib.AbstractContextManager[None]:
        """Inside the block, this thread's own BLAS calls stay on one thread (the compiled
        kernels bring their own threads, and two levels of threads fight for the cores)."""
        return contextlib.nullcontext()

    @abc.abstractmethod
    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` for 2-D arrays."""

    @abc.abstractmethod
    def recur_forward(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, S: list[np.ndarray],
                      C: list[np.ndarray], ids: np.ndarray | None = None) -> None:  # fmt: skip
        """Run a layer's recurrence, gate-major. xp (G, T, B) projected inputs, or with ``ids``
        (T, B) ints a table (G, n) of them by id (step t's input column b is xp[:, ids[t, b]],
        id -1 the last column). Fills S (hs, and cs for lstm, each (H, T+1, B), step 0 set by
        the caller) from step 1 on, and the caches C (rows, T, B) (see the cells' cache_rows)."""

    @abc.abstractmethod
    def recur_backward(self, cell: Cell, p: dict[str, np.ndarray], S: list[np.ndarray], C: list[np.ndarray],
                       dhs: np.ndarray, D: list[np.ndarray], carry: list[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
        """Backward of :meth:`recur_forward`: dhs (H, T, B) the gradient reaching hs[:, 1:];
        fills the per-step gradients D (rows, T, B) (see the cells' grad_rows). ``carry`` (each
        (H, B)) is the final state's gradient, and may be overwritten; returns the initial state's."""

    @abc.abstractmethod
    def cell_step(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...],
                  ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:  # fmt: skip
        """One batch-major step without a cache (sampling): xp (B, G) projected inputs, or with
        ``ids`` (B,) a table (n, G) whose row ids[b] is row b's (ids in [0, n)); state (h,) or
        (h, c), each (B, H) -> the new state."""

    @abc.abstractmethod
    def softmax_xent(self, logits: np.ndarray, targets: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For logits (N, V), targets (N,) and weights w (N,): nll (N,) = -log softmax[target]
        (0 where w == 0; the target is read only where w != 0) and grad (N, V) =
        w * (softmax - onehot(target))."""

    @abc.abstractmethod
    def head_xent(self, y: np.ndarray, W_out: np.ndarray, b_out: np.ndarray, targets: np.ndarray,
                  w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """The output layer and its weighted cross-entropy, forward and backward: for y (H, N),
        z = W_out.T @ y + b_out (V, N) and g = w * (softmax(z) - onehot(targets)), returns
        (nll (N,) as in :meth:`softmax_xent`, dW_out = y @ g.T (H, V), db_out = g summed (V,),
        dy = W_out @ g (H, N))."""

    @abc.abstractmethod
    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, mask: np.ndarray, *,
             step: float, b1: float, b2: float, eps: float, decay: float) -> None:  # fmt: skip
        """One Adam update in place, all five arrays of one shape: p -= decay * mask * p;
        m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= step * m / (sqrt(v) + eps)."""

    @abc.abstractmethod
    def scatter_cols(self, idx: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        """out (D, n+1) with out[:, v] = the sum of cols[:, k] where idx[k] == v, for cols (D, N)
        and idx (N,) in [-1, n); the last column sums idx -1."""

    def __repr__(self) -> str:
        extra: dict[str, Any] = {"threads": self.threads} if self.compiled else {}
        return f"<{type(self).__name__} {self.status!r}{''.join(f' {k}={v}' for k, v in extra.items())}>"
