"""The engine and its environment: nothing is built, cached or written at run time, a library
planted where other users can write never runs, and tuning variables that cannot be read
are reported in one line instead of a traceback. Each case runs the CLI in a new process,
since the variables are read and the kernels loaded once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import has_compiler, plant_library

from charsmith import backend

TUNING = {  # variable: the warning for a value that cannot be read
    "CHARSMITH_MIN_WORK": "is not a positive integer",
    "CHARSMITH_MIN_MATMUL": "is not a positive integer",
    "CHARSMITH_MIN_COLS": "is not a positive integer",
    "CHARSMITH_THREADS": "is not an integer >= 0",
    "CHARSMITH_SPLIT": "is not one of batch, units",
    "CHARSMITH_NATIVE": "is not one of 0, false, no, off, 1, true, yes, on",
    "CHARSMITH_ISA": "is not one of base, avx2, avx512",
}


def charsmith(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in TUNING and k != "CHARSMITH_CACHE_DIR"}
    return subprocess.run([sys.executable, "-m", "charsmith", *args], check=False, capture_output=True, text=True,
                          env={**full, **(env or {})}, timeout=300)  # fmt: skip


@pytest.mark.parametrize("name", sorted(TUNING))
def test_a_tuning_variable_that_cannot_be_read_is_ignored_with_a_one_line_warning(name: str) -> None:
    proc = charsmith("info", "dinosaurs", env={name: "abc"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    proc = charsmith("sample", "dinosaurs", "-n", "3", "--seed", "1", env={name: "abc"})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stdout.splitlines()) == 3
    assert proc.stderr.splitlines() == [f"charsmith: warning: {name}='abc' {TUNING[name]}; ignored"
                                        + (", using the default" if "integer" in TUNING[name] else "")]  # fmt: skip


def test_a_home_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    """Nothing is written at run time: not under HOME, the cache folder or the temp folder."""
    home, tmp = tmp_path / "nonexistent", tmp_path / "tmp"
    tmp.mkdir()
    env = {"HOME": str(home), "TMPDIR": str(tmp), "XDG_CACHE_HOME": ""}
    for args in (("sample", "dinosaurs", "-n", "3", "--seed", "1"), ("info", "--engine")):
        proc = charsmith(*args, env=env)
        assert not home.exists()
        assert not list(tmp.iterdir())
        assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(not has_compiler(), reason="needs a C compiler to build the library it plants")
def test_a_library_planted_in_a_shared_folder_never_runs(tmp_path: Path) -> None:
    """Point every folder charsmith might cache a library in at one that any user can write,
    let charsmith run once, replace every library it left there with a planted one (owned by
    another user, where the tests run as root), and run again: the planted code never runs."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    env = {"HOME": str(shared), "TMPDIR": str(shared), "XDG_CACHE_HOME": str(shared), "CHARSMITH_CACHE_DIR": str(shared)}
    sample = ("sample", "dinosaurs", "-n", "3", "--seed", "1")
    assert charsmith(*sample, env=env).returncode == 0
    marker = tmp_path / "planted-code-ran"
    for left in [p for p in shared.rglob("*") if p.is_file() and p.suffix in (".so", ".dylib")]:
        plant_library(left, marker)
        if os.geteuid() == 0:
            os.chown(left, 65534, 65534)  # nobody
            os.chown(left.parent, 65534, 65534)
    proc = charsmith(*sample, env=env)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "charsmith loaded a library planted in a folder others can write"
    assert not list(shared.iterdir()), "charsmith wrote files at run time"


def test_info_engine_says_which_engine_runs() -> None:
    be = backend.default()
    proc = charsmith("info", "--engine")
    assert proc.returncode == 0, proc.stderr
    if be.compiled:
        assert proc.stdout == f"engine: {be.status}, {be.threads} threads\n"
        assert be.status.startswith("compiled kernels in use (")
    else:
        assert proc.stdout == f"engine: NumPy only: {be.status}\n"
    data = json.loads(charsmith("info", "--engine", "--json").stdout)
    assert data == {"compiled": be.compiled, "status": be.status, "threads": be.threads}
    proc = charsmith("info", "--engine", env={"CHARSMITH_NATIVE": "0"})
    assert proc.stdout == "engine: NumPy only: turned off by CHARSMITH_NATIVE=0\n"
    proc = charsmith("info")
    assert proc.returncode == 2
    assert proc.stderr == "charsmith: error: info takes a model (a checkpoint directory or bundled model name) or --engine\n"


def test_threads_option_sets_the_budget_of_that_command_only(tmp_path: Path) -> None:
    """``--threads 1`` runs the command on a one-thread backend (the train header says so)
    and leaves the process's backend as it was (main() may run again in this process)."""
    import io

    from charsmith import cli

    be = backend.current()
    data = tmp_path / "names.txt"
    data.write_text("\n".join(["ab", "abc", "bca", "cab"] * 20) + "\n", encoding="utf-8")
    err = io.StringIO()
    code = cli.main(["train", str(data), "--out", str(tmp_path / "run"), "--steps", "2", "--hidden", "8",
                     "--threads", "1"], out=io.StringIO(), err=err)  # fmt: skip
    assert code == 0, err.getvalue()
    engine = next(line for line in err.getvalue().splitlines() if line.startswith("engine: "))
    assert engine == (f"engine: {be.status}, 1 threads" if be.compiled else f"engine: NumPy only: {be.status}")
    assert backend.current() is be
