"""Training speed of charsmith's default engine against its own single thread, with the cores
idle and with one core held by another process (which this script starts), same run.

    python benchmarks/bench_busy.py [--cells rnn,gru,lstm] [--hidden 64,128,256,512]
                                    [--batch 32,256] [--conditions idle,busy] [--seconds 0.5]
                                    [--rounds 9] [--data-dir DIR] [--json OUT] [--write]

Model and batches as bench_train.py (embedding 64, 1 layer, Adam, clip-norm 5, makemore names).
Sides, each in its own worker process, training on the same batches, alternating A B C / C B A:
- ``one``: a thread budget of 1 (as ``--threads 1``): the reference of every ratio;
- ``default``: the default engine (a budget of every usable core; the threads that run each
  split call chosen from measured times, see charsmith.backend._pace);
- ``eager``: the same budget with every split call run on all its threads (pace "all": the
  engine as it was before pacing).
The conditions run one after the other over the whole grid: ``idle``, no spinner (other users
of the machine are not controlled: the load average is recorded), then ``busy``, a process
spinning on the last core (pinned there with sched_setaffinity) from the start of the condition
to its end. Each size is warmed up in each condition before its rounds.
A ratio is a side's chars/s (wall clock) over ``one``'s in the same round; the median over
rounds is reported with its range. ``--write`` replaces the "Steady under a busy core" section
of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import datetime  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from typing import Any

from _common import HERE, Worker, command_line, parser, write_json, write_section  # noqa: E402

SIDES = {"one": {"threads": 1}, "default": {}, "eager": {"pace": "all"}}
SECTION = "# Steady under a busy core"
SPIN = """import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
parent = os.getppid()
while os.getppid() == parent:  # spins until killed, or until this script ends however it ends
    for _ in range(100000):
        pass
