"""Loading the compiled kernels: the library built at install time, and NumPy's BLAS.

``pip install`` compiles ``kernels.c`` (with ``kernels_dtypes.h`` and ``kernels_body.h``)
into ``_kernels.so`` inside this package (see setup.py); nothing is compiled or written at
run time, and nothing is loaded from anywhere but the installed package. The library holds
the kernels once per instruction set (baseline, and on x86-64 also AVX2 + FMA and AVX-512);
``cs_isa()`` says which one this CPU runs. The kernels' matmuls call the BLAS NumPy itself
loaded: its ``cblas_?gemm`` is looked up among the libraries already in this process
(``RTLD_NOLOAD``: never a new one) and handed over as function pointers, so the kernels
link against no BLAS and no second BLAS is ever loaded.

Why a plain library and ctypes rather than a CPython extension module: it builds wherever a
C compiler is (no Python headers), one wheel serves every Python version, and the C stays
free of the Python API. The price is the glue: about 1 µs per array argument to take its
address, so about 10 µs for a one-row sampling step (a bare ctypes call is 0.3 µs); at
sampling's usual batches a step takes milliseconds.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["LIBRARY", "SOURCES", "VARIANTS", "Loaded", "load", "source_hash"]

_HERE = Path(__file__).parent
LIBRARY = _HERE / "_kernels.so"  # setup.py builds it under this name on every platform
SOURCES = ("kernels.c", "kernels_dtypes.h", "kernels_body.h")
VARIANTS = ("base", "avx2", "avx512")  # instruction sets, each running on a subset of the CPUs of the one before
REINSTALL = "reinstall charsmith where a C compiler is present (pip install -e . in a checkout)"

# (sgemm, dgemm, 64-bit integers): NumPy's wheels (scipy-openblas, ILP64), other OpenBLAS and
# MKL builds, Accelerate's new interface on macOS, then the plain CBLAS names.
_GEMMS = (
    ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", True),
    ("cblas_sgemm64_", "cblas_dgemm64_", True),
    ("cblas_sgemm$NEWLAPACK$ILP64", "cblas_dgemm$NEWLAPACK$ILP64", True),
    ("scipy_cblas_sgemm", "scipy_cblas_dgemm", False),
    ("cblas_sgemm", "cblas_dgemm", False),
)
# per-thread BLAS thread count setters: OpenBLAS >= 0.3.27 (NumPy's wheels), MKL
_LOCAL_THREADS = ("openblas_set_num_threads_local", "scipy_openblas_set_num_threads_local64_",
                  "mkl_set_num_threads_local")
_BLAS_NAMES = ("blas", "mkl", "accelerate", "veclib")  # a loaded library whose file name holds one of these


class Loaded:
    """The loaded library and the instruction set whose kernels this CPU runs."""

    def __init__(self, lib: ctypes.CDLL, best: str) -> None:
        self.lib = lib
        self.best = best  # the most capable variant this CPU runs
        self.variants = VARIANTS[: VARIANTS.index(best) + 1]


def source_hash(folder: Path = _HERE) -> str | None:
    """The hash setup.py compiles into the library, of the C sources in ``folder``, or
    None where they are not there."""
    h = hashlib.sha256()
    try:
        for name in SOURCES:
            h.update((folder / name).read_bytes())
    except OSError:
        return None
    return h.hexdigest()[:16]


def _loaded_libraries() -> list[str]:
    """Paths of the shared libraries this process has loaded (Linux and macOS)."""
    if sys.platform == "darwin":
        dyld = ctypes.CDLL("/usr/lib/libSystem.B.dylib")
        dyld._dyld_get_image_name.restype = ctypes.c_char_p
        dyld._dyld_get_image_name.argtypes = [ctypes.c_uint32]
        names = (dyld._dyld_get_image_name(i) for i in range(dyld._dyld_image_count()))
        return [n.decode(errors="replace") for n in names if n]
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                path = line.split(maxsplit=5)[-1].strip()
                if path.startswith("/") and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    return paths


def _find_gemm(paths: Sequence[str]) -> tuple[int, int, bool, int | None] | None:
    """Addresses of cblas_sgemm and cblas_dgemm in NumPy's BLAS, whether they take int64, and
    the address of its per-thread thread-count setter (or None)."""
    for path in paths:
        if not any(word in Path(path).name.lower() for word in _BLAS_NAMES):
            continue
        try:  # a handle on a library already loaded; RTLD_NOLOAD fails rather than load one
            lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
        except OSError:
            continue
        for s, d, ilp64 in _GEMMS:
            sgemm, dgemm = _address(lib, s), _address(lib, d)
            if sgemm and dgemm:
                local = next(filter(None, (_address(lib, n) for n in _LOCAL_THREADS)), None)
                return sgemm, dgemm, ilp64, local
    return None


def _address(lib: ctypes.CDLL, name: str) -> int | None:
    try:
        return ctypes.cast(lib[name], ctypes.c_void_p).value
    except AttributeError:
        return None


def _declare(lib: ctypes.CDLL) -> None:
    """Argument types of every variant's entry points. The recurrence kernels take
    (T, B, H, blocks, threads, split mode, pointers[], ids, ldt); every kernel that splits
    ends with (blocks, threads) (see run_split in kernels.c)."""
    lib.cs_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.cs_init.restype = ctypes.c_int
    lib.cs_blas_local_threads.argtypes = [ctypes.c_int]
    lib.cs_blas_local_threads.restype = ctypes.c_int
    lib.cs_isa.restype = lib.cs_variants.restype = lib.cs_source_hash.restype = ctypes.c_char_p
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    signatures: dict[str, tuple[list[Any], Any]] = {  # name: (argtypes, restype)
        **{f"{c}_{d}": ([i64] * 6 + [ctypes.POINTER(ptr), ptr, i64], None)
           for c in ("rnn", "gru", "lstm") for d in ("forward", "backward")},
        "xent": ([i64] * 2 + [ptr] * 5, ctypes.c_int),
        "cell_step": ([i64] * 3 + [ctypes.POINTER(ptr), i64, i64], None),
        "head_xent": ([i64] * 3 + [ptr, i64] + [ptr] * 8 + [i64, i64], None),
        "scatter_cols": ([i64] * 3 + [ptr] * 3 + [i64, i64], None),
        "adam": ([i64] + [ptr] * 5 + [ctypes.c_double] * 5 + [i64, i64], None),
        "matmul": ([ctypes.POINTER(i64), ctypes.POINTER(ptr), i64, i64], None),
    }
    for isa in lib.cs_variants().decode().split():
        for name, (args, res) in signatures.items():
            for dtype in ("f32", "f64"):
                fn = getattr(lib, f"{name}_{dtype}_{isa}")  # cached on lib, unlike lib[name]
                fn.argtypes, fn.restype = args, res


def load(path: Path = LIBRARY) -> tuple[Loaded | None, str]:
    """(the loaded library, "") or (None, why not)."""
    if not path.is_file():
        return None, f"the compiled kernels were not built when charsmith was installed; {REINSTALL}"
    gemm = _find_gemm(_loaded_libraries())
    if gemm is None:
        return None, "could not find NumPy's BLAS (cblas_sgemm) among the loaded libraries"
    try:
        lib = ctypes.CDLL(str(path))
        _declare(lib)
    except (OSError, AttributeError) as e:
        return None, f"could not load {path.name}: {e}; {REINSTALL}"
    built_from, sources = lib.cs_source_hash().decode(), source_hash(path.parent)
    if sources is not None and built_from != sources:
        return None, f"{path.name} was built from other C sources than the ones beside it; {REINSTALL}"
    if lib.cs_init(gemm[0], gemm[1], int(gemm[2]), gemm[3]) != 0:
        return None, "the BLAS gemm functions could not be set"
    return Loaded(lib, lib.cs_isa().decode()), ""
