"""Kill ``charsmith train`` at random moments, over and over, and check nothing is lost.

    python benchmarks/kill_loop.py [--kills 60] [--seed 0] [--data-dir DIR] [--json OUT]

Two runs (a names list in lines mode and a text) are each started, SIGKILLed after a random
0.3-3 s, and started again with --resume (or --force while there is nothing to resume),
--kills times in all. Evaluations come every 5 steps, so many kills land inside a save.
While a training runs, this process keeps loading its checkpoint, as ``charsmith sample``
would. Checked after every kill:

- once a run has a checkpoint, it always loads (the last complete version: never lost, never mixed);
- every load during training succeeded (a reader racing a save gets a complete version);
- the killed process printed no traceback.

At the end each run continues with --resume to a fixed step count and must load.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA_DIR, REPO, command_line, parser, write_json

sys.path.insert(0, str(REPO / "src"))

from charsmith.checkpoint import is_checkpoint, load_checkpoint  # noqa: E402
from charsmith.errors import CheckpointError  # noqa: E402


def train_command(data: Path, out: Path, extra: list[str]) -> list[str]:
    flag = "--resume" if (out / "resume.npz").exists() else "--force"
    return [sys.executable, "-m", "charsmith", "train", str(data), "--out", str(out), "--hidden", "32",
            "--eval-every", "5", "--seed", "3", "--quiet", *extra, flag]


def one_kill(data: Path, out: Path, extra: list[str], wait: float, env: dict[str, str]) -> dict:
    had = is_checkpoint(out)
    proc = subprocess.Popen(train_command(data, out, extra + ["--minutes", "10"]), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    loads, errors, end = 0, [], time.monotonic() + wait
    while time.monotonic() < end:  # read the checkpoint while the run writes it
        if is_checkpoint(out):
            try:
                load_checkpoint(out)
                loads += 1
            except CheckpointError as e:
                errors.append(f"load during training: {e}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    if b"Traceback" in err:
        errors.append(err.decode(errors="replace")[-500:])
    step = None
    if is_checkpoint(out):
        try:
            step = load_checkpoint(out).info.get("step")
        except CheckpointError as e:
            errors.append(f"load after the kill: {e}")
    elif had:
        errors.append("the checkpoint disappeared")
    return {"wait": round(wait, 2), "loads_during": loads, "step": step, "errors": errors}


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--kills", type=int, default=60, help="kills in all, over both runs (default 60)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    data_dir = Path(args.data_dir or DEFAULT_DATA_DIR)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryDirectory(prefix="charsmith-kills-") as tmp:
        work = Path(tmp)
        text = work / "bard.txt"
        text.write_text((data_dir / "tinyshakespeare.txt").read_text(encoding="utf-8")[:200_000], encoding="utf-8")
        runs = [(data_dir / "dinos.txt", work / "names", ["--lowercase"]),
                (text, work / "bard", ["--mode", "text", "--layers", "1", "--seq-len", "32", "--batch-size", "16"])]
        rows = []
        for i in range(args.kills):
            data, out, extra = runs[i % 2]
            row = one_kill(data, out, extra, rng.uniform(0.3, 3.0), env)
            rows.append({"run": out.name, **row})
            print(f"kill {i + 1}: {out.name} after {row['wait']} s, checkpoint step {row['step']}, "
                  f"{row['loads_during']} loads during training, {len(row['errors'])} errors", flush=True)
            for e in row["errors"]:
                print("    " + e, flush=True)
        finals = {}
        for data, out, extra in runs:
            code = subprocess.run(train_command(data, out, extra + ["--steps", "400"]), env=env,
                                  stdout=subprocess.DEVNULL, check=False).returncode
            finals[out.name] = {"exit": code, "step": load_checkpoint(out).info.get("step") if code == 0 else None}
    failures = sum(len(r["errors"]) for r in rows) + sum(f["exit"] != 0 for f in finals.values())
    summary = {"command": command_line(), "kills": len(rows),
               "kills_after_a_checkpoint": sum(r["step"] is not None for r in rows),
               "loads_during_training": sum(r["loads_during"] for r in rows), "failures": failures,
               "finished": finals, "rows": rows}
    print(f"{len(rows)} kills ({summary['kills_after_a_checkpoint']} with a checkpoint on disk), "
          f"{summary['loads_during_training']} loads while training, {failures} failures; finished: {finals}")
    write_json(args.json, summary)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
