"""The budget grid: which model reaches the lowest held-out loss in 1, 3, 10 or 30 minutes?

    python benchmarks/budget_grid.py                       # the whole plan below (~50 quiet-machine minutes)
    python benchmarks/budget_grid.py --only text:1 names:3  # part of it
    python benchmarks/budget_grid.py --table                # the markdown table of the recorded runs

Steps-equivalent budgets. The trainer's learning-rate schedule follows the fraction of the run
done (elapsed/minutes for a time budget, step/steps for a step budget), so a run of
``--minutes M`` on a quiet machine is the same run as ``--steps S`` with

    S = 60 * M * r / (1 + q / E)

where r is the configuration's training steps per second on the quiet machine (``RATES``:
``charsmith train ... --steps N --eval-every 100000`` timed at two N, two threads, load
below 1), E the steps between evaluations, and q the cost of one evaluation (held-out loss,
preview samples, checkpoint) in training steps, measured at the start of each run on the
machine as it is (a 30-step calibration run evaluating every 10 steps; a ratio of two times
measured together, so it does not depend on the load). A fixed number of steps makes each
figure independent of what else runs on the machine; the grid runs two configurations at a
time, on one thread each.

Data (temporary copies, never kept):

- running text: ``tinyshakespeare.txt``; the last 10% is the FINAL held-out set, never seen in
  training or tuning; runs train on the first 90% (``--mode text``), whose own last 10% (the
  trainer's held-out part) is the TUNING set that picks each run's best checkpoint and the grid's
  best configuration;
- a long list: ``makemore_names.txt``; a seeded 10% of the names (seed 21) is the FINAL set;
  runs train on the rest, of which the trainer holds out 10% (``--seed 0``) for tuning.

Each row: the best tuning loss of the run (nats/char, the trainer's own evaluation) and the
loss of that checkpoint on the final set (``CharModel.evaluate``). Results accumulate in
``benchmarks/results/budget_grid.json`` (configurations, steps, r, q, figures, load averages,
dates).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "budget_grid.json"
NANOGPT = ROOT / "benchmarks" / "results" / "nanogpt_reference.json"  # benchmarks/nanogpt_reference.py
FINAL_SEED = 21  # names: the seed of the final held-out 10%
EVALS_PER_RUN = 20  # evaluations per run (E = S / 20, at least 10 steps)

# Options every run of a data set shares (all given explicitly: the grid does not depend on
# charsmith.defaults, which it informs).
BASE: dict[str, dict[str, Any]] = {
    "text": dict(mode="text", embed=64, dropout=0.2, weight_decay=0.0, batch_size=32, seq_len=128, lr=3e-3),
    "names": dict(mode="lines", embed=64, dropout=0.4, weight_decay=0.1, batch_size=64, lr=3e-3),
}


def config(label: str) -> dict[str, Any]:
    """Options of a label such as ``gru128x1_b32`` or ``lstm256x2_b64_lr2e-3_s256`` (cell, hidden x
    layers, then optional _bBATCH, _lrLR, _sSEQ, _dDROPOUT)."""
    head, *rest = label.split("_")
    cell = head.rstrip("0123456789x")
    hidden, layers = head[len(cell):].split("x")
    out: dict[str, Any] = dict(cell=cell, hidden=int(hidden), layers=int(layers))
    for part in rest:
        key = {"b": "batch_size", "lr": "lr", "s": "seq_len", "d": "dropout"}[part.rstrip("0123456789.e-")]
        value = part[len(part.rstrip("0123456789.e-")):]
        out[key] = float(value) if key in ("lr", "dropout") else int(value)
    return out


# Training steps per second on the quiet machine (load < 1, two threads), by `time(N=hi) -
# time(N=lo)` of `charsmith train FILE ... --steps N --eval-every 100000 --quiet` (text: seq 128,
# embed 64; names: the long-list options above), measured 2026-12-06. A learning rate or dropout
# does not change the speed: _lrX and _dX variants share their base's rate.
RATES: dict[str, float] = {
    "text:gru128x1_b32": 46.189,
    "text:gru256x1_b32": 20.921,
    "text:lstm256x1_b32": 16.807,
    "text:gru128x1_b64": 28.49,
    "text:gru512x1_b32": 7.645,
    "text:lstm512x1_b32": 5.974,
    "text:lstm256x2_b32": 7.375,
    "text:gru256x2_b32": 9.901,
    "text:gru256x1_b64": 12.255,
    "text:lstm384x2_b32": 3.817,
    "names:gru128x1_b64": 449.438,
    "names:gru256x1_b64": 153.257,
    "names:lstm256x1_b64": 138.408,
    "names:lstm256x2_b64": 52.98,
    "names:gru256x2_b64": 65.681,
    "names:gru512x1_b64": 50.505,
    "names:lstm512x1_b64": 45.977,
}

# The plan: configurations per data set and budget (minutes), as run on 2026-12-06. Budget 1
# spans cells, sizes and (GRU 1x128 on text) batch, then learning rates and windows around the
# best; each longer budget keeps the best of the one before by tuning loss (names at 3: the best and the old default; text at 10: the best and the
# 30-minute recipe). About 60 quiet-machine minutes in all.
PLAN: dict[str, dict[float, list[str]]] = {
    "text": {
        1: ["gru128x1_b32", "gru256x1_b32", "lstm256x1_b32", "gru128x1_b64", "gru256x2_b32",
            "gru256x1_b32_lr2e-3", "gru256x1_b32_lr5e-3", "gru256x1_b32_lr8e-3", "gru256x1_b32_s64",
            "gru256x1_b32_s256", "gru256x1_b32_s64_lr8e-3"],
        3: ["gru256x1_b32", "gru128x1_b32", "gru256x1_b32_lr5e-3", "gru256x1_b32_lr8e-3"],
        10: ["gru256x1_b32", "lstm256x2_b32"],
    },
    "names": {
        1: ["gru128x1_b64", "gru256x1_b64", "lstm256x1_b64", "lstm256x2_b64", "gru512x1_b64",
            "lstm256x1_b64_lr2e-3", "lstm256x1_b64_lr5e-3"],
        3: ["lstm256x1_b64", "lstm256x2_b64"],
    },
}


def rate(data: str, label: str) -> float:
    """The quiet-machine steps/s of a label (its learning-rate/dropout variants share it; a
    window length other than 128 scales it, characters per second being about the same)."""
    parts = label.split("_")
    key = "_".join(p for p in parts if not p.startswith(("lr", "d", "s")))
    if data == "names" and "_b" not in label:
        key += "_b64"
    seq = config(label).get("seq_len", 128)  # a window of another length: steps/s scaled by 128 / seq
    return RATES[f"{data}:{key}"] * 128 / seq


# ----- data -------------------------------------------------------------------------------
def prepare(tmp: Path) -> dict[str, dict[str, Path]]:
    """Temporary copies: each data set's training file (whose own held-out part tunes) and final set."""
    import numpy as np

    from charsmith._reading import read_text, split_lines

    text = read_text(DATA / "tinyshakespeare.txt")
    cut = int(len(text) * 0.9)
    names = split_lines(read_text(DATA / "makemore_names.txt"), lowercase=False)
    order = np.random.default_rng(FINAL_SEED).permutation(len(names))
    n_final = len(names) // 10
    files = {"text": {"train": tmp / "text_train.txt", "final": tmp / "text_final.txt"},
             "names": {"train": tmp / "names_train.txt", "final": tmp / "names_final.txt"}}
    files["text"]["train"].write_text(text[:cut], encoding="utf-8")
    files["text"]["final"].write_text(text[cut:], encoding="utf-8")
    files["names"]["train"].write_text("\n".join(names[i] for i in order[n_final:]) + "\n", encoding="utf-8")
    files["names"]["final"].write_text("\n".join(names[i] for i in order[:n_final]) + "\n", encoding="utf-8")
    return files


