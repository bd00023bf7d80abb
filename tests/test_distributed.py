"""torchrun + DistributedDataParallel on gloo (the CPU): two processes train as one.

Each test starts real processes: ``python -m torch.distributed.run --nproc-per-node 2 -m
charsmith train ...`` (torchrun), or, to give two processes different working directories,
the processes themselves with torchrun's environment variables.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import PACKAGE_ROOT, make_names

from charsmith import load

torch = pytest.importorskip("torch", reason="torchrun and DDP need PyTorch (pip install torch)")
if not torch.distributed.is_available():
    pytest.skip("this PyTorch build has no torch.distributed", allow_module_level=True)

DDP_ATOL = 1e-6  # float32 rounding: the two halves of the batch are summed by DDP, not by one matmul
COMMON = ["--engine", "torch", "--model", "lstm", "--layers", "2", "--hidden", "24", "--embed", "8",
          "--dropout", "0.2", "--batch-size", "16", "--seq-len", "16", "--eval-every", "10", "--quiet"]


def env() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return {**clean, "PYTHONPATH": PACKAGE_ROOT, "OMP_NUM_THREADS": "1"}


def torchrun(args: list[str], cwd: Path, n: int = 2) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n),
           "-m", "charsmith", *args]
    return subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def charsmith(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "charsmith", *args], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=600)


def data(tmp_path: Path, mode: str) -> Path:
    path = tmp_path / f"{mode}.txt"
    names = make_names(400, seed=5)
    path.write_text(("\n".join(names) if mode == "lines" else " ".join(names)) + "\n", encoding="utf-8")
    return path


def saved(out: Path) -> dict[str, np.ndarray]:
    with np.load(out / "resume.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files if k != "state"}


@pytest.mark.parametrize("mode", ["lines", "text"])
def test_two_processes_match_one(tmp_path: Path, mode: str) -> None:
    """The same weights, optimiser state and carried text state after 20 steps (dropout on:
    the masks are drawn for the global batch)."""
    file = data(tmp_path, mode)
    args = ["train", str(file), "--mode", mode, "--steps", "20", *COMMON]
    p = torchrun([*args, "--out", "two"], tmp_path)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-2000:]
    one = charsmith([*args, "--out", "one"], tmp_path)
    assert one.returncode == 0, one.stderr
    a, b = saved(tmp_path / "one"), saved(tmp_path / "two")
    assert a.keys() == b.keys()
    if mode == "text":
        assert any(k.startswith("carry/") for k in a)
    worst = max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert worst < DDP_ATOL, worst
    assert load(tmp_path / "two").ckpt.info["engine"] == "torch cpu, 2 processes (DDP)"


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's processes through /proc (Linux)")
def test_killed_process_stops_the_run_and_it_resumes(tmp_path: Path) -> None:
    file = data(tmp_path, "text")
    args = ["train", str(file), "--mode", "text", *COMMON, "--eval-every", "5", "--out", "run"]
    p = torchrun([*args, "--steps", "100000"], tmp_path)
    out = tmp_path / "run"
    deadline = time.monotonic() + 300
    while not (out / "resume.npz").exists() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert (out / "resume.npz").exists(), p.communicate()[1][-2000:]
    lead = int(__import__("json").loads((out / "charsmith.lock").read_text())["pid"])
    launcher = int(Path(f"/proc/{lead}/stat").read_text().rsplit(")", 1)[1].split()[1])
    others = [c for c in children(launcher) if c != lead]
    assert len(others) == 1
    os.kill(others[0], 9)
    _, err = p.communicate(timeout=300)
    assert p.returncode != 0
    lines = [ln for ln in err.splitlines() if ln.startswith("charsmith: error:")]
    assert lines and "another process of this torchrun run stopped" in lines[0] and "--resume" in lines[0], err[-3000:]
    before = load(out)  # the last checkpoint loads
    step = __import__("json").loads(np.load(out / "resume.npz")["state"].tobytes())["step"]
    p = torchrun([*args, "--resume", "--steps", str(step + 10)], tmp_path)
    _, err = p.communicate(timeout=600)
    assert p.returncode == 0, "\n".join(ln for ln in err.splitlines() if not ln.startswith(("W1", "E1")))[:4000]
    after = __import__("json").loads(np.load(out / "resume.npz")["state"].tobytes())["step"]
    assert after == step + 10
    assert before.ckpt.model == load(out).ckpt.model


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_directory_not_shared(tmp_path: Path) -> None:
    """Two processes whose --out (the same relative path) are different directories, as on
    two machines without a shared file system: one line, exit 2, and no run written."""
    file = data(tmp_path, "lines")
    port, procs = free_port(), []
    for rank in range(2):
        cwd = tmp_path / f"machine{rank}"
        cwd.mkdir()
        e = {**env(), "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
             "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, "-m", "charsmith", "train", str(file), "--out", "run",
                                       "--steps", "5", *COMMON], cwd=cwd, env=e, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [2, 2]
    assert results[1][1] == ""  # rank 1 leaves the report to rank 0
    err = results[0][1]
    assert err.count("\n") == 1 and "is not shared by all the processes" in err, err
    assert not (tmp_path / "machine0" / "run" / "config.json").exists()
