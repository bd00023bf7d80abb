"""Optional compiled kernels: a layer's whole time loop in one C call, and a few fused passes.

:func:`charsmith.nn.layer.recur_forward` / ``recur_backward`` run their time loop here when
the kernels are available and in NumPy otherwise; both write the same buffers, so
everything else is shared, and the tests run both. The other kernels (:func:`matmul`
split over threads, the fused output layer and loss :func:`head_xent`, :func:`softmax_xent`,
:func:`adam`, :func:`scatter_cols`) return ``None``/``False`` or fall back to NumPy when
unavailable, and their callers then keep the NumPy path.
``pip install`` compiles the C source into the package (see :mod:`._library` and setup.py);
before use, the kernels of the instruction set this CPU runs (baseline, AVX2 or AVX-512)
are checked once against the NumPy loop on a small float64 problem.

Threads: a pool of worker threads shares each call (:func:`set_threads`,
``$CHARSMITH_THREADS``, default the usable cores), only when the call is big enough.
``CHARSMITH_NATIVE=0`` turns the kernels off; :func:`disabled` does so inside a ``with``
block. :func:`status` says whether they are in use and, if not, why. A tuning variable
(``CHARSMITH_THREADS``, ``CHARSMITH_MIN_WORK``, ...) that cannot be read is ignored with a
:class:`~charsmith.errors.CharsmithWarning` when the kernels load.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import threading
import warnings
from collections.abc import Iterator

import numpy as np

from charsmith.errors import CharsmithWarning
from charsmith.nn.native import _library

__all__ = [
    "available", "status", "disabled", "supports", "set_threads", "threads", "threads_setting",
    "blas_on_one_thread",
    "recur_forward", "recur_backward", "matmul", "adam", "softmax_xent",
    "scatter_cols", "head_xent", "cell_step",
]  # fmt: skip

_ENV_PROBLEMS: list[str] = []  # tuning variables that could not be read, warned about at load


def _env_int(name: str, default: int, low: int = 1) -> int:
    """An integer >= ``low`` from the environment, else ``default`` (noting a bad value)."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and int(raw) >= low:
        return int(raw)
    what = "a positive integer" if low == 1 else f"an integer >= {low}"
    _ENV_PROBLEMS.append(f"{name}={raw!r} is not {what}; ignored, using the default")
    return default