# ----- one run (in a child process) --------------------------------------------------------
class Timer:
    """Times training steps and evaluations from the trainer's reports."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.steps: list[float] = []
        self.evals: list[float] = []

    def __call__(self, p: Any) -> None:
        now = time.perf_counter()
        (self.evals if p.kind == "eval" else self.steps).append(now - self.last)
        self.last = now


def calibrate(train: Path, opts: dict[str, Any], out: Path) -> float:
    """q: one evaluation's cost in training steps, on the machine as it is now."""
    from charsmith import api

    timer = Timer()
    api.make_trainer(train, out, force=True, steps=30, eval_every=10, **opts).run(timer)
    steps = sorted(timer.steps[1:])  # the first step compiles and allocates
    step = steps[len(steps) // 2]
    return sum(timer.evals[1:]) / len(timer.evals[1:]) / step


def one(job: dict[str, Any]) -> dict[str, Any]:
    from charsmith import api

    opts = {**BASE[job["data"]], **config(job["label"])}
    r, minutes = job["r"], job["minutes"]
    out = Path(job["out"])
    load0 = os.getloadavg()
    q = calibrate(Path(job["train"]), opts, out)
    every = max(10, round(60 * minutes * r / EVALS_PER_RUN))
    steps = round(60 * minutes * r / (1 + q / every))
    every = max(10, round(steps / EVALS_PER_RUN))
    t0 = time.perf_counter()
    done = api.make_trainer(job["train"], out, force=True, steps=steps, eval_every=every, **opts).run()
    wall = time.perf_counter() - t0
    final = api.load(out).evaluate(job["final"])
    return dict(data=job["data"], label=job["label"], minutes=minutes, options=opts, r=r, q=round(q, 2),
                eval_every=every, steps=steps, tune=round(float(done.best_val or float("nan")), 4),
                final=round(final.loss, 4), wall_s=round(wall, 1), threads=os.environ.get("CHARSMITH_THREADS", ""),
                load_start=[round(x, 2) for x in load0], load_end=[round(x, 2) for x in os.getloadavg()],
                date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))


