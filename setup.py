"""Build charsmith's optional compiled kernels at install time.

The kernels are one C file (src/charsmith/backend/kernels.c, with its two headers) with no
dependencies and no Python API: it is built as a plain shared library,
``charsmith/backend/_kernels.so``, that charsmith loads with ctypes and hands NumPy's own
BLAS. A setuptools ``Extension`` builds it with the compiler Python was built with; where
none works the package installs without it and runs on NumPy (the build is optional).

No ``-march=native``: the library holds the kernels for the baseline instruction set and, on
x86-64, again for AVX2 + FMA and AVX-512 (target pragmas in kernels.c), picked at load time.
Since the library does not use the Python C API, the wheel serves every CPython >= 3.11
(tag ``py3-none-<platform>``).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_ext import build_ext

NATIVE = Path("src", "charsmith", "backend")
SOURCES = ("kernels.c", "kernels_dtypes.h", "kernels_body.h")  # as charsmith.backend._library.SOURCES
# After Python's own CFLAGS: -fno-trapping-math lets the gate loops' clamps and branches
# become vector selects (the kernels use no floating-point traps; without it only AVX-512's
# masks vectorised them), -fno-wrapv undoes Python's -fwrapv (which blocks some loop
# optimisations; the kernels need no wrapping), -g0 keeps debug info out of the wheel.
COMPILE_ARGS = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-fno-wrapv", "-g0", "-pthread"]


def source_hash() -> str:
    """What the loader compares with the sources installed beside the library."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update((NATIVE / name).read_bytes())
    return h.hexdigest()[:16]


class OptionalBuildExt(build_ext):
    """Build the kernels if this machine can; if not, warn and install without them."""

    def get_ext_filename(self, fullname: str) -> str:
        return os.path.join(*fullname.split(".")) + ".so"  # no ABI tag: the library uses no Python API

    def run(self) -> None:
        try:
            super().run()
        except Exception as e:  # noqa: BLE001  (no compiler, or it failed: install without the kernels)
            print(f"charsmith: warning: the compiled kernels were not built ({e}); "
                  "charsmith will run on NumPy alone", file=sys.stderr)


class PlatformWheel(bdist_wheel):
    """Tag the wheel py3-none-<platform>: one wheel per platform for every Python version."""

    def get_tag(self) -> tuple[str, str, str]:
        return "py3", "none", super().get_tag()[2]


kernels = Extension(
    "charsmith.backend._kernels",
    sources=[str(NATIVE / "kernels.c")],
    depends=[str(NATIVE / name) for name in SOURCES],
    define_macros=[("CS_SOURCE_HASH", f'"{source_hash()}"')],
    extra_compile_args=COMPILE_ARGS,
    extra_link_args=["-pthread"],
    libraries=["m"],
)

setup(ext_modules=[kernels], cmdclass={"build_ext": OptionalBuildExt, "bdist_wheel": PlatformWheel})