def _env_choice(name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` from the environment, else "" (noting a bad value)."""
    raw = os.environ.get(name, "").strip().lower()
    if raw and raw not in choices:
        _ENV_PROBLEMS.append(f"{name}={raw!r} is not one of {', '.join(choices)}; ignored")
        return ""
    return raw


_OFF_WORDS, _ON_WORDS = ("0", "false", "no", "off"), ("1", "true", "yes", "on")
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_variants: tuple[str, ...] = ()  # the instruction sets whose kernels this CPU runs (once loaded)
_reason = "not loaded yet"
_tried = False
_off = 0  # nesting depth of disabled()
_threads = 0  # set_threads(); 0 = CHARSMITH_THREADS or the cores this process may use
# Threads only pay off for big enough calls (waking a worker and a barrier cost microseconds).
_MIN_WORK = _env_int("CHARSMITH_MIN_WORK", 1 << 19)  # B*H*G per step per extra thread
_MIN_MATMUL = _env_int("CHARSMITH_MIN_MATMUL", 1 << 22)  # M*N*K per extra thread
_MIN_ELEMENTS = 1 << 18  # scatter_cols and adam: elements per extra thread
_MIN_HEAD_COLS = 512  # head_xent: positions per extra thread
# The recurrence splits the batch between threads when each gets _MIN_COLS columns, else
# the hidden units (with a barrier per step); see run_split in kernels.c.
_MIN_COLS = _env_int("CHARSMITH_MIN_COLS", 64)
_SPLIT_UNITS = 1
_FORCE_SPLIT = _env_choice("CHARSMITH_SPLIT", ("batch", "units"))  # for tests and tuning
_ENV_THREADS = _env_int("CHARSMITH_THREADS", 0, low=0)  # 0: the usable cores
_ENV_NATIVE = _env_choice("CHARSMITH_NATIVE", _OFF_WORDS + _ON_WORDS)
_ENV_ISA = _env_choice("CHARSMITH_ISA", _library.VARIANTS)  # run a lesser instruction set's kernels
# The kernels' name suffixes by dtype, and the instruction set's (set when they load).
_SFX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}


def _load() -> None:
    global _lib, _reason, _tried, _variants
    _tried = True
    for problem in _ENV_PROBLEMS:
        warnings.warn(problem, CharsmithWarning, stacklevel=2)
    if _ENV_NATIVE in _OFF_WORDS:
        _reason = f"turned off by CHARSMITH_NATIVE={os.environ['CHARSMITH_NATIVE'].strip()}"
        return
    loaded, why = _library.load()
    if loaded is None:
        _reason = why
        return
    isa = loaded.best
    if _ENV_ISA in loaded.variants:
        isa = _ENV_ISA
    elif _ENV_ISA:
        warnings.warn(f"CHARSMITH_ISA={_ENV_ISA} is not run by this CPU; using {isa}", CharsmithWarning, stacklevel=2)
    _lib, _variants = loaded.lib, loaded.variants
    _use_variant(isa)
    problem = _self_test()
    if problem:
        _lib, _reason = None, f"self-test against the NumPy loop failed ({problem})"
    else:
        _reason = f"compiled kernels in use ({isa})"


def _use_variant(isa: str) -> None:
    """Call the kernels compiled for instruction set ``isa`` from now on (tests, benchmarks)."""
    for dtype, sfx in ((np.float32, "_f32_"), (np.float64, "_f64_")):
        _SFX[np.dtype(dtype)] = sfx + isa


def _self_test() -> str:
    """Run every kernel and the NumPy loop on one small float64 problem; '' if they agree."""
    from charsmith.nn import layer  # late: layer imports this module

    rng = np.random.default_rng(0)
    T, B, H = 3, 5, 4
    for cell in layer.CELLS:
        p = layer.init_params(cell, 2, H, rng, np.float64)
        G = p["W_hh"].shape[1]
        xp = rng.standard_normal((G, T, B))
        state = layer.zero_state(cell, B, H, np.float64)
        state = tuple(s + rng.standard_normal(s.shape) for s in state)
        dhs = rng.standard_normal((H, T, B))
        results = []
        for use_native in (True, False):
            with contextlib.ExitStack() as stack:
                if not use_native:
                    stack.enter_context(disabled())
                hs, st, cache = layer.recur_forward(cell, p, xp, state)
                dxp, d0, g = layer.recur_backward(cell, p, dhs, st, cache)
            results.append([hs, *st, dxp, *d0, *g.values()])
        for a, b in zip(*results):
            if not np.allclose(a, b, rtol=1e-9, atol=1e-12):
                return f"{cell} differs by {np.max(np.abs(a - b)):.3g}"
    return ""


def available() -> bool:
    """True when the compiled kernels are built, loaded, checked and not turned off."""
    if _off:
        return False
    if not _tried:
        with _lock:
            if not _tried:
                _load()
    return _lib is not None


def status() -> str:
    """One line: whether the compiled kernels are in use, or why not."""
    if _off:
        return "turned off (charsmith.nn.native.disabled)"
    available()
    return _reason


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Inside the block, layers use their NumPy loop (for tests and benchmarks)."""
    global _off
    _off += 1
    try:
        yield
    finally:
        _off -= 1


@contextlib.contextmanager
def blas_on_one_thread() -> Iterator[None]:
    """Inside the block, this thread's own BLAS calls stay on one thread, whatever the BLAS
    was given (OPENBLAS_NUM_THREADS): the kernels bring their own threads, and two levels of
    threads fight for the cores (measured: 2x slower training). Restored on exit; other
    threads are untouched. Without the kernels, or a BLAS with no per-thread setting, a no-op."""
    previous = _lib.cs_blas_local_threads(1) if available() else -1  # type: ignore[union-attr]
    try:
        yield
    finally:
        if previous > 0:
            _lib.cs_blas_local_threads(previous)  # type: ignore[union-attr]


def set_threads(n: int) -> None:
    """How many threads the compiled kernels may use (the caller's included); 0 = the default."""
    global _threads
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"threads must be a non-negative integer (0 = automatic), got {n!r}")
    _threads = n


def threads_setting() -> int:
    """What :func:`set_threads` last set (0 = the default)."""
    return _threads


def threads() -> int:
    """The thread budget: set_threads(), else $CHARSMITH_THREADS, else the usable cores."""
    return _threads or _default_threads()


@functools.lru_cache(maxsize=1)
def _default_threads() -> int:
    if _ENV_THREADS:
        return _ENV_THREADS
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _threads_for(work: int) -> int:
    return max(1, min(threads(), work // _MIN_WORK))


def supports(dtype: np.dtype) -> bool:
    """Whether the kernels handle arrays of ``dtype`` (float32 and float64)."""
    return np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float64))


def recur_forward(cell: str, W_hh: np.ndarray, b_hn: np.ndarray | None, xp: np.ndarray,
                  S: list[np.ndarray], C: list[np.ndarray], ids: np.ndarray | None = None) -> None:  # fmt: skip
    """Run the recurrence, gate-major (see kernels_body.h): xp (G, T, B); fills S (hs, and cs
    for lstm, each (H, T+1, B) with step 0 set by the caller) and the caches C (rows, T, B).
    With ids (T, B) int64, xp is instead a table (G, n) and step t's input column b is
    xp[:, ids[t, b]] (id -1: the last column), gathered step by step. All arrays
    C-contiguous, of one dtype."""
    T, B = (ids.shape if ids is not None else xp.shape[1:])
    H = W_hh.shape[0]
    arrays = [W_hh] + ([b_hn] if b_hn is not None else []) + [xp, *S, *C]
    _call(f"{cell}_forward", xp.dtype, T, B, H, arrays, ids, xp.shape[1] if ids is not None else 0)


def recur_backward(cell: str, W_hh: np.ndarray, S: list[np.ndarray], C: list[np.ndarray],
                   dhs: np.ndarray, D: list[np.ndarray], carry: list[np.ndarray]) -> None:  # fmt: skip
    """Backward of :func:`recur_forward`: dhs (H, T, B) the gradient reaching hs[:, 1:];
    fills the per-step gradients D (rows, T, B) and turns carry (each (H, B), the final
    state's gradient) into the initial state's."""
    H, T, B = dhs.shape
    state = S[1] if cell == "lstm" else S[0]  # lstm needs c, the others h
    _call(f"{cell}_backward", dhs.dtype, T, B, H, [W_hh, state, *C, dhs, *D, *carry])


def _call(name: str, dtype: np.dtype, T: int, B: int, H: int, arrays: list[np.ndarray],
          ids: np.ndarray | None = None, ldt: int = 0) -> None:  # fmt: skip
    ptrs = (ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays))
    n = _threads_for(B * H * arrays[0].shape[1])  # arrays[0] is W_hh (H, G)
    mode = _SPLIT_UNITS if _FORCE_SPLIT == "units" or (_FORCE_SPLIT != "batch" and B < n * _MIN_COLS) else 0
    id_ptr = None if ids is None else ids.ctypes.data
    getattr(_lib, name + _SFX[np.dtype(dtype)])(T, B, H, n, mode, ptrs, id_ptr, ldt)


def _blas_layout(a: np.ndarray) -> tuple[int, int] | None:
    """(transposed, leading dimension) if the BLAS can read 2-D ``a`` in place, else None."""
    it = a.itemsize
    (s0, s1), (r, c) = a.strides, a.shape
    if s1 == it and s0 % it == 0 and s0 // it >= max(c, 1):
        return 0, s0 // it
    if s0 == it and s1 % it == 0 and s1 // it >= max(r, 1):
        return 1, s1 // it
    return None


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for 2-D arrays; when big enough and the kernels are in use, split over
    threads (each a single-threaded BLAS call on a block of rows or columns)."""
    M, K = a.shape
    N = b.shape[1]
    n = max(1, min(threads(), M * N * K // _MIN_MATMUL))
    if n < 2 or a.dtype != b.dtype or a.dtype not in _SFX or b.shape[0] != K or not available():
        return a @ b
    la, lb = _blas_layout(a), _blas_layout(b)
    if la is None or lb is None:
        return a @ b
    out = np.empty((M, N), dtype=a.dtype)
    m = (ctypes.c_int64 * 8)(la[0], lb[0], M, N, K, la[1], lb[1], N)
    p = (ctypes.c_void_p * 3)(a.ctypes.data, b.ctypes.data, out.ctypes.data)
    getattr(_lib, "matmul" + _SFX[a.dtype])(m, p, n)
    return out


def adam(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, mask: np.ndarray, *,
         step: float, b1: float, b2: float, eps: float, decay: float) -> bool:  # fmt: skip
    """One fused Adam update in place (see charsmith.optim.update), if the kernels are in use
    and all five arrays are contiguous with one dtype; returns whether it ran."""
    arrays = (p, g, m, v, mask)
    if p.dtype not in _SFX or not available():
        return False
    if any(a.dtype != p.dtype or a.size != p.size or not a.flags.c_contiguous for a in arrays):
        return False
    fn = getattr(_lib, "adam" + _SFX[p.dtype])
    nthreads = max(1, min(threads(), p.size // _MIN_ELEMENTS))
    fn(p.size, *(a.ctypes.data for a in arrays), step, b1, b2, eps, decay, nthreads)
    return True


def softmax_xent(logits: np.ndarray, targets: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """For logits (N, V), targets (N,) and weights w (N,), in one pass per row:
    nll = -log softmax[target] (0 where w == 0) and grad = w * (softmax - onehot(target)).
    None unless the kernels are in use and logits is a contiguous float array."""
    if logits.dtype not in _SFX or not logits.flags.c_contiguous or not available():
        return None
    N, V = logits.shape
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    w = np.ascontiguousarray(w, dtype=logits.dtype)
    grad, nll = np.empty_like(logits), np.empty(N, dtype=logits.dtype)
    fn = getattr(_lib, "xent" + _SFX[logits.dtype])
    if fn(N, V, *(a.ctypes.data for a in (logits, targets, w, grad, nll))) != 0:
        return None  # out of memory for its scratch block: let NumPy try
    return nll, grad


def scatter_cols(idx: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray | None:
    """out (D, n+1) with out[:, v] = sum of cols[:, k] where idx[k] == v, idx -1 summed in the
    last column; cols (D, N). None unless the kernels are in use and cols is contiguous."""
    if cols.dtype not in _SFX or not cols.flags.c_contiguous or not available():
        return None
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    D, N = cols.shape
    out = np.empty((D, n + 1), dtype=cols.dtype)
    nthreads = max(1, min(threads(), cols.size // _MIN_ELEMENTS))
    fn = getattr(_lib, "scatter_cols" + _SFX[cols.dtype])
    fn(D, N, n + 1, idx.ctypes.data, cols.ctypes.data, out.ctypes.data, nthreads)
    return out


def head_xent(y: np.ndarray, W_out: np.ndarray, b_out: np.ndarray, targets: np.ndarray,
              w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:  # fmt: skip
    """The output layer and its weighted cross-entropy, forward and backward in one pass over
    the N columns of y (H, N): with z = W_out.T @ y + b_out (V, N) and g = w * (softmax(z)
    - onehot(targets)), returns (nll (N,), dW_out = y @ g.T, db_out = g summed, dy = W_out @ g).
    nll is 0 where w is. None unless the kernels are in use and y's rows are BLAS-readable."""
    dtype = W_out.dtype
    layout = _blas_layout(y) if y.ndim == 2 else None
    if dtype not in _SFX or y.dtype != dtype or layout is None or layout[0] != 0 or not available():
        return None
    (H, N), V = y.shape, W_out.shape[1]
    W_out, b_out = np.ascontiguousarray(W_out), np.ascontiguousarray(b_out)
    targets = np.ascontiguousarray(targets, dtype=np.int64)
    w = np.ascontiguousarray(w, dtype=dtype)
    nll, dWb, dy = np.empty(N, dtype), np.empty(H * V + V, dtype), np.empty((H, N), dtype)
    nthreads = max(1, min(threads(), N // _MIN_HEAD_COLS))
    parts = np.empty(nthreads * (H * V + V), dtype)  # each thread's dW_out, db_out
    arrays = (W_out, b_out, targets, w, nll, dWb, dy, parts)
    fn = getattr(_lib, "head_xent" + _SFX[dtype])
    fn(N, H, V, y.ctypes.data, layout[1], *(a.ctypes.data for a in arrays), nthreads)
    return nll, dWb[: H * V].reshape(H, V), dWb[H * V :], dy


_GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def cell_step(cell: str, p: dict[str, np.ndarray], xp: np.ndarray,
              state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...] | None:  # fmt: skip
    """One batch-major timestep without a cache (the cells' ``step``): xp (B, G), state
    (h,) or (h, c), each (B, H) -> the new state. None unless the kernels are in use and
    all arrays share a supported dtype."""
    W = p["W_hh"]
    if W.dtype not in _SFX or xp.dtype != W.dtype or any(s.dtype != W.dtype for s in state) or not available():
        return None
    B, H = state[0].shape
    new = tuple(np.empty((B, H), W.dtype) for _ in state)
    lstm = cell == "lstm"
    arrays = [W, p["b_hn"] if cell == "gru" else None, xp, state[0], state[1] if lstm else None,
              new[0], new[1] if lstm else None]  # fmt: skip
    arrays = [None if a is None else np.ascontiguousarray(a) for a in arrays]  # kept alive for the call
    ptrs = (ctypes.c_void_p * 7)(*(None if a is None else a.ctypes.data for a in arrays))
    nthreads = max(1, min(threads(), B * H * W.shape[1] // _MIN_MATMUL))
    getattr(_lib, "cell_step" + _SFX[W.dtype])(B, H, _GATES[cell], ptrs, nthreads)
    return new