# ----- speed -------------------------------------------------------------------------------
def timed(train: Path, opts: dict[str, Any], steps: int, out: Path) -> float:
    """Seconds to train ``steps`` steps without evaluating (two such times give steps/s)."""
    from charsmith import api

    t0 = time.perf_counter()
    api.make_trainer(train, out, force=True, steps=steps, eval_every=100_000, eval_chars=1000, **opts).run()
    return time.perf_counter() - t0


# ----- results ------------------------------------------------------------------------------
def load_results() -> dict[str, Any]:
    if RESULTS.is_file():
        return json.loads(RESULTS.read_text(encoding="utf-8"))
    return {"runs": []}


def save_results(res: dict[str, Any]) -> None:
    res["runs"].sort(key=lambda r: (r["data"], r["minutes"], r["tune"]))
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)


def record(res: dict[str, Any], row: dict[str, Any]) -> None:
    """Add ``row`` (replacing a run of the same data, label and budget) to the file as it is now."""
    key = (row["data"], row["label"], row["minutes"])
    res.update(load_results())
    res["runs"] = [r for r in res["runs"] if (r["data"], r["label"], r["minutes"]) != key] + [row]
    save_results(res)


def table(res: dict[str, Any]) -> str:
    lines = ["| data | budget | configuration | steps | tuning loss | final loss |", "| --- | --- | --- | --- | --- | --- |"]
    for data in ("text", "names"):
        rows = [r for r in res["runs"] if r["data"] == data]
        for minutes in sorted({r["minutes"] for r in rows}):
            here = sorted((r for r in rows if r["minutes"] == minutes), key=lambda r: r["tune"])
            for i, r in enumerate(here):
                best = "**" if i == 0 else ""
                lines.append(f"| {data} | {minutes:g} min | {best}{r['label']}{best} | {r['steps']:,} | "
                             f"{r['tune']:.3f} | {r['final']:.3f} |")
            nano = NANOGPT.is_file() and json.loads(NANOGPT.read_text(encoding="utf-8"))
            if data == "text" and nano and nano["minutes"] == minutes:
                lines.append(f"| text | {minutes:g} min | nanoGPT CPU configuration (reference) | {nano['iters']:,} | "
                             f"{nano['tune']:.3f} † | {nano['final']:.3f} |")
    return "\n".join(lines)


# ----- the plan -----------------------------------------------------------------------------
def run_jobs(jobs: list[dict[str, Any]], parallel: int, res: dict[str, Any]) -> None:
    """Run each job in a child process, ``parallel`` at a time (one thread each when > 1)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    if parallel > 1:
        env["CHARSMITH_THREADS"] = "1"
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            proc = subprocess.Popen([sys.executable, __file__, "--worker", json.dumps(job)], env=env,
                                    stdout=subprocess.PIPE, text=True, start_new_session=True)
            running.append((job, proc))
        time.sleep(1)
        for job, proc in list(running):
            if proc.poll() is None:
                continue
            running.remove((job, proc))
            out = proc.stdout.read() if proc.stdout else ""
            if proc.returncode:
                print(f"{job['data']} {job['label']} {job['minutes']:g} min: failed (exit {proc.returncode})", flush=True)
                continue
            row = json.loads(out.strip().splitlines()[-1])
            record(res, row)
            print(f"{row['data']} {row['label']} {row['minutes']:g} min: {row['steps']} steps (q {row['q']}), "
                  f"tuning {row['tune']:.4f}, final {row['final']:.4f}, {row['wall_s']:.0f} s, "
                  f"load {row['load_start'][0]}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--only", nargs="*", default=None, help="DATA:MINUTES parts of the plan (default: all)")
    ap.add_argument("--runs", nargs="*", default=None, help="DATA:MINUTES:LABEL runs outside the plan")
    ap.add_argument("--parallel", type=int, default=2, help="runs at once (one thread each when > 1)")
    ap.add_argument("--table", action="store_true", help="print the table of the recorded runs")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(one(json.loads(args.worker))), flush=True)
        return 0
    res = load_results()
    if args.table:
        print(table(res))
        return 0
    with tempfile.TemporaryDirectory(prefix="charsmith-budgets-") as tmp_name:
        tmp = Path(tmp_name)
        files = prepare(tmp)
        wanted = [(d, float(m), label) for d, plan in PLAN.items() for m, labels in plan.items() for label in labels]
        if args.only is not None:
            parts = {(p.split(":")[0], float(p.split(":")[1])) for p in args.only}
            wanted = [w for w in wanted if (w[0], w[1]) in parts]
        if args.runs is not None:
            wanted += [(d, float(m), label) for d, m, label in (r.split(":") for r in args.runs)]
        jobs = [dict(data=d, label=label, minutes=m, r=rate(d, label), train=str(files[d]["train"]),
                     final=str(files[d]["final"]), out=str(tmp / f"{d}-{label}-{m:g}")) for d, m, label in wanted]
        run_jobs(jobs, args.parallel, res)
    print(table(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
