"""The compiled backend: the C kernels of ``kernels.c`` (loaded by :mod:`._library`), called
with ctypes on NumPy arrays.

Calls the kernels do not handle (another dtype, arrays the BLAS cannot read in place) and
kernels that failed their check run on the NumPy reference, here and nowhere else. Each
kernel is checked against the reference on a small float64 problem the first time this
process uses it, under a lock, so no thread runs it before its check has finished; the
recurrence is checked with the cell it is first called with.

Threads: a call big enough is cut into blocks (see :class:`~._settings.Tuning`); the
threads that run them are chosen per call site by :class:`~._pace.Pace`.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import threading
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import numpy as np

from charsmith.backend import _check, _library
from charsmith.backend._interface import Backend, Cell
from charsmith.backend._pace import Pace
from charsmith.backend._settings import Tuning
from charsmith.backend.reference import Reference

__all__ = ["Compiled", "Kernels"]

_SFX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}  # the kernels' name suffix by dtype
_REFERENCE = Reference()


class Kernels:
    """The loaded library, shared by every :class:`Compiled` made from it, and the outcome of
    each kernel's check: {(instruction set, kernel group): "" if it passed, else the problem}."""

    def __init__(self, loaded: _library.Loaded, default_threads: int) -> None:
        self.lib = loaded.lib
        self.variants = loaded.variants  # the instruction sets this CPU runs
        self.default_threads = default_threads
        self.checked: dict[tuple[str, str], str] = {}
        self.lock = threading.Lock()


def _blas_layout(a: np.ndarray) -> tuple[int, int] | None:
    """(transposed, leading dimension) if the BLAS can read 2-D ``a`` in place, else None."""
    it = a.itemsize
    (s0, s1), (r, c) = a.strides, a.shape
    if s1 == it and s0 % it == 0 and s0 // it >= max(c, 1):
        return 0, s0 // it
    if s0 == it and s1 % it == 0 and s1 // it >= max(r, 1):
        return 1, s1 // it
    return None


def _address(a: np.ndarray) -> int:
    """Where ``a``'s data starts: through the buffer protocol for a writable contiguous
    array (0.3 µs), else ``a.ctypes.data`` (1 µs: a sampling step passes a dozen arrays)."""
    try:
        # NumPy's stubs declare ndarray.__buffer__ for Python >= 3.12 only; an array is a buffer on 3.11 too
        return ctypes.addressof(ctypes.c_char.from_buffer(a))  # type: ignore[arg-type]
    except (TypeError, ValueError, BufferError):  # read-only, strided or empty
        return int(a.ctypes.data)


def _ptrs(arrays: list[np.ndarray | None]) -> ctypes.Array[ctypes.c_void_p]:
    return (ctypes.c_void_p * len(arrays))(*[None if a is None else _address(a) for a in arrays])


