"""The package as users get it: ``python -m build`` makes an sdist and a wheel (built from the
sdist); the wheel, installed in a fresh venv with no C compiler on PATH, trains and samples
on the compiled kernels; the sdist, installed without a compiler, still installs and runs
on NumPy, saying why.

Slow (a build and two venvs, about a minute or two, mostly pip): marked ``wheel``, left out
of the default run and run by .ci/run (``python -m pytest -m wheel tests/test_wheel.py``).
Needs the ``build`` package (the ``test`` extra) and access to a package index for NumPy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import has_compiler, make_names

pytestmark = pytest.mark.wheel
REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str | Path], **kw: object) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True, timeout=900, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not has_compiler():
        pytest.skip("no C compiler on this machine to build the wheel with")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, REPO])
    return out


def fresh_venv(where: Path) -> tuple[Path, dict[str, str]]:
    """A venv of its own (no system packages) and an environment whose PATH holds only
    that venv's bin folder: no cc, gcc or clang, and CC unset."""
    run([sys.executable, "-m", "venv", where])
    bin_dir = where / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "PYTHONPATH") and not k.startswith("CHARSMITH_")}
    env.update(PATH=str(bin_dir), PIP_DISABLE_PIP_VERSION_CHECK="1")
    for cc in ("cc", "gcc", "clang"):
        assert shutil.which(cc, path=env["PATH"]) is None
    return bin_dir, env


def test_the_wheel_runs_compiled_without_a_compiler(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    assert "-py3-none-" in wheel.name  # the library uses no Python API: one wheel for every Python
    with zipfile.ZipFile(wheel) as z:
        assert "charsmith/backend/_kernels.so" in z.namelist()
        assert {f"charsmith/web/static/{f}" for f in ("index.html", "app.js", "style.css")} <= set(z.namelist())
    bin_dir, env = fresh_venv(tmp_path / "venv")
    run([bin_dir / "python", "-m", "pip", "install", "--quiet", wheel], env=env)
    info = run([bin_dir / "charsmith", "info", "--engine"], env=env, cwd=tmp_path)
    assert info.stdout.startswith("engine: compiled kernels in use ("), info.stdout
    names = tmp_path / "names.txt"
    names.write_text("\n".join(make_names(200)) + "\n", encoding="utf-8")
    train = run([bin_dir / "charsmith", "train", names, "--steps", "20", "--hidden", "32", "--out", tmp_path / "run"],
                env=env, cwd=tmp_path)  # fmt: skip
    assert "engine: compiled kernels in use (" in train.stderr, train.stderr
    sample = run([bin_dir / "charsmith", "sample", tmp_path / "run", "-n", "3", "--seed", "1", "--allow-known"],
                 env=env, cwd=tmp_path)  # fmt: skip
    assert len(sample.stdout.splitlines()) == 3


def test_the_sdist_installs_without_a_compiler_and_runs_on_numpy(dist: Path, tmp_path: Path) -> None:
    (sdist,) = dist.glob("*.tar.gz")
    bin_dir, env = fresh_venv(tmp_path / "venv")
    install = run([bin_dir / "python", "-m", "pip", "install", "-v", sdist], env=env)
    assert "charsmith: warning: the compiled kernels were not built" in install.stdout + install.stderr
    info = run([bin_dir / "charsmith", "info", "--engine"], env=env, cwd=tmp_path)
    assert info.stdout == ("engine: NumPy only: the compiled kernels were not built when charsmith was installed; "
                           "reinstall charsmith where a C compiler is present (pip install -e . in a checkout)\n")  # fmt: skip
    sample = run([bin_dir / "charsmith", "sample", "dinosaurs", "-n", "3", "--seed", "1"], env=env, cwd=tmp_path)
    assert len(sample.stdout.splitlines()) == 3
