"""Optional compiled recurrence: a layer's whole time loop in one C call.

:func:`charsmith.nn.layer.recur_forward` / ``recur_backward`` use it when it is available
and fall back to their NumPy loop otherwise; both write the same buffers, so everything
else is shared, and the tests run both. The C source (``kernels.c``, ``kernels_body.h``) ships
with the package and is compiled on first use with the system's C compiler (``$CC``, else
``cc``/``gcc``/``clang``) for this CPU, into a cache directory (``$CHARSMITH_CACHE_DIR``,
else ``$XDG_CACHE_HOME/charsmith``, else ``~/.cache/charsmith``), written atomically.
The recurrent matmuls call the BLAS NumPy itself loaded (its ``cblas_?gemm``), so there
is nothing to link and no new dependency. Before use, the kernels are checked once
against the NumPy loop on a small float64 problem.

``CHARSMITH_NATIVE=0`` turns it off; :func:`disabled` does so inside a ``with`` block.
:func:`status` says whether it is in use and, if not, why.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import glob
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = [
    "available", "status", "disabled", "supports", "set_threads", "threads",
    "recur_forward", "recur_backward", "matmul", "adam", "softmax_xent",
    "scatter_cols",
]  # fmt: skip

_HERE = Path(__file__).parent
_SOURCES = ("kernels.c", "kernels_body.h")
_FLAGS = (["-O3", "-march=native", "-fno-math-errno"], ["-O3", "-fno-math-errno"])  # 2nd: no -march=native
# (sgemm, dgemm, 64-bit integers): NumPy's wheels (scipy-openblas, ILP64), then common BLASes
_GEMMS = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
    ("cblas_sgemm64_", "cblas_dgemm64_", True),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False),
    ("cblas_sgemm", "cblas_dgemm", False),
)
_SUFFIX = {"win32": ".dll", "darwin": ".dylib"}.get(sys.platform, ".so")

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_reason = "not loaded yet"
_tried = False
_off = 0  # nesting depth of disabled()
_threads = 0  # set_threads(); 0 = CHARSMITH_THREADS or the cores this process may use
# Threads only pay off for big enough calls (waking a worker and a barrier cost microseconds).
_MIN_WORK = int(os.environ.get("CHARSMITH_MIN_WORK", 1 << 19))  # B*H*G per step per extra thread
_MIN_MATMUL = int(os.environ.get("CHARSMITH_MIN_MATMUL", 1 << 22))  # M*N*K per extra thread
# The recurrence splits the batch between threads when each gets _MIN_COLS columns, else
# the hidden units (with a barrier per step); see run_split in kernels.c.
_MIN_COLS = int(os.environ.get("CHARSMITH_MIN_COLS", 64))
_SPLIT_UNITS = 1
_FORCE_SPLIT = os.environ.get("CHARSMITH_SPLIT", "")


def _cache_dir() -> Path:
    env = os.environ.get("CHARSMITH_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "charsmith"


def _cpu_id() -> str:
    """What -march=native depends on: the CPU's model and flags (Linux), else the machine name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            lines = [ln for ln in f.read().splitlines()[:40] if ln.startswith(("model name", "flags"))]
        return "\n".join(lines)
    except OSError:
        return platform.machine() + platform.processor()


def _compile(cc: str, out: Path) -> str | None:
    """Build the library at ``out`` (atomically); None on success, else the compiler's complaint."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    err = ""
    for flags in _FLAGS:
        cmd = [cc, *flags, "-fPIC", "-shared", "-o", str(tmp), str(_HERE / "kernels.c"), "-lm"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as e:
            return f"{cc} failed to run: {e}"
        if proc.returncode == 0:
            os.replace(tmp, out)
            return None
        err = (proc.stderr.strip().splitlines() or ["no message"])[-1]
    with contextlib.suppress(OSError):
        tmp.unlink()
    return f"{cc} could not compile the kernels: {err}"


def _library_path() -> tuple[Path | None, str]:
    """The compiled library for this source, compiler and CPU, building it if needed."""
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None, "no C compiler found (install gcc or clang, or set CC)"
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((_HERE / name).read_bytes())
    h.update(repr((cc, _FLAGS, sys.platform, _cpu_id())).encode())
    name = f"kernels-{h.hexdigest()[:16]}{_SUFFIX}"
    for d in (_cache_dir(), Path(tempfile.gettempdir()) / f"charsmith-{os.getuid() if hasattr(os, 'getuid') else 0}"):
        path = d / name
        if path.exists():
            return path, ""
        try:
            err = _compile(cc, path)
        except OSError:  # directory not writable: try the next one
            continue
        return (None, err) if err else (path, "")
    return None, "no writable cache directory (set CHARSMITH_CACHE_DIR)"


def _blas_candidates() -> list[str]:
    """Shared libraries that may be NumPy's BLAS: its wheel's bundled copy, then what is loaded."""
    base = Path(np.__file__).parent
    found = []
    for pattern in ("../numpy.libs/*blas*", "../numpy.libs/*mkl*", ".dylibs/*blas*"):
        found += sorted(glob.glob(str(base / pattern)))
    with contextlib.suppress(OSError):
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                path = line.split()[-1]
                if ("blas" in path or "mkl" in path) and path.startswith("/") and path not in found:
                    found.append(path)
    return found


def _find_gemm() -> tuple[int, int, bool] | None:
    """Addresses of cblas_sgemm and cblas_dgemm in NumPy's BLAS, and whether they take int64."""
    for path in _blas_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s, d, ilp64 in _GEMMS:
            if hasattr(lib, s) and hasattr(lib, d):
                addr = [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in (s, d)]
                return addr[0], addr[1], ilp64  # type: ignore[return-value]
    return None


