"""Progress of a time-budget run: when the first held-out loss comes, what the evaluations cost.

    python benchmarks/bench_progress.py [--data-dir DIR] [--minutes 1] [--json OUT]

Runs ``charsmith train FILE --minutes M`` with the defaults for the file (as a user would),
on tinyshakespeare.txt and makemore_names.txt from the shared data folder, and reads the
run's ``metrics.jsonl``: the time of the first evaluation (goal: within about 5% of the
budget), the number of evaluations, the share of the run's time they took (``eval_seconds``
of every evaluation, the first and the last included, over the run's time; goal: a small
share, about 5%), and the training records (goal: one every 2% of the budget).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import DEFAULT_DATA_DIR, REPO, command_line, parser, write_json

sys.path.insert(0, str(REPO / "src"))
from charsmith import _runlog  # noqa: E402

FILES = ("tinyshakespeare.txt", "makemore_names.txt")


def measure(file: Path, minutes: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "charsmith", "train", str(file), "--minutes", f"{minutes:g}", "--out", str(out),
               "--quiet"]
        subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO / "src")}, check=True, stdout=subprocess.DEVNULL)
        records = _runlog.read(out)
    evals = [r for r in records if r["kind"] == _runlog.EVAL]
    trains = [r for r in records if r["kind"] == _runlog.TRAIN]
    total = max(r["elapsed"] for r in records)
    spent = sum(r["eval_seconds"] for r in evals)
    return {"file": file.name, "minutes": minutes, "run_s": round(total, 2),
            "first_eval_s": evals[0]["elapsed"], "first_eval_share_of_budget": round(evals[0]["elapsed"] / (60 * minutes), 4),
            "evaluations": len(evals), "eval_s": round(spent, 2), "eval_share": round(spent / total, 4),
            "eval_s_each": round(spent / len(evals), 3), "training_records": len(trains),
            "training_record_gap_s": round(total / len(trains), 2),
            "best_val_loss": round(min(r["val_loss"] for r in evals if r["val_loss"] is not None), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--minutes", type=float, default=1.0)
    args = ap.parse_args(argv)
    data = Path(args.data_dir) if args.data_dir else DEFAULT_DATA_DIR
    load = os.getloadavg()[0]
    rows = []
    for name in FILES:
        row = measure(data / name, args.minutes)
        rows.append(row)
        print(f"{name}: first held-out loss at {row['first_eval_s']:.2f} s ({row['first_eval_share_of_budget']:.1%} of "
              f"the budget); {row['evaluations']} evaluations took {row['eval_s']:.1f} s, {row['eval_share']:.1%} of "
              f"{row['run_s']:.0f} s; {row['training_records']} training records, one every "
              f"{row['training_record_gap_s']:.2f} s; best held-out {row['best_val_loss']:.4f}")
    print(f"load average at the start: {load:.1f}")
    write_json(args.json, {"command": command_line(), "load_average": load, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
