"""Batched sampling throughput (names/s) of charsmith against the same GRU in PyTorch.

    python benchmarks/bench_sample.py [--hidden 128] [--n 1000,10000] [--seconds 1.5] [--rounds 3]
                                      [--data-dir DIR] [--json OUT]

Both sides sample from the *same weights* (a GRU E64 trained briefly by charsmith so names
have realistic lengths, copied into torch's nn.GRU), n names per call, max 50 characters,
temperature 1. PyTorch: step nn.GRU one character at a time for the batch, torch.multinomial,
drop rows that produced the end token, under inference_mode. Each side in its own process;
PyTorch at 2 threads and 1 thread, the ratio is against the faster in each round.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import harness  # noqa: E402
import numpy as np  # noqa: E402
from _common import Worker, command_line, parser, write_json  # noqa: E402

from charsmith.config import ModelConfig  # noqa: E402
from charsmith.vocab import Vocab  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--n", default="1000,10000")
    args = ap.parse_args(argv)
    names, source = harness.load_names(args.data_dir)
    cfg = ModelConfig(cell="gru", vocab_size=Vocab.from_texts(names).size, hidden=args.hidden, embed=64)
    params, _ = harness.warm_model(names, cfg)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        npz = str(Path(tmp) / "w.npz")
        np.savez(npz, **params)
        cs = Worker("charsmith", data_dir=args.data_dir)
        tw = None
        try:
            try:
                tw = Worker("torch", data_dir=args.data_dir)
            except RuntimeError as e:
                print(f"torch side unavailable: {e}")
            for n in [int(x) for x in args.n.split(",")]:
                cs("sample_setup", npz=npz, hidden=args.hidden, embed=64, n=n)
                probe = cs("sample_run", reps=2)
                reps = max(1, int(args.seconds * 2 / probe["seconds"]))
                sides = {"charsmith": lambda reps=reps: cs("sample_run", reps=reps)}
                if tw is not None:
                    tw("sample_setup", npz=npz, hidden=args.hidden, embed=64, n=n)
                    for t in (os.cpu_count() or 1, 1):
                        sides[f"torch_{t}t"] = (lambda t=t, reps=reps: (tw("threads", n=t), tw("sample_run", reps=reps, cap=2 * args.seconds))[1])
                    tw("sample_run", reps=1)
                rates: dict[str, list[float]] = {k: [] for k in sides}
                order = list(sides)
                for r in range(args.rounds):
                    for k in (order if r % 2 == 0 else order[::-1]):
                        res = sides[k]()
                        rates[k].append(res["units"] / res["seconds"])
                row = {"hidden": args.hidden, "n": n, "rates": {k: statistics.median(v) for k, v in rates.items()}}
                tsides = [k for k in sides if k.startswith("torch")]
                if tsides:
                    per = [rates["charsmith"][i] / max(rates[t][i] for t in tsides) for i in range(args.rounds)]
                    row["ratio_vs_best_torch"] = statistics.median(per)
                    row["torch_best_rate"] = statistics.median(max(rates[t][i] for t in tsides) for i in range(args.rounds))
                rows.append(row)
                print(f"GRU H{args.hidden} n={n}: charsmith {row['rates']['charsmith']:,.0f} names/s"
                      + (f", torch best {row['torch_best_rate']:,.0f}, ratio {row['ratio_vs_best_torch']:.2f}x" if tsides else ""),
                      flush=True)
        finally:
            cs.close()
            if tw is not None:
                tw.close()
    write_json(args.json, {"command": command_line(), "rows": rows, "source": source})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