"""


def ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x]


def load() -> float:
    """The 1-minute load average (runnable processes, ours included)."""
    return round(os.getloadavg()[0], 2)


@contextmanager
def spinner(busy: bool) -> Iterator[None]:
    """A process spinning on the last core while the block runs (when ``busy``)."""
    if not busy:
        yield
        return
    core = max(os.sched_getaffinity(0))
    proc = subprocess.Popen([sys.executable, "-c", SPIN, str(core)])
    try:
        time.sleep(0.2)  # let it start spinning
        yield
    finally:
        proc.kill()
        proc.wait()


def measure(workers: dict[str, Worker], row: dict[str, Any], cond: str, seconds: float, rounds: int) -> None:
    """One grid size in one condition: every side trains on the same batches; row[cond] = the rates."""
    info = {}
    for w in workers.values():
        info = w("train_setup", cell=row["cell"], hidden=row["hidden"], batch=row["batch"])
    if "k" not in row:  # batches per round, calibrated once on the reference side
        workers["one"]("train_run", start=0, count=3)
        probe = workers["one"]("train_run", start=3, count=10)
        row["k"] = max(5, min(info["batches"], int(10 * seconds / probe["seconds"])))
    k, names = row["k"], list(workers)
    before = load()
    for w in workers.values():  # warm-up (the pace meets this size here)
        w("train_run", start=0, count=max(10, k // 3))
    rates: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            res = workers[n]("train_run", start=13 + r * k, count=k)
            rates[n].append(res["units"] / res["seconds"])
    ratios = {n: [a / b for a, b in zip(rates[n], rates["one"], strict=True)] for n in names if n != "one"}
    row[cond] = {
        "rates": {n: statistics.median(v) for n, v in rates.items()},
        "ratios": {n: statistics.median(v) for n, v in ratios.items()},
        "ranges": {n: (min(v), max(v)) for n, v in ratios.items()},
        "load_before": before,
        "load_after": load(),
    }


def table(rows: list[dict[str, Any]], conditions: list[str]) -> str:
    head = "| cell | hidden | batch |"
    rule = "| --- | ---: | ---: |"
    for c in conditions:
        head += f" {c}: one thread chars/s | {c}: **default ÷ one** (range) | {c}: eager ÷ one |"
        rule += " ---: | ---: | ---: |"
    lines = [head, rule]
    for r in rows:
        line = f"| {r['cell']} | {r['hidden']} | {r['batch']} |"
        for c in conditions:
            x = r[c]
            lo, hi = x["ranges"]["default"]
            line += (f" {x['rates']['one']:,.0f} | **{x['ratios']['default']:.2f}** ({lo:.2f}–{hi:.2f}) |"
                     f" {x['ratios']['eager']:.2f} |")
        lines.append(line)
    return "\n".join(lines)


def section(payload: dict[str, Any]) -> list[str]:
    rows, conds = payload["rows"], payload["conditions"]
    summary = []
    for c in conds:
        d = [r[c]["ratios"]["default"] for r in rows]
        e = [r[c]["ratios"]["eager"] for r in rows]
        summary.append(f"- {c}: default ÷ one from **{min(d):.2f}** to {max(d):.2f} "
                       f"(median {statistics.median(d):.2f}); eager ÷ one from {min(e):.2f} to {max(e):.2f}.")
    loads = [x for r in rows for c in conds for x in (r[c]["load_before"], r[c]["load_after"])]
    return [
        SECTION,
        "",
        f"`{payload['command']}` on {payload['when']} ({payload['minutes']:.0f} min): training chars/s of the "
        "default engine (a budget of both cores, threads paced by measured times) and of the same budget with "
        "every split call on both threads (`eager`, the engine before pacing), each as a ratio to a budget of "
        "one thread measured in the same round, with both cores idle and with a process spinning on one core "
        "(started by the script). Model as in the training table (embedding 64, 1 layer, Adam). "
        f"The 1-minute load average (this benchmark's own processes included) went from {min(loads):.1f} to "
        f"{max(loads):.1f} during the run.\n",
        table(rows, conds),
        "",
        *summary,
    ]


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--cells", default="rnn,gru,lstm")
    ap.add_argument("--hidden", default="64,128,256,512")
    ap.add_argument("--batch", default="32,256")
    ap.add_argument("--conditions", default="idle,busy")
    ap.add_argument("--write", action="store_true", help="put the table into benchmarks/RESULTS.md")
    ap.set_defaults(seconds=0.5, rounds=9)  # short rounds, many: other users' bursts spoil only a few
    args = ap.parse_args(argv)
    conditions = args.conditions.split(",")
    t0 = time.perf_counter()
    workers = {n: Worker("charsmith", data_dir=args.data_dir) for n in SIDES}
    grid = [(c, h, b) for c in args.cells.split(",") for h in ints(args.hidden) for b in ints(args.batch)]
    rows: list[dict[str, Any]] = [{"cell": c, "hidden": h, "batch": b} for c, h, b in grid]
    try:
        for n, options in SIDES.items():
            status = workers[n]("engine_options", **options)
            print(f"{n}: {status['status']}, {status['threads']} threads", flush=True)
        for cond in conditions:  # one condition after the other: the spinner runs through all of busy
            with spinner(cond == "busy"):
                for row in rows:
                    measure(workers, row, cond, args.seconds, args.rounds)
                    x = row[cond]
                    print(f"{cond:4} {row['cell']:4} H{row['hidden']:<4} B{row['batch']:<4} one "
                          f"{x['rates']['one']:>9,.0f}/s  default {x['ratios']['default']:.2f}x  "
                          f"eager {x['ratios']['eager']:.2f}x  (load {x['load_before']:.1f})", flush=True)
    finally:
        for w in workers.values():
            w.close()
    payload = {"command": command_line(), "rows": rows, "conditions": conditions,
               "when": f"{datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
               "minutes": (time.perf_counter() - t0) / 60}
    write_json(args.json, payload)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, section(payload))
        print(f"wrote the {SECTION!r} section of {HERE / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