class Compiled(Backend):
    """The compiled kernels of instruction set ``isa``, with a budget of ``threads``."""

    compiled = True

    def __init__(self, kernels: Kernels, isa: str, threads: int, tuning: Tuning) -> None:
        if isa not in kernels.variants:
            raise ValueError(f"this CPU does not run the {isa} kernels (it runs {', '.join(kernels.variants)})")
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self._k, self.isa, self.threads, self.tuning = kernels, isa, threads, tuning
        self._pace = Pace()
        self._fns: dict[tuple[str, np.dtype], Any] = {}
        self._passed: set[str] = set()  # kernel groups known to have passed their check

    # ----- the object ---------------------------------------------------------------------
    @property
    def status(self) -> str:
        checked = sorted(self._k.checked.items())
        failed = [f"the {group} kernels disagree with NumPy ({problem}) and run on NumPy"
                  for (isa, group), problem in checked if isa == self.isa and problem]  # fmt: skip
        return "; ".join([f"compiled kernels in use ({self.isa})", *failed])

    @property
    def variants(self) -> tuple[str, ...]:
        """The instruction sets whose kernels this CPU runs (for :meth:`with_options`)."""
        return self._k.variants

    def with_threads(self, n: int) -> Compiled:
        return self.with_options(threads=n)

    def with_options(self, *, threads: int | None = None, isa: str | None = None, **tuning: Any) -> Compiled:
        """A copy with another thread budget (0: the default), instruction set (one of
        :attr:`variants`) or :class:`Tuning` fields (for tests and benchmarks)."""
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 0):
            raise ValueError(f"threads must be a non-negative integer (0 = automatic), got {threads!r}")
        n = self.threads if threads is None else threads or self._k.default_threads
        return Compiled(self._k, isa or self.isa, n, dataclasses.replace(self.tuning, **tuning))

    @contextlib.contextmanager
    def blas_on_one_thread(self) -> Iterator[None]:
        """Restored on exit; other threads are untouched. A no-op with a BLAS that has no
        per-thread setting."""
        previous = self._k.lib.cs_blas_local_threads(1)
        try:
            yield
        finally:
            if previous > 0:
                self._k.lib.cs_blas_local_threads(previous)

    # ----- plumbing -------------------------------------------------------------------------
    def _fn(self, name: str, dtype: np.dtype) -> Any:
        fn = self._fns.get((name, dtype))
        if fn is None:
            fn = self._fns[(name, dtype)] = getattr(self._k.lib, f"{name}{_SFX[dtype]}_{self.isa}")
        return fn

    def _ok(self, group: str, cell: Cell | None = None) -> bool:
        """Whether kernel ``group`` passed its check (run now if it has not been)."""
        if group in self._passed:
            return True
        key = (self.isa, group)
        problem = self._k.checked.get(key)
        if problem is None:
            with self._k.lock:
                problem = self._k.checked.get(key)
                if problem is None:
                    problem = self._k.checked[key] = _check.check(self, _REFERENCE, group, cell)
        if not problem:
            self._passed.add(group)
        return not problem

    def _blocks(self, work: int, per_block: int) -> int:
        return max(1, min(self.threads, work // per_block))

    def _paced(self, site: Hashable, nblocks: int, work: int, call: Callable[[int], Any]) -> None:
        """``call(threads)``, with the threads chosen by the pace (see _pace)."""
        pace = self.tuning.pace
        if nblocks < 2 or pace != "adaptive":
            call(1 if pace == "one" else nblocks)
            return
        used = self._pace.threads(site, nblocks)
        t0 = self._pace.clock()
        call(used)
        self._pace.record(site, nblocks, used, self._pace.clock() - t0, work)

    # ----- the kernels ----------------------------------------------------------------------
    def matmul(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Split over threads by rows or columns when big enough (each block a single-threaded
        BLAS call); else NumPy's own ``a @ b``."""
        (M, K), N = a.shape, b.shape[1]
        nblocks = self._blocks(M * N * K, self.tuning.min_matmul)
        if nblocks < 2 or a.dtype != b.dtype or a.dtype not in _SFX or b.shape[0] != K:
            return a @ b
        la, lb = _blas_layout(a), _blas_layout(b)
        if la is None or lb is None or not self._ok("matmul"):
            return a @ b
        return self._matmul(a, b, la, lb, nblocks)

    def _matmul(self, a: np.ndarray, b: np.ndarray, la: tuple[int, int], lb: tuple[int, int],
                nblocks: int) -> np.ndarray:  # fmt: skip
        (M, K), N = a.shape, b.shape[1]
        out = np.empty((M, N), dtype=a.dtype)
        m = (ctypes.c_int64 * 8)(la[0], lb[0], M, N, K, la[1], lb[1], N)
        p = _ptrs([a, b, out])
        fn = self._fn("matmul", a.dtype)

        def matmul(threads: int) -> None:  # named for profiles, as the others below
            fn(m, p, nblocks, threads)

        self._paced(("matmul", nblocks, (M * N * K).bit_length()), nblocks, M * N * K, matmul)
        return out

    @staticmethod
    def _supports(*arrays: np.ndarray, buffers: tuple[np.ndarray, ...] = ()) -> bool:
        """Whether the kernels take these arrays: all of one dtype they have, and the
        ``buffers`` they write C-contiguous (the others they copy if need be)."""
        dtype = arrays[0].dtype
        if dtype not in _SFX:
            return False
        for a in arrays:  # loops, not all(): this runs on every call
            if a.dtype != dtype:
                return False
        for b in buffers:  # noqa: SIM110
            if b.dtype != dtype or not b.flags.c_contiguous:
                return False
        return True

    def recur_forward(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, S: list[np.ndarray],
                      C: list[np.ndarray], ids: np.ndarray | None = None) -> None:  # fmt: skip
        if not self._supports(xp, buffers=(*S, *C)) or not self._ok(cell.NAME, cell):
            return _REFERENCE.recur_forward(cell, p, xp, S, C, ids)
        self._recur_forward(cell, p, xp, S, C, ids)

    def _recur_forward(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, S: list[np.ndarray],
                       C: list[np.ndarray], ids: np.ndarray | None) -> None:  # fmt: skip
        dtype = xp.dtype
        W_hh = np.ascontiguousarray(p["W_hh"], dtype=dtype)
        b_hn = [np.ascontiguousarray(p["b_hn"], dtype=dtype)] if "b_hn" in p else []
        xp = np.ascontiguousarray(xp)
        ids64 = None if ids is None else np.ascontiguousarray(ids, dtype=np.int64)
        T, B = S[0].shape[1] - 1, S[0].shape[2]
        ldt = xp.shape[1] if ids64 is not None else 0
        self._recur(f"{cell.NAME}_forward", dtype, T, B, W_hh, [W_hh, *b_hn, xp, *S, *C], ids64, ldt)

    def recur_backward(self, cell: Cell, p: dict[str, np.ndarray], S: list[np.ndarray], C: list[np.ndarray],
                       dhs: np.ndarray, D: list[np.ndarray], carry: list[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
        if not self._supports(dhs, buffers=(*S, *C, *D, *carry)) or not self._ok(cell.NAME, cell):
            return _REFERENCE.recur_backward(cell, p, S, C, dhs, D, carry)
        return self._recur_backward(cell, p, S, C, dhs, D, carry)

    def _recur_backward(self, cell: Cell, p: dict[str, np.ndarray], S: list[np.ndarray], C: list[np.ndarray],
                        dhs: np.ndarray, D: list[np.ndarray], carry: list[np.ndarray]) -> list[np.ndarray]:  # fmt: skip
        H, T, B = dhs.shape
        W_hh = np.ascontiguousarray(p["W_hh"], dtype=dhs.dtype)
        state = S[1] if cell.NAME == "lstm" else S[0]  # lstm needs c, the others h
        arrays = [W_hh, state, *C, np.ascontiguousarray(dhs), *D, *carry]
        self._recur(f"{cell.NAME}_backward", dhs.dtype, T, B, W_hh, arrays, None, 0)
        return carry

    def _recur(self, name: str, dtype: np.dtype, T: int, B: int, W_hh: np.ndarray, arrays: list[np.ndarray],
               ids: np.ndarray | None, ldt: int) -> None:  # fmt: skip
        """A recurrence kernel: (T, B, H, blocks, threads, split mode, pointers, ids, ldt)."""
        H, G = W_hh.shape
        t = self.tuning
        nblocks = self._blocks(B * H * G, t.min_work)
        units = t.split == "units" or (t.split != "batch" and nblocks * t.min_cols > B)
        ptrs, id_ptr = _ptrs(list(arrays)), None if ids is None else _address(ids)
        fn = self._fn(name, dtype)
        def recurrence(threads: int) -> None:
            fn(T, B, H, nblocks, threads, int(units), ptrs, id_ptr, ldt)

        self._paced((name, ids is not None, B, H, nblocks, units), nblocks, T * B * H * G, recurrence)

    def cell_step(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...],
                  ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:  # fmt: skip
        if not self._supports(p["W_hh"], xp, *state) or not self._ok(cell.NAME, cell):
            return _REFERENCE.cell_step(cell, p, xp, state, ids)
        return self._cell_step(cell, p, xp, state, ids)

    def _cell_step(self, cell: Cell, p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...],
                   ids: np.ndarray | None = None) -> tuple[np.ndarray, ...]:  # fmt: skip
        W = p["W_hh"]
        (B, H), G = state[0].shape, W.shape[1]
        new = tuple(np.empty((B, H), W.dtype) for _ in state)
        lstm = len(state) == 2
        rows = None if ids is None else np.ascontiguousarray(ids, dtype=np.int64)  # (B,) rows of the table xp
        arrays = [W, p.get("b_hn"), xp, state[0], state[1] if lstm else None, new[0], new[1] if lstm else None, rows]
        arrays = [None if a is None else np.ascontiguousarray(a) for a in arrays]  # kept alive for the call
        ptrs = _ptrs(arrays)
        nblocks = self._blocks(B * H * G, self.tuning.min_matmul)
        fn = self._fn("cell_step", W.dtype)
        def cell_step(threads: int) -> None:
            fn(B, H, cell.GATES, ptrs, nblocks, threads)

        self._paced(("cell_step", nblocks, (B * H * G).bit_length()), nblocks, B * H * G, cell_step)
        return new

    def softmax_xent(self, logits: np.ndarray, targets: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if logits.dtype not in _SFX or not logits.flags.c_contiguous or not self._ok("xent"):
            return _REFERENCE.softmax_xent(logits, targets, w)
        found = self._softmax_xent(logits, targets, w)
        return found if found is not None else _REFERENCE.softmax_xent(logits, targets, w)

    def _softmax_xent(self, logits: np.ndarray, targets: np.ndarray,
                      w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
        N, V = logits.shape
        targets = np.ascontiguousarray(targets, dtype=np.int64)
        w = np.ascontiguousarray(w, dtype=logits.dtype)
        grad, nll = np.empty_like(logits), np.empty(N, dtype=logits.dtype)
        fn = self._fn("xent", logits.dtype)
        if fn(N, V, *[_address(a) for a in (logits, targets, w, grad, nll)]) != 0:
            return None  # out of memory for its scratch block: let NumPy try
        return nll, grad

    def head_xent(self, y: np.ndarray, W_out: np.ndarray, b_out: np.ndarray, targets: np.ndarray,
                  w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        """In one pass over blocks of columns of y, without building the (V, N) logits;
        y's rows must be BLAS-readable."""
        layout = _blas_layout(y) if y.ndim == 2 else None
        if not self._supports(W_out, y, b_out) or layout is None or layout[0] != 0 or not self._ok("head_xent"):
            return _REFERENCE.head_xent(y, W_out, b_out, targets, w)
        return self._head_xent(y, layout[1], W_out, b_out, targets, w)

    def _head_xent(self, y: np.ndarray, ldy: int, W_out: np.ndarray, b_out: np.ndarray, targets: np.ndarray,
                   w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
        dtype = W_out.dtype
        (H, N), V = y.shape, W_out.shape[1]
        W_out, b_out = np.ascontiguousarray(W_out), np.ascontiguousarray(b_out)
        targets = np.ascontiguousarray(targets, dtype=np.int64)
        w = np.ascontiguousarray(w, dtype=dtype)
        nll, dWb, dy = np.empty(N, dtype), np.empty(H * V + V, dtype), np.empty((H, N), dtype)
        nblocks = self._blocks(N, self.tuning.min_head_cols)
        parts = np.empty(nblocks * (H * V + V), dtype)  # each block's dW_out, db_out
        ptrs = [_address(a) for a in (W_out, b_out, targets, w, nll, dWb, dy, parts)]
        y_data = y.ctypes.data  # strided rows
        fn = self._fn("head_xent", dtype)
        def head_xent(threads: int) -> None:
            fn(N, H, V, y_data, ldy, *ptrs, nblocks, threads)

        self._paced(("head_xent", nblocks, H, V, N.bit_length()), nblocks, N, head_xent)
        return nll, dWb[: H * V].reshape(H, V), dWb[H * V :], dy

    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, mask: np.ndarray, *,
             step: float, b1: float, b2: float, eps: float, decay: float) -> None:  # fmt: skip
        arrays = (p, g, m, v, mask)
        contiguous = all(a.size == p.size and a.flags.c_contiguous for a in arrays)
        if not contiguous or not self._supports(*arrays) or not self._ok("adam"):
            return _REFERENCE.adam(p, g, m, v, mask, step=step, b1=b1, b2=b2, eps=eps, decay=decay)
        self._adam(p, g, m, v, mask, step=step, b1=b1, b2=b2, eps=eps, decay=decay)

    def _adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, mask: np.ndarray, *,
              step: float, b1: float, b2: float, eps: float, decay: float) -> None:  # fmt: skip
        arrays = (p, g, m, v, mask)
        fn = self._fn("adam", p.dtype)
        nblocks = self._blocks(p.size, self.tuning.min_elements)
        ptrs = [_address(a) for a in arrays]
        def adam(threads: int) -> None:
            fn(p.size, *ptrs, step, b1, b2, eps, decay, nblocks, threads)

        self._paced(("adam", nblocks, p.size), nblocks, p.size, adam)

    def scatter_cols(self, idx: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        if cols.dtype not in _SFX or not cols.flags.c_contiguous or not self._ok("scatter_cols"):
            return _REFERENCE.scatter_cols(idx, cols, n)
        return self._scatter_cols(idx, cols, n)

    def _scatter_cols(self, idx: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
        idx = np.ascontiguousarray(idx, dtype=np.int64)
        D, N = cols.shape
        out = np.empty((D, n + 1), dtype=cols.dtype)
        nblocks = self._blocks(cols.size, self.tuning.min_elements)
        fn = self._fn("scatter_cols", cols.dtype)
        args = (_address(idx), _address(cols), _address(out))

        def scatter_cols(threads: int) -> None:
            fn(D, N, n + 1, *args, nblocks, threads)

        self._paced(("scatter_cols", nblocks, cols.size.bit_length()), nblocks, cols.size, scatter_cols)
        return out