def _declare(lib: ctypes.CDLL) -> None:
    """The recurrence kernels take (T, B, H, nthreads, split mode, pointers[])."""
    for cell in ("rnn", "gru", "lstm"):
        for name in (f"{cell}_forward", f"{cell}_backward"):
            for sfx in ("_f32", "_f64"):
                fn = getattr(lib, name + sfx)
                fn.argtypes = [ctypes.c_int64] * 5 + [ctypes.POINTER(ctypes.c_void_p)]
                fn.restype = None
    for sfx in ("_f32", "_f64"):
        fn = getattr(lib, "xent" + sfx)
        fn.argtypes = [ctypes.c_int64] * 2 + [ctypes.c_void_p] * 5
        fn.restype = ctypes.c_int
        fn = getattr(lib, "scatter_cols" + sfx)
        fn.argtypes = [ctypes.c_int64] * 3 + [ctypes.c_void_p] * 3
        fn.restype = None
        fn = getattr(lib, "adam" + sfx)
        fn.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 5 + [ctypes.c_double] * 5
        fn.restype = None
        fn = getattr(lib, "matmul" + sfx)
        fn.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64]
        fn.restype = None


def _load() -> None:
    global _lib, _reason, _tried
    _tried = True
    if os.environ.get("CHARSMITH_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        _reason = "turned off by CHARSMITH_NATIVE=0"
        return
    gemm = _find_gemm()
    if gemm is None:
        _reason = "could not find NumPy's BLAS (cblas_sgemm) to call"
        return
    path, err = _library_path()
    if path is None:
        _reason = err
        return
    try:
        lib = ctypes.CDLL(str(path))
        _declare(lib)
    except (OSError, AttributeError) as e:
        _reason = f"could not load {path.name}: {e}"
        return
    if lib.cs_init(ctypes.c_void_p(gemm[0]), ctypes.c_void_p(gemm[1]), int(gemm[2])) != 0:
        _reason = "the BLAS gemm functions could not be set"
        return
    _lib = lib
    problem = _self_test()
    if problem:
        _lib, _reason = None, f"self-test against the NumPy loop failed ({problem})"
    else:
        _reason = f"compiled kernels in use ({path.name})"


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


def set_threads(n: int) -> None:
    """Threads the compiled recurrence may use (each takes a block of the batch); 0 = default."""
    global _threads
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"threads must be a non-negative integer (0 = automatic), got {n!r}")
    _threads = n


def threads() -> int:
    """The thread budget: set_threads(), else $CHARSMITH_THREADS, else the usable cores."""
    return _threads or _default_threads()


@functools.lru_cache(maxsize=1)
def _default_threads() -> int:
    env = os.environ.get("CHARSMITH_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


_SFX = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}


def _threads_for(work: int) -> int:
    return max(1, min(threads(), work // _MIN_WORK))


def _call(name: str, dtype: np.dtype, T: int, B: int, H: int, ptrs: list[int]) -> None:
    sfx = {np.dtype(np.float32): "_f32", np.dtype(np.float64): "_f64"}[np.dtype(dtype)]
    n = _threads_for(T * B * H * H)
    getattr(_lib, name + sfx)(T, B, H, n, (ctypes.c_void_p * len(ptrs))(*ptrs))


def supports(dtype: np.dtype) -> bool:
    """Whether the kernels handle arrays of ``dtype`` (float32 and float64)."""
    return np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float64))


def recur_forward(cell: str, W_hh: np.ndarray, b_hn: np.ndarray | None, xp: np.ndarray,
                  S: list[np.ndarray], C: list[np.ndarray]) -> None:  # fmt: skip
    """Run the recurrence, gate-major (see kernels_body.h): xp (G, T, B); fills S (hs, and cs
    for lstm, each (H, T+1, B) with step 0 set by the caller) and the caches C (rows, T, B).
    All arrays C-contiguous, of one dtype."""
    _, T, B = xp.shape
    H = W_hh.shape[0]
    ptrs = [W_hh] + ([b_hn] if b_hn is not None else []) + [xp, *S, *C]
    _call(f"{cell}_forward", xp.dtype, T, B, H, ptrs)


def recur_backward(cell: str, W_hh: np.ndarray, S: list[np.ndarray], C: list[np.ndarray],
                   dhs: np.ndarray, D: list[np.ndarray], carry: list[np.ndarray]) -> None:  # fmt: skip
    """Backward of :func:`recur_forward`: dhs (H, T, B) the gradient reaching hs[:, 1:];
    fills the per-step gradients D (rows, T, B) and turns carry (each (H, B), the final
    state's gradient) into the initial state's."""
    H, T, B = dhs.shape
    state = S[1] if cell == "lstm" else S[0]  # lstm needs c, the others h
    _call(f"{cell}_backward", dhs.dtype, T, B, H, [W_hh, state, *C, dhs, *D, *carry])


def _call(name: str, dtype: np.dtype, T: int, B: int, H: int, arrays: list[np.ndarray]) -> None:
    ptrs = (ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays))
    n = _threads_for(B * H * arrays[0].shape[1])  # arrays[0] is W_hh (H, G)
    mode = _SPLIT_UNITS if _FORCE_SPLIT == "units" or (_FORCE_SPLIT != "batch" and B < n * _MIN_COLS) else 0
    getattr(_lib, name + _SFX[np.dtype(dtype)])(T, B, H, n, mode, ptrs)


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
    fn(p.size, *(a.ctypes.data for a in arrays), step, b1, b2, eps, decay)
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
    getattr(_lib, "scatter_cols" + _SFX[cols.dtype])(D, N, n + 1, idx.ctypes.data, cols.ctypes.data, out.ctypes.data)
    return out
