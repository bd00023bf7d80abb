"""Where charsmith's training step spends its time (cProfile, own time per function).

    python benchmarks/bench_profile.py [--sizes gru:128:32,rnn:50:256:0,lstm:256:256] [--steps 300] [--json OUT]

Each size is cell:hidden:batch[:embed] (embed 64 unless given; 0 = one-hot). Reports the
functions with the largest share of the step's own time, and the share spent in the
compiled recurrence, the matmuls and the rest. cProfile inflates per-call overhead; read
the shares, not the absolute times.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cProfile  # noqa: E402
import pstats  # noqa: E402
from typing import Any  # noqa: E402

import harness  # noqa: E402
from _common import command_line, parser, write_json  # noqa: E402

from charsmith.config import ModelConfig  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--sizes", default="gru:128:32,rnn:50:256:0,lstm:256:256")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args(argv)
    names, source = harness.load_names(args.data_dir)
    out = []
    for spec in args.sizes.split(","):
        parts = spec.split(":")
        cell, H, B = parts[0], int(parts[1]), int(parts[2])
        E = int(parts[3]) if len(parts) > 3 else 64
        vocab, batches = harness.make_batches(names, B, seed=0)
        cfg = ModelConfig(cell=cell, vocab_size=vocab.size, hidden=H, embed=E)
        tr = harness.CharsmithTrainer(cfg)
        for b in batches[:5]:
            tr.step(b)
        prof = cProfile.Profile()
        prof.enable()
        for i in range(args.steps):
            tr.step(batches[i % len(batches)])
        prof.disable()
        st = pstats.Stats(prof)
        total = sum(v[2] for v in st.stats.values())  # own time
        rows = []
        for (file, line, fn), v in st.stats.items():
            rel = file.split("/src/")[-1] if "/src/" in file else file.split("site-packages/")[-1]
            rows.append({"func": f"{rel}:{line}({fn})" if line else fn, "calls": v[1], "tottime": v[2], "share": v[2] / total})
        rows.sort(key=lambda r: -r["tottime"])
        def share(pred: Any, rows: list[dict[str, Any]] = rows) -> float:
            return sum(r["share"] for r in rows if pred(r["func"]))

        def kernel(name: str) -> Any:
            return lambda f: "backend/compiled.py" in f and f.endswith(f"({name})")

        groups = {
            "compiled recurrence (a layer's whole time loop per call; cProfile books the C time here)": share(kernel("recurrence")),
            "matmuls over all timesteps (the backend's matmul)": share(kernel("matmul")),
            "compiled output layer + loss, scatter by id, Adam": share(
                lambda f: any(kernel(n)(f) for n in ("head_xent", "_softmax_xent", "scatter_cols", "adam"))),
            "NumPy cells per timestep (used only without the compiled kernels)": share(lambda f, cell=cell: "charsmith/nn/" + cell in f),
            "layer glue (nn/layer.py)": share(lambda f: "nn/layer.py" in f),
            "model.py (forward/backward/checks)": share(lambda f: "charsmith/model.py" in f),
            "loss (nn/loss.py)": share(lambda f: "nn/loss.py" in f),
            "optimiser + clipping (optim.py)": share(lambda f: "charsmith/optim.py" in f),
        }
        item = {"size": f"{cell} E{E} H{H} B{B}", "steps": args.steps, "top": rows[: args.top], "groups": groups}
        out.append(item)
        print(f"== {item['size']}, {args.steps} steps ==")
        for r in rows[: args.top]:
            print(f"  {100 * r['share']:5.1f}%  {r['calls']:>8}  {r['func']}")
        for g, s in groups.items():
            print(f"  group {g}: {100 * s:.1f}%")
    write_json(args.json, {"command": command_line(), "profiles": out, "source": source})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
