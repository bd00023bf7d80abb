"""Building and loading the compiled kernels: compiler, cache, and NumPy's BLAS.

The C source (``kernels.c``, ``kernels_body.h``) ships with the package and is compiled on
first use with the system's C compiler (``$CC``, else ``cc``/``gcc``/``clang``) for this
CPU, into a cache directory (``$CHARSMITH_CACHE_DIR``, else ``$XDG_CACHE_HOME/charsmith``,
else ``~/.cache/charsmith``), written atomically and named by a hash of the source, the
compiler and the CPU. The kernels' matmuls call the BLAS NumPy itself loaded (its
``cblas_?gemm``, found here and handed over as function pointers), so there is nothing to
link and no new dependency.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

__all__ = ["load"]

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


# per-thread BLAS thread count setters: OpenBLAS >= 0.3.27 (NumPy's wheels), MKL
_LOCAL_THREADS = ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local64_", "mkl_set_num_threads_local")


def _find_gemm() -> tuple[int, int, bool, int | None] | None:
    """Addresses of cblas_sgemm and cblas_dgemm in NumPy's BLAS, whether they take int64, and
    the address of its per-thread thread-count setter (or None)."""
    for path in _blas_candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for s, d, ilp64 in _GEMMS:
            if hasattr(lib, s) and hasattr(lib, d):
                addr = [ctypes.cast(getattr(lib, n), ctypes.c_void_p).value for n in (s, d)]
                local = next((ctypes.cast(getattr(lib, n), ctypes.c_void_p).value
                              for n in _LOCAL_THREADS if hasattr(lib, n)), None)  # fmt: skip
                return addr[0], addr[1], ilp64, local  # type: ignore[return-value]
    return None


def _declare(lib: ctypes.CDLL) -> None:
    """The recurrence kernels take (T, B, H, nthreads, split mode, pointers[], ids, ldt)."""
    lib.cs_blas_local_threads.argtypes = [ctypes.c_int]
    lib.cs_blas_local_threads.restype = ctypes.c_int
    for cell in ("rnn", "gru", "lstm"):
        for name in (f"{cell}_forward", f"{cell}_backward"):
            for sfx in ("_f32", "_f64"):
                fn = getattr(lib, name + sfx)
                fn.argtypes = [ctypes.c_int64] * 5 + [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_int64]
                fn.restype = None
    for sfx in ("_f32", "_f64"):
        fn = getattr(lib, "xent" + sfx)
        fn.argtypes = [ctypes.c_int64] * 2 + [ctypes.c_void_p] * 5
        fn.restype = ctypes.c_int
        fn = getattr(lib, "cell_step" + sfx)
        fn.argtypes = [ctypes.c_int64] * 3 + [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64]
        fn.restype = None
        fn = getattr(lib, "head_xent" + sfx)
        fn.argtypes = [ctypes.c_int64] * 3 + [ctypes.c_void_p, ctypes.c_int64] + [ctypes.c_void_p] * 8 + [ctypes.c_int64]
        fn.restype = None
        fn = getattr(lib, "scatter_cols" + sfx)
        fn.argtypes = [ctypes.c_int64] * 3 + [ctypes.c_void_p] * 3 + [ctypes.c_int64]
        fn.restype = None
        fn = getattr(lib, "adam" + sfx)
        fn.argtypes = [ctypes.c_int64] + [ctypes.c_void_p] * 5 + [ctypes.c_double] * 5 + [ctypes.c_int64]
        fn.restype = None
        fn = getattr(lib, "matmul" + sfx)
        fn.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_void_p), ctypes.c_int64]
        fn.restype = None


def load() -> tuple[ctypes.CDLL | None, str]:
    """(the loaded library, "its file name"), or (None, why not)."""
    gemm = _find_gemm()
    if gemm is None:
        return None, "could not find NumPy's BLAS (cblas_sgemm) to call"
    path, err = _library_path()
    if path is None:
        return None, err
    try:
        lib = ctypes.CDLL(str(path))
        _declare(lib)
    except (OSError, AttributeError) as e:
        return None, f"could not load {path.name}: {e}"
    if lib.cs_init(ctypes.c_void_p(gemm[0]), ctypes.c_void_p(gemm[1]), int(gemm[2]), ctypes.c_void_p(gemm[3])) != 0:
        return None, "the BLAS gemm functions could not be set"
    return lib, path.name
