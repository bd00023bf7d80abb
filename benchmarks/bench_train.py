"""Training throughput (chars/s) of charsmith against the same model in PyTorch, same run.

    python benchmarks/bench_train.py [--cells gru,lstm,rnn] [--hidden 64,128,256,512]
                                     [--batch 32,256] [--seconds 1.5] [--rounds 3]
                                     [--blas2-from 512] [--data-dir DIR] [--json OUT]

Model: embedding 64 -> 1 recurrent layer -> linear head; Adam (0.9, 0.99), lr 3e-3,
global-norm clip 5; charsmith's own length-bucketed padded batches of makemore names, fed
to both sides as arrays/tensors prepared before timing. A character is a real target
(letters + end token, no padding). Each side runs in its own process; per round every side
trains on the *same* k batches (k calibrated so charsmith takes ~--seconds), alternating
A B C / C B A. PyTorch runs at 2 threads (= cores, as specified) and at 1 thread; the
headline ratio is against the faster of the two in each round. For hidden >= --blas2-from
charsmith is also run with OPENBLAS_NUM_THREADS=2.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import statistics  # noqa: E402
import time  # noqa: E402

from _common import Worker, command_line, parser, write_json  # noqa: E402


def ints(s: str) -> list[int]:
    return [int(x) for x in s.split(",") if x]


def run_config(workers: dict, cell: str, hidden: int, batch: int, seconds: float, rounds: int, blas2: bool) -> dict:
    cs, tw = workers["charsmith"], workers.get("torch")
    info = cs("train_setup", cell=cell, hidden=hidden, batch=batch)
    sides = {"charsmith": lambda s, k: cs("train_run", start=s, count=k)}
    if blas2:
        workers["charsmith_blas2"]("train_setup", cell=cell, hidden=hidden, batch=batch)
        sides["charsmith_blas2"] = lambda s, k: workers["charsmith_blas2"]("train_run", start=s, count=k, cap=2 * seconds)
    if tw is not None:
        tw("train_setup", cell=cell, hidden=hidden, batch=batch)

        def torch_at(n: int):
            def run(s: int, k: int) -> dict:
                tw("threads", n=n)
                return tw("train_run", start=s, count=k, cap=2 * seconds)
            return run

        cores = os.cpu_count() or 1
        sides[f"torch_{cores}t"] = torch_at(cores)
        if cores > 1:
            sides["torch_1t"] = torch_at(1)
    # warm-up every side, then calibrate k on charsmith
    for fn in sides.values():
        fn(0, 3)
    probe = cs("train_run", start=3, count=10)
    k = max(3, min(info["batches"], int(10 * seconds / probe["seconds"])))
    rates: dict[str, list[float]] = {n: [] for n in sides}
    gflops: dict[str, list[float]] = {n: [] for n in sides}
    names = list(sides)
    for r in range(rounds):
        start = 13 + r * k
        for n in (names if r % 2 == 0 else names[::-1]):
            res = sides[n](start, k)
            rates[n].append(res["units"] / res["seconds"])
            gflops[n].append(res["flops"] / res["seconds"] / 1e9)
    row = {"cell": cell, "hidden": hidden, "batch": batch, "k": k,
           "rates": {n: statistics.median(v) for n, v in rates.items()},
           "gflops": {n: statistics.median(v) for n, v in gflops.items()}, "per_round": rates}
    torch_sides = [n for n in names if n.startswith("torch")]
    if torch_sides:
        best = [max(rates[t][i] for t in torch_sides) for i in range(rounds)]
        per = [rates["charsmith"][i] / best[i] for i in range(rounds)]
        row["ratio_vs_best_torch"] = statistics.median(per)
        row["ratio_range"] = (min(per), max(per))
        cores = os.cpu_count() or 1
        row[f"ratio_vs_torch_{cores}t"] = statistics.median(
            rates["charsmith"][i] / rates[f"torch_{cores}t"][i] for i in range(rounds))
        row["torch_best_rate"] = statistics.median(best)
    if blas2:
        row["blas2_over_blas1"] = statistics.median(
            rates["charsmith_blas2"][i] / rates["charsmith"][i] for i in range(rounds))
    return row


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--cells", default="gru,lstm,rnn")
    ap.add_argument("--hidden", default="64,128,256,512")
    ap.add_argument("--batch", default="32,256")
    ap.add_argument("--blas2-from", type=int, default=512, help="also run charsmith on 2 BLAS threads from this hidden size")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    workers: dict = {"charsmith": Worker("charsmith", data_dir=args.data_dir)}
    torch_error = None
    if not args.no_torch:
        try:
            workers["torch"] = Worker("torch", data_dir=args.data_dir)
        except RuntimeError as e:
            torch_error = str(e)
    hiddens = ints(args.hidden)
    if any(h >= args.blas2_from for h in hiddens):
        workers["charsmith_blas2"] = Worker("charsmith", blas_threads=2, data_dir=args.data_dir)
    rows = []
    try:
        for cell in args.cells.split(","):
            for hidden in hiddens:
                for batch in ints(args.batch):
                    row = run_config(workers, cell, hidden, batch, args.seconds, args.rounds, hidden >= args.blas2_from)
                    rows.append(row)
                    r = row.get("ratio_vs_best_torch")
                    print(f"{cell:4} H{hidden:<4} B{batch:<4} charsmith {row['rates']['charsmith']:>10,.0f} chars/s"
                          + (f"  torch best {row['torch_best_rate']:>10,.0f}  ratio {r:5.2f}x"
                             f" (vs 2 threads {row.get('ratio_vs_torch_2t', float('nan')):.2f}x)" if r else "")
                          + (f"  BLAS2/BLAS1 {row['blas2_over_blas1']:.2f}" if "blas2_over_blas1" in row else ""),
                          flush=True)
    finally:
        for w in workers.values():
            w.close()
    payload = {"command": command_line(), "rows": rows, "seconds": time.perf_counter() - t_start,
               "torch_error": torch_error, "source": workers["charsmith"].hello.get("source")}
    write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
