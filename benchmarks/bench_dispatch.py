"""The installed kernels (no -march=native; the instruction set picked at load) against a
build of the same source with -march=native, measured in the same run.

``python benchmarks/bench_dispatch.py [--rounds 5] [--seconds 2] [--json out.json]``

The -march=native library is compiled here, into a private temporary directory, with the
flags setup.py uses plus ``-march=native``; a side loads it in place of the installed one
and runs its baseline variant (which that flag compiled for this CPU). Each side is one
process, set up once; in each round the sides take turns on each case (a different side
first each round), so the rates compared were measured seconds apart. Each side runs on one
thread (kernels and BLAS) and is timed by its CPU time, not the wall clock: on a shared
machine other processes take turns on the cores, and that is not what differs between the
builds. Reported: the median rate of each side (per CPU second) and the median of the
per-round ratios against the -march=native build.

Cases: training steps (charsmith's train step on makemore names, GRU E64 H128 B32 and LSTM
E64 H256 B32), sampling the bundled ``dinosaurs`` model through the API (10,000 names per
call, the batched per-character step) and completing text with the bundled ``shakespeare``
model (one row: the step's per-call overhead).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from _common import REPO, command_line, parser, write_json

SIDES = {  # name: (CHARSMITH_ISA, use the -march=native build)
    "native": ("base", True),
    "dispatch": ("", False),
    "avx2": ("avx2", False),
    "base": ("base", False),
}
CASES = ("train gru H128 B32", "train lstm H256 B32", "sample dinosaurs 10k", "complete shakespeare B1")


def build_native(folder: Path) -> Path:
    """Compile kernels.c as setup.py does (Python's CFLAGS, then setup.py's COMPILE_ARGS),
    plus -march=native, into ``folder``."""
    from charsmith.backend import _library

    src = Path(_library.__file__).parent
    cc = (os.environ.get("CC") or sysconfig.get_config_var("CC")).split()
    flags = sysconfig.get_config_var("CFLAGS").split() + setup_compile_args()
    out = folder / "_kernels.so"
    cmd = [*cc, *flags, "-march=native", "-fPIC", "-shared", f'-DCS_SOURCE_HASH="{_library.source_hash(src)}"',
           "-o", str(out), str(src / "kernels.c"), "-lm"]  # fmt: skip
    subprocess.run(cmd, check=True)
    return out


def setup_compile_args() -> list[str]:
    """setup.py's COMPILE_ARGS (read, not imported: importing setup.py would run it)."""
    tree = ast.parse((REPO / "setup.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "COMPILE_ARGS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise LookupError("COMPILE_ARGS not found in setup.py")


def side_main(library: str, seconds: float, data_dir: str | None) -> None:
    """In the child: load the kernels (from ``library`` if given), set up every case, then
    time the case named on each line of stdin, answering its rate as one JSON line."""
    import functools

    from charsmith.backend import _library

    if library:  # swap in the -march=native build before the kernels load
        _library.load = functools.partial(_library.load, Path(library))  # type: ignore[assignment]

    import harness

    import charsmith
    from charsmith import backend
    from charsmith.config import ModelConfig

    assert backend.default().compiled, backend.status()
    seeds = iter(range(10**9))
    names = harness.load_names(data_dir)[0]

    def trainer(cell: Literal["gru", "lstm"], hidden: int) -> tuple[Any, float]:  # chars/s
        vocab, batches = harness.make_batches(names, 32, seed=0)
        step = harness.CharsmithTrainer(ModelConfig(cell=cell, vocab_size=vocab.size, hidden=hidden, embed=64)).step
        it = iter(batches * 10000)
        return lambda: step(next(it)), sum(b.n_chars for b in batches) / len(batches)

    dinos, bard = charsmith.load("dinosaurs"), charsmith.load("shakespeare")
    work = {
        CASES[0]: trainer("gru", 128),
        CASES[1]: trainer("lstm", 256),
        CASES[2]: (lambda: dinos.sample(10000, seed=next(seeds), allow_known=True), 10000),  # names/s
        CASES[3]: (lambda: bard.complete("ROMEO:", 200, seed=next(seeds)), 200),  # chars/s
    }
    print(json.dumps({"status": backend.status()}), flush=True)
    for line in sys.stdin:
        fn, units = work[line.strip()]
        fn()  # warm up
        done, t0 = 0, time.process_time()
        while time.process_time() - t0 < seconds:
            fn()
            done += 1
        print(json.dumps({"rate": done * units / (time.process_time() - t0)}), flush=True)


def start_side(name: str, library: Path, seconds: float, data_dir: str | None) -> tuple[subprocess.Popen, str]:
    """A side's process, ready (its kernels loaded and every case set up), and its status."""
    isa, native_build = SIDES[name]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", CHARSMITH_THREADS="1", CHARSMITH_ISA=isa)
    cmd = [sys.executable, __file__, "--side", str(library) if native_build else "", "--seconds", str(seconds)]
    if data_dir:
        cmd += ["--data-dir", data_dir]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    return proc, json.loads(proc.stdout.readline())["status"]  # type: ignore[union-attr]


def measure(proc: subprocess.Popen, case: str) -> float:
    proc.stdin.write(case + "\n")  # type: ignore[union-attr]
    proc.stdin.flush()  # type: ignore[union-attr]
    return float(json.loads(proc.stdout.readline())["rate"])  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--side", default=None, help=argparse.SUPPRESS)  # in a child: the library to load
    ap.add_argument("--cases", default=",".join(CASES), help="a comma-separated subset of: " + ", ".join(CASES))
    ap.add_argument("--sides", default=",".join(SIDES), help="a comma-separated subset of: " + ", ".join(SIDES))
    args = ap.parse_args(argv)
    if args.side is not None:
        side_main(args.side, args.seconds, args.data_dir)
        return 0
    cases = args.cases.split(",")
    sides = [s for s in SIDES if s in args.sides.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="charsmith-native-"))  # 0700, ours
    procs: dict[str, subprocess.Popen] = {}
    try:
        library = build_native(folder)
        status = {}
        for side in sides:
            procs[side], status[side] = start_side(side, library, args.seconds, args.data_dir)
        # rates[side][case]: one per round; within a round the sides take turns on each case,
        # starting with a different side each round
        rates: dict[str, dict[str, list[float]]] = {s: {c: [] for c in cases} for s in sides}
        for r in range(args.rounds):
            order = sides[r % len(sides):] + sides[: r % len(sides)]
            for case in cases:
                for side in order:
                    rates[side][case].append(measure(procs[side], case))
            print(f"round {r + 1}: " + "; ".join(f"{s} {[round(rates[s][c][-1]) for c in cases]}" for s in sides),
                  file=sys.stderr)  # fmt: skip
    finally:
        for proc in procs.values():
            proc.stdin.close()  # type: ignore[union-attr]
            proc.wait()
        shutil.rmtree(folder)
    table = report(rates, status, cases)
    print(table)
    write_json(args.json, {"command": command_line(), "status": status, "rates": rates, "table": table})
    return 0


def report(rates: dict[str, dict[str, list[float]]], status: dict[str, str], cases: list[str]) -> str:
    sides, others = list(rates), [s for s in rates if s != "native"]
    rounds = len(rates["native"][cases[0]])
    how = (f"{rounds} rounds; one thread per side, rates per CPU second; median rates, and the median over rounds "
           "of each round's ratio against the -march=native build, with the middle half of those ratios")
    rows = [f"Command: `{command_line()}` ({how})", "",
            "Kernels: " + ", ".join(f"{s}: {status[s]}" for s in sides), "",
            "| case | unit | " + " | ".join(sides) + " | " + " | ".join(f"{s} / native" for s in others) + " |",
            "| --- | --- | " + " | ".join("---:" for _ in sides) + " | " + " | ".join("---:" for _ in others) + " |"]  # fmt: skip
    for case in cases:
        unit = "names/s" if case.startswith("sample") else "chars/s"
        medians = [f"{statistics.median(rates[s][case]):,.0f}" for s in sides]
        ratios = [spread([a / b for a, b in zip(rates[s][case], rates["native"][case])]) for s in others]
        rows.append(f"| {case} | {unit} | " + " | ".join(medians) + " | " + " | ".join(ratios) + " |")
    return "\n".join(rows)


def spread(xs: list[float]) -> str:
    """'median (lower quartile-upper quartile)' of xs."""
    if len(xs) < 4:
        return f"{statistics.median(xs):.2f}"
    q1, _, q3 = statistics.quantiles(xs, n=4)
    return f"{statistics.median(xs):.2f} ({q1:.2f}–{q3:.2f})"


if __name__ == "__main__":
    raise SystemExit(main())
