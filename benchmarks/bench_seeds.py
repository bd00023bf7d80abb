"""charsmith's RNN trained batched against a straight transcription of the seeds' per-name
loop (benchmarks/classic_reference.py: one name per SGD step, float64 column vectors), at
hidden 50 with one-hot input, chars/s measured interleaved in the same process.

    python benchmarks/bench_seeds.py [--batch 32,256] [--seconds 1.5] [--rounds 3] [--data-dir DIR] [--json OUT]

charsmith side: the real training step (Adam, global-norm clip 5) on its length-bucketed
batches. A character is a real target (letters + end token).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import harness  # noqa: E402
from _common import command_line, parser, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--batch", default="32,256")
    args = ap.parse_args(argv)
    names, source = harness.load_names(args.data_dir)
    rows = []
    for b in [int(x) for x in args.batch.split(",")]:
        row = harness.seeds_case(names, args.seconds, args.rounds, batch=b)
        rows.append(row)
        print(f"{row['case']}: charsmith {row['charsmith']:,.0f} chars/s, seeds' loop {row['reference']:,.0f} chars/s,"
              f" ratio {row['ratio']:.1f}x", flush=True)
    write_json(args.json, {"command": command_line(), "rows": rows, "source": source})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
