"""Shared helpers for the benchmark scripts: paths, argument parsing, worker processes.

Each side of a comparison runs in its own child process (``worker.py``), so it gets its own
environment (``OPENBLAS_NUM_THREADS``, torch threads), nothing one side leaves behind
(spinning OpenMP threads, allocator state) slows the other, and ``ru_maxrss`` is per side.
The parent alternates the sides A B A B on the same batches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_DATA_DIR = REPO.parent / "shared" / "data"  # the project's shared data, never copied here


def parser(doc: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--data-dir", default=None, help="directory holding makemore_names.txt (default: <repo>/../shared/data)")
    ap.add_argument("--seconds", type=float, default=1.5, help="seconds per side per round (default 1.5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    return ap


def command_line() -> str:
    """The command that is running, repo-relative, for the results file."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(REPO)
    except ValueError:
        pass
    return " ".join(["python", str(script), *sys.argv[1:]])


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(payload, indent=1, default=str) + "\n", encoding="utf-8")


def write_section(results: Path, heading: str, lines: list[str]) -> None:
    """Replace the top-level section ``heading`` ("# ...") of the results file, from that line
    to the next top-level heading, by ``lines`` (or add them at the end); atomically. run_all.py
    keeps the top-level sections after its own."""
    old = results.read_text(encoding="utf-8").splitlines() if results.is_file() else ["# charsmith benchmark results"]
    start = next((i for i, ln in enumerate(old) if ln == heading), len(old))
    end = next((i for i in range(start + 1, len(old)) if old[i].startswith("# ")), len(old))
    new = old[:start] + (lines if start < len(old) else ["", *lines]) + old[end:]
    tmp = results.with_suffix(".md.tmp")
    tmp.write_text("\n".join(new).rstrip("\n") + "\n", encoding="utf-8")
    tmp.replace(results)


class Worker:
    """A ``worker.py`` child speaking one JSON object per line each way."""

    def __init__(self, side: str, *, blas_threads: int = 1, data_dir: str | None = None,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        env = dict(os.environ, **(env or {}), OPENBLAS_NUM_THREADS=str(blas_threads), MKL_NUM_THREADS=str(blas_threads))
        if side == "torch":  # torch sets its own thread count (torch.set_num_threads); MKL must not be pinned
            env.pop("MKL_NUM_THREADS", None)
        cmd = [sys.executable, str(HERE / "worker.py"), side]
        if data_dir:
            cmd += ["--data-dir", str(data_dir)]
        self.side = side
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"worker {self.side} died (exit {self.proc.wait()})")
        msg = json.loads(line)
        if "error" in msg:
            raise RuntimeError(f"worker {self.side}: {msg['error']}")
        return msg

    def __call__(self, op: str, **kw: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps({"op": op, **kw}) + "\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        return self._read()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self("exit")
            except (RuntimeError, BrokenPipeError, ValueError):
                pass
            self.proc.wait(timeout=30)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
