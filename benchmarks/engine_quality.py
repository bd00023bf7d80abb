"""The torch engine against the compiled engine: the same options and steps, the same held-out loss?

    python benchmarks/engine_quality.py [--data-dir DIR] [--json OUT] [--names-steps 2000] [--text-steps 600]

Trains ``charsmith train FILE --steps N`` with charsmith's defaults for the file, once with
the default engine (NumPy, compiled kernels) and once with ``--engine torch`` (CPU), on
makemore_names.txt and tinyshakespeare.txt from the shared data folder, and reports each
run's best held-out loss (nats/char) and wall time. The goal: within 0.05 nats/char.
Dropout masks come from different generators in the two engines, so the runs are not the
same numbers, only the same training.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import DEFAULT_DATA_DIR, REPO, command_line, parser, write_json

SRC = str(REPO / "src")


def run(file: Path, steps: int, engine: str, out: Path) -> dict:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "charsmith", "train", str(file), "--steps", str(steps), "--engine", engine,
           "--out", str(out), "--quiet"]
    subprocess.run(cmd, env={**os.environ, "PYTHONPATH": SRC}, check=True, stdout=subprocess.DEVNULL)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    best = min(r["val_loss"] for r in rows if r.get("val_loss") is not None)  # evaluations, not training records
    return {"engine": engine, "steps": steps, "best_val_loss": round(best, 4), "wall_s": round(time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--names-steps", type=int, default=2000)
    ap.add_argument("--text-steps", type=int, default=600)
    args = ap.parse_args(argv)
    data = Path(args.data_dir or DEFAULT_DATA_DIR)
    cases = {"makemore_names.txt": args.names_steps, "tinyshakespeare.txt": args.text_steps}
    rows = []
    with tempfile.TemporaryDirectory(prefix="charsmith-engines-") as tmp:
        for name, steps in cases.items():
            pair = [run(data / name, steps, engine, Path(tmp) / f"{name}-{engine}") for engine in ("numpy", "torch")]
            gap = abs(pair[0]["best_val_loss"] - pair[1]["best_val_loss"])
            for r in pair:
                rows.append({"data": name, **r})
                print(f"{name}, {steps} steps, {r['engine']}: held-out {r['best_val_loss']:.4f} nats/char, "
                      f"{r['wall_s']} s", flush=True)
            print(f"{name}: gap {gap:.4f} nats/char ({'within' if gap <= 0.05 else 'beyond'} 0.05)", flush=True)
    write_json(args.json, {"command": command_line(), "rows": rows, "goal": "gap <= 0.05 nats/char"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
