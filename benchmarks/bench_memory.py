"""Peak resident memory of training: charsmith against PyTorch, each in a fresh child.

    python benchmarks/bench_memory.py [--sizes gru:64:32,gru:512:256,lstm:512:256] [--steps 60]
                                      [--data-dir DIR] [--json OUT]

Each side gets a new process per size, builds the same batches, trains --steps steps
(starting with the longest batch) and reports resource.getrusage(RUSAGE_SELF).ru_maxrss,
plus the same figure taken before the model was built (interpreter + libraries + data), so
"training" = peak - baseline.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from _common import Worker, command_line, parser, write_json  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--sizes", default="gru:64:32,gru:512:256,lstm:512:256")
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args(argv)
    rows = []
    for spec in args.sizes.split(","):
        cell, h, b = spec.split(":")
        row = {"cell": cell, "hidden": int(h), "batch": int(b)}
        for side in ("charsmith", "torch"):
            try:
                w = Worker(side, data_dir=args.data_dir)
            except RuntimeError as e:
                row[side] = {"error": str(e)}
                continue
            with w:
                w("train_setup", cell=cell, hidden=int(h), batch=int(b))
                w("train_run", start=0, count=args.steps)
                row[side] = w("rss")
        rows.append(row)
        line = f"{cell} H{h} B{b}:"
        for side in ("charsmith", "torch"):
            r = row[side]
            if "maxrss_mb" in r:
                line += f"  {side} peak {r['maxrss_mb']:.0f} MB (baseline {r['base_mb']:.0f} MB)"
        print(line, flush=True)
    write_json(args.json, {"command": command_line(), "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
