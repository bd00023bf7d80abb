"""Achieved GFLOP/s of charsmith's training step against the machine's measured float32
matmul peak, same run.

    python benchmarks/bench_flops.py [--sizes gru:64:32,gru:128:32,gru:512:256,lstm:512:256]
                                     [--seconds 1.5] [--data-dir DIR] [--json OUT]

Peak: best of repeated (1024x1024) @ (1024x1024) float32 matmuls, at 1 BLAS thread (this
process) and 2 BLAS threads (a child process); also the "small-matrix peak" of the step's
own recurrent matmul shape (B, H) @ (H, G) on one thread. charsmith's compiled kernels
use every core (2 here), so the 2-thread peak is the ceiling that applies. FLOPs of a step are counted analytically from
the matmuls: forward 2*(E*G + H*G + H*V) per padded position, training = 3x forward.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import harness  # noqa: E402
import numpy as np  # noqa: E402
from _common import HERE, command_line, parser, write_json  # noqa: E402

from charsmith.config import ModelConfig  # noqa: E402


def small_peak(B: int, H: int, G: int, seconds: float = 0.5) -> float:
    rng = np.random.default_rng(0)
    a, w = rng.standard_normal((B, H), dtype=np.float32), rng.standard_normal((H, G), dtype=np.float32)
    out = np.empty((B, G), np.float32)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            np.matmul(a, w, out=out)
        n += 100
    return 2.0 * B * H * G * n / (time.perf_counter() - t0) / 1e9


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--sizes", default="gru:64:32,gru:128:32,gru:512:256,lstm:512:256")
    args = ap.parse_args(argv)
    peak1 = harness.matmul_peak(1024, seconds=args.seconds)
    child = subprocess.run([sys.executable, "-c", "from harness import matmul_peak; print(matmul_peak(1024, 1.5))"],
                           env=dict(os.environ, OPENBLAS_NUM_THREADS="2"), cwd=HERE, capture_output=True,
                           text=True, check=True)
    peak2 = float(child.stdout.strip())
    print(f"float32 matmul peak 1024^3: {peak1:.1f} GFLOP/s (1 BLAS thread), {peak2:.1f} GFLOP/s (2 BLAS threads)")
    names, source = harness.load_names(args.data_dir)
    rows = []
    for spec in args.sizes.split(","):
        cell, h, b = spec.split(":")
        H, B = int(h), int(b)
        vocab, batches = harness.make_batches(names, B, seed=0)
        cfg = ModelConfig(cell=cell, vocab_size=vocab.size, hidden=H, embed=64)
        tr = harness.CharsmithTrainer(cfg)
        for bt in batches[:3]:
            tr.step(bt)
        done, t0 = [], time.perf_counter()
        i = 3
        while time.perf_counter() - t0 < args.seconds:
            bt = batches[i % len(batches)]
            tr.step(bt)
            done.append(bt)
            i += 1
        dt = time.perf_counter() - t0
        achieved = harness.train_flops(cfg, done) / dt / 1e9
        G = {"rnn": 1, "gru": 3, "lstm": 4}[cell] * H
        sp = small_peak(B, H, G)
        row = {"cell": cell, "hidden": H, "batch": B, "gflops": achieved, "small_peak": sp,
               "pct_peak1": 100 * achieved / peak1, "pct_peak2": 100 * achieved / peak2,
               "pct_small": 100 * achieved / sp}
        rows.append(row)
        print(f"{cell} H{H} B{B}: {achieved:.2f} GFLOP/s = {row['pct_peak1']:.1f}% of the 1-thread peak, "
              f"{row['pct_peak2']:.1f}% of the 2-thread peak; (B,H)@(H,G) alone on 1 thread reaches {sp:.1f} GFLOP/s",
              flush=True)
    write_json(args.json, {"command": command_line(), "peak_1t": peak1, "peak_2t": peak2, "rows": rows, "source": source})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
