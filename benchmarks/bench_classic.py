"""Iterations/s of charsmith.classic.dinos.model against a straight transcription of the
notebook's loop (benchmarks/classic_reference.py), measured in the same run.

    python benchmarks/bench_classic.py [--iterations 4000] [--repeats 3] [--data PATH]

Both train on the same names with the same seeds and are checked to give bit-identical
losses before the timings are reported. Prints a markdown table and the command.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from charsmith.classic import dinos  # noqa: E402

DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "dinos.txt"


def load_reference():
    spec = importlib.util.spec_from_file_location("classic_reference", HERE.parent / "tests" / "classic_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=3, help="best of N timings each")
    ap.add_argument("--data", default=str(DEFAULT_DATA), help="names file (default: the shared dinos.txt)")
    args = ap.parse_args(argv)
    text = Path(args.data).read_text()
    ref = load_reference()
    c2i, i2c = dinos.char_maps(text)
    examples = dinos.examples_from_text(text)
    n = args.iterations
    best_ref = best_new = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        _, ref_losses, _ = ref.model(examples, i2c, c2i, num_iterations=n)
        t1 = time.perf_counter()
        losses: list[float] = []
        dinos.model(text, i2c, c2i, num_iterations=n, losses=losses)
        t2 = time.perf_counter()
        best_ref, best_new = min(best_ref, t1 - t0), min(best_new, t2 - t1)
    identical = losses == [float(x) for x in ref_losses]
    print(f"| implementation | iterations | best of {args.repeats} (s) | iterations/s |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| notebook transcription (classic_reference.model) | {n} | {best_ref:.3f} | {n / best_ref:,.0f} |")
    print(f"| charsmith.classic.dinos.model | {n} | {best_new:.3f} | {n / best_new:,.0f} |")
    print()
    print(f"speed-up: **{best_ref / best_new:.2f}x**; losses bit-identical: {identical}")
    print(f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}")
    print(f"command: `python benchmarks/bench_classic.py --iterations {n} --repeats {args.repeats}`")
    return 0 if identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
