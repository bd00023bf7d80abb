"""Held-out loss per wall-clock minute with the defaults a user gets from `charsmith train FILE`.

    python benchmarks/quality.py names --minutes 5 15      # makemore names, 1,000 held out
    python benchmarks/quality.py dinos --minutes 2          # dinos.txt, 10% held out (+ novelty)
    python benchmarks/quality.py shakespeare --minutes 30   # tinyshakespeare, last 10% held out

Each run trains with only the file, the time limit and the split given (everything else is
charsmith's data-driven default), then records the best held-out loss, the learning curve
(benchmarks/results/curve_<task>_<minutes>min.json and a PNG), and for dinos the novelty
rate of 1,000 samples at temperature 1. `--table` rewrites benchmarks/QUALITY.md from all
recorded runs. The split is made reproducibly by the seed (0).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

import charsmith  # noqa: E402
from charsmith import _runlog, backend  # noqa: E402
from charsmith._novelty import is_known  # noqa: E402
from charsmith._reading import read_text, split_lines  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TASKS = {
    # task: (file, options besides the time limit)
    "names": ("makemore_names.txt", {}),
    "dinos": ("dinos.txt", {"lowercase": True}),
    "shakespeare": ("tinyshakespeare.txt", {"mode": "text", "val_fraction": 0.1}),
}
TARGETS = {("names", 5): 1.95, ("names", 15): 1.90, ("shakespeare", 30): 1.60}


def run(task: str, minutes: float, data_dir: Path, from_run: Path | None = None) -> dict:
    """Train (or, with ``from_run``, read a run already made with exactly these options)."""
    file, options = TASKS[task]
    path = data_dir / file
    if task == "names":  # exactly 1,000 held-out names
        options = dict(options, val_fraction=1000 / len(split_lines(read_text(path), lowercase=False)))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = from_run or Path(tmp) / "run"
        if from_run is None:
            m = charsmith.train(path, run_dir, minutes=minutes, **options)
        else:
            m = charsmith.load(from_run)
            _, model_cfg, train_cfg = charsmith.api.plan_run(path, minutes=minutes, **options)
            if (m.ckpt.model, m.ckpt.train) != (model_cfg, train_cfg):
                raise SystemExit(f"{from_run} was not made with this benchmark's options")
        curve = [r for r in _runlog.read(run_dir) if r["kind"] == _runlog.EVAL]
    result = {
        "task": task, "file": file, "minutes": minutes, "best_val_loss": m.ckpt.info["best_val_loss"],
        "steps": curve[-1]["step"], "model": {k: v for k, v in vars(m.ckpt.model).items()},
        "train": vars(m.ckpt.train), "chars_per_s": float(np.median([c["chars_per_s"] for c in curve])),
        "curve": [(c["elapsed"], c["val_loss"]) for c in curve], "date": str(datetime.date.today()),
        "command": f"python benchmarks/quality.py {task} --minutes {minutes:g}",
        "recorded_from_run": from_run is not None,
        "engine": "compiled kernels" if backend.default().compiled else "NumPy only",
    }
    if task == "dinos":
        s = m.sample(1000, seed=0, allow_known=True)
        known = is_known(s.samples, m.ckpt.known)
        result["novelty_rate"] = float(1 - known.mean())
    return result


def plot(results: list[dict], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib); skipping the PNG", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in results:
        t, v = zip(*r["curve"])
        ax.plot(np.array(t) / 60, v, label=f"{r['task']} ({r['minutes']:g} min budget)")
    ax.set_xlabel("wall-clock minutes (2-core machine)")
    ax.set_ylabel("held-out loss (nats/char)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def table() -> None:
    rows = sorted((json.loads(p.read_text()) for p in RESULTS.glob("quality_*.json")),
                  key=lambda r: (r["task"], r["minutes"]))
    lines = [
        "# Held-out loss per wall-clock minute",
        "",
        "`charsmith train FILE` with only a time limit (all other options are charsmith's defaults for",
        "the file), on this project's 2-core machine (shared, so wall-clock figures are conservative).",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"Python {platform.python_version()}, NumPy {np.__version__}.",
        "",
        "| data | budget | model picked | engine | steps | chars/s | best held-out nats/char | target | novelty | command |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        target = TARGETS.get((r["task"], int(r["minutes"])))
        verdict = "" if target is None else f"≤ {target} {'met' if r['best_val_loss'] <= target else 'MISSED'}"
        mc = r["model"]
        lines.append(
            f"| {r['file']} | {r['minutes']:g} min | {mc['cell']} x{mc['layers']} h{mc['hidden']} e{mc['embed']} "
            f"d{mc['dropout']} | {r.get('engine', 'NumPy only ‡')} | {r['steps']} | {r['chars_per_s']:,.0f} | {r['best_val_loss']:.4f} | {verdict} | "
            f"{'%.1f%%' % (100 * r['novelty_rate']) if 'novelty_rate' in r else ''} | `{r['command']}` ({r['date']})"
            f"{' †' if r.get('recorded_from_run') else ''} |")
    lines.append("")
    if any(r.get("recorded_from_run") for r in rows):
        lines += ["† recorded with `--from-run` from a run made with exactly these options (the one that built the",
                  "bundled model), rather than trained a second time.", ""]
    if any("engine" not in r for r in rows):
        lines += ["‡ recorded before charsmith had its compiled kernels (NumPy alone, about half the speed);",
                  "a rerun would train more steps in the same time.", ""]
    lines += ["Novelty: share of 1,000 samples at temperature 1 that are not in the training set.",
              "Learning curves: `benchmarks/curves.png`.", ""]
    out = ROOT / "benchmarks" / "QUALITY.md"
    old = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    later = next((i for i, ln in enumerate(old) if i > 0 and ln.startswith("# ")), len(old))
    out.write_text("\n".join(lines + old[later:]).rstrip("\n") + "\n", encoding="utf-8")  # later sections are kept
    plot(rows, ROOT / "benchmarks" / "curves.png")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("task", choices=sorted(TASKS), nargs="?")
    p.add_argument("--minutes", type=float, nargs="+", default=[5.0])
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--table", action="store_true", help="only rewrite QUALITY.md and the PNG from saved results")
    p.add_argument("--from-run", type=Path, help="record a run already made with the same options (one --minutes)")
    args = p.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.task:
        for minutes in args.minutes:
            r = run(args.task, minutes, args.data_dir, args.from_run)
            (RESULTS / f"quality_{args.task}_{minutes:g}min.json").write_text(json.dumps(r, indent=1) + "\n")
            print(f"{args.task} {minutes:g} min: best held-out {r['best_val_loss']:.4f} nats/char "
                  f"after {r['steps']} steps" + (f", novelty {r['novelty_rate']:.1%}" if "novelty_rate" in r else ""))
    table()


if __name__ == "__main__":
    main()
