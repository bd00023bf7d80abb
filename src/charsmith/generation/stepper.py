"""The one door from generation to the model.

Everything in ``charsmith.generation`` reaches the network through a :class:`Stepper`: it
primes a prefix, steps a batch of rows one character, and selects rows of the state. Rows
carry their model state and any per-row extras, model inputs besides the ids that stay with
a row as rows are dropped, copied (SMC resampling) or reordered (beam search). A new kind of
model input (for example a category condition, ``cond`` (B, K)) plugs in here and nowhere
else: ``prime`` puts each row's value in ``Rows.extras`` and ``step`` hands the extras to
``model.step`` as keyword arguments.

Steps run with the calling thread's BLAS on one thread: the compiled kernels split a step
over their own threads, and a threaded BLAS under them fights them for the cores (sampling
on two threads was slower than on one where ``OPENBLAS_NUM_THREADS`` was not set).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from charsmith import backend, kinds
from charsmith import model as M
from charsmith._deadline import NEVER, Deadline

__all__ = ["Rows", "Stepper"]

Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class Rows:
    """The state of B rows: the model state (one tuple per layer, each (B, H)) and per-row
    extras, each an array whose first axis is B."""

    state: M.State
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, idx: np.ndarray) -> Rows:
        """Rows ``idx`` (an index array; repeats copy a row)."""
        state = tuple(tuple(s[idx] for s in layer) for layer in self.state)
        return Rows(state, {k: v[idx] for k, v in self.extras.items()})


@dataclass(frozen=True)
class Stepper:
    """A model ready to generate: its parameters and config (of any kind, see
    :mod:`charsmith.kinds`), and a ``deadline`` past which a step raises TimeLimitError (so
    one time limit covers every way of generating).

    For a model with categories, each row's condition (the extra ``cond``, (B, K) weights):
    ``cond`` (K,) for every row (a category or a blend), or ``priors`` (K,), each primed
    row's category drawn from them with ``rng`` (the model's distribution of items).
    ``allowed`` (V, V): the characters that may follow each one (the list's habits); the
    others get a logit of -inf.
    """

    params: Params
    cfg: kinds.AnyConfig
    deadline: Deadline = NEVER
    cond: np.ndarray | None = None
    priors: np.ndarray | None = None
    rng: np.random.Generator | None = None
    allowed: np.ndarray | None = None  # (V, V) bool: may id c follow id p? (charsmith.habits; None: any)

    def _conds(self, batch: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The distinct conditions of ``batch`` new rows, category ids (U,) or a blend's
        weights (1, K), and each row's (B,); None without categories. Never (B, K) one-hot
        rows: memory does not grow with the rows times the categories."""
        if self.cond is not None:
            w = np.asarray(self.cond, dtype=np.float64)
            (nonzero,) = np.nonzero(w)
            one = len(nonzero) == 1 and w[nonzero[0]] == 1.0  # a category, not a blend
            return (nonzero if one else w[None]), np.zeros(batch, dtype=np.int64)
        if self.priors is not None:
            if self.rng is None:
                raise ValueError("a Stepper with priors needs an rng to draw the rows' categories")
            distinct, row = np.unique(self.rng.choice(len(self.priors), batch, p=self.priors), return_inverse=True)
            return distinct, row.reshape(-1)
        return None

    def prime(self, ids: np.ndarray, batch: int) -> tuple[np.ndarray, Rows]:
        """Feed ``ids`` (all but the last) to a zero state; return the last id for ``batch``
        rows (B,) and their rows, alike but for their condition (each distinct one primed once)."""
        kind = kinds.of(self.cfg)
        conds = self._conds(batch)
        row = np.zeros(batch, dtype=np.int64)
        extras: dict[str, np.ndarray] = {}
        if conds is not None:
            extras["cond"], row = conds
        n = len(extras["cond"]) if extras else 1
        state = kind.new_state(self.params, self.cfg, n)
        with backend.current().blas_on_one_thread():
            for i in ids[:-1]:
                _, state = kind.step(self.params, self.cfg, np.full(n, i), state, cond=extras.get("cond"))
        rows = Rows(state, extras).take(row)
        return np.full(batch, ids[-1], dtype=np.int64), rows

    def step(self, x: np.ndarray, rows: Rows) -> tuple[np.ndarray, Rows]:
        """One character for every row: ids x (B,) -> logits (B, V) and the rows' new state."""
        self.deadline.check()
        with backend.current().blas_on_one_thread():  # the compiled kernels bring their own threads
            logits, state = kinds.of(self.cfg).step(self.params, self.cfg, x, rows.state, check=False, **rows.extras)
        if self.allowed is not None:
            logits = np.where(self.allowed[x], logits, -np.inf)
        return logits, Rows(state, rows.extras)
