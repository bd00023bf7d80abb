"""Sampling as users run it: the bundled models through the CLI and the API, and PyTorch on
the same weights.

    python benchmarks/bench_sample.py [--rounds 3] [--seconds 1.5] [--n 100000] [--api-n 10000]
                                      [--json OUT] [--write] [--conditions TEXT] [--rewrite JSON]

Every figure is measured on a bundled model, the way users run it:

- CLI, end to end: the wall clock of ``charsmith sample MODEL -n N --allow-known > FILE`` run
  as a subprocess (Python start, imports, model load, sampling, writing the file):
  ``dinosaurs`` with N = ``--n`` on the default threads and with ``--threads 1``, and the
  bigger networks ``names`` and ``languages --category Japanese`` with N = ``--n`` / 10.
- API, warm: ``CharModel.sample(api_n, allow_known=True)`` in a process that has sampled
  already, on the default thread budget (every core) and on one
  (``backend.use(backend.current().with_threads(1))``), with ``OPENBLAS_NUM_THREADS`` unset,
  as in a user's script; and, for the record, as it was before sampling kept the BLAS on one
  thread under the kernels (``blas_on_one_thread`` made a no-op).
- PyTorch, same weights: the bundled ``dinosaurs`` weights copied into
  ``torch_reference.TorchCharModel`` (``nn.Embedding`` -> ``nn.GRU`` -> ``nn.Linear``), the
  same maths: the whole batch one step at a time, softmax(logits / temperature) (after top-k
  when given), ``torch.multinomial``, rows dropped as they end, decoded to strings;
  ``api_n`` names per call, under ``inference_mode``; the faster of 1 and 2 torch threads.
- Novelty: ``CharModel.sample(n)`` with the filter on (the default): plain draws per item
  returned, against the least possible (draws per novel item: 1 / the share of draws that
  are novel).

Each warm side runs in a child process of its own, timed for ``--seconds`` after a warm-up
call; in each round all sides run one after another, in an order that alternates between
rounds. Ratios are medians of the per-round ratios, with their range. ``--write`` replaces
the "Sampling as users run it" section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import HERE, command_line, parser, write_json, write_section

SECTION = "# Sampling as users run it"
CLI_CASES = {  # name: (model, extra options, share of --n)
    "dinosaurs": ("dinosaurs", [], 1.0),
    "dinosaurs --threads 1": ("dinosaurs", ["--threads", "1"], 1.0),
    "names": ("names", [], 0.1),
    "languages --category Japanese": ("languages", ["--category", "Japanese"], 0.1),
}
WARM_SIDES = {"api": ("charsmith", 0), "api --threads 1": ("charsmith", 1),
              "api, BLAS threads not pinned": ("unpinned", 0),  # as before: OpenBLAS's threads under the kernels'
              "torch 2 threads": ("torch", 2), "torch 1 thread": ("torch", 1)}


# ----- the child processes ---------------------------------------------------------------
def child(side: str, threads: int, n: int, seconds: float, temperature: float, top_k: int) -> dict[str, Any]:
    """Names per second of one warm side, sampling ``n`` names per call from ``dinosaurs``."""
    import charsmith
    from charsmith import backend
    from charsmith.vocab import END

    m = charsmith.load("dinosaurs")
    if side == "torch":
        import torch
        import torch_reference as tr

        torch.set_num_threads(threads)
        model = torch_model(m)
        gen = torch.Generator().manual_seed(0)
        end, chars = m.ckpt.vocab.index(END), m.ckpt.vocab.chars

        def call(seed: int) -> int:
            return len(tr.sample_names(model, n, end, chars, generator=gen, temperature=temperature, top_k=top_k))
    else:
        if side == "unpinned":  # sampling as it was: the steps leave the BLAS's own threads on
            import contextlib

            from charsmith.backend.compiled import Compiled

            Compiled.blas_on_one_thread = lambda self: contextlib.nullcontext()  # type: ignore[method-assign]
        be = backend.current().with_threads(threads) if threads else backend.current()

        def call(seed: int) -> int:
            with backend.use(be):
                return len(m.sample(n, seed=seed, allow_known=True, temperature=temperature, top_k=top_k).samples)

    call(0)  # warm: the kernels' check, caches, the pace
    names, calls, t0 = 0, 0, time.perf_counter()
    while calls < 2 or time.perf_counter() - t0 < seconds:
        names += call(calls + 1)
        calls += 1
    return {"rate": names / (time.perf_counter() - t0), "calls": calls}


def torch_model(m: Any) -> Any:
    """The bundled model's weights in ``torch_reference.TorchCharModel``. charsmith's GRU bias
    ``b`` is b_ih + b_hh but in the n gate, whose b_hh part is ``b_hn``; weights are (in, out)."""
    import numpy as np
    import torch
    import torch_reference as tr

    cfg, P = m.ckpt.model, m.ckpt.params
    if cfg.categories or cfg.embed == 0:
        raise ValueError("torch_model copies models with an embedding and without categories")
    model = tr.TorchCharModel(cfg.cell, cfg.vocab_size, cfg.hidden, cfg.embed, cfg.layers)
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))  # noqa: E731
    with torch.no_grad():
        model.emb.weight.copy_(t(P["wte"]))
        for i in range(cfg.layers):
            rnn = model.rnn
            getattr(rnn, f"weight_ih_l{i}").copy_(t(P[f"l{i}.W_ih"].T))
            getattr(rnn, f"weight_hh_l{i}").copy_(t(P[f"l{i}.W_hh"].T))
            getattr(rnn, f"bias_ih_l{i}").copy_(t(P[f"l{i}.b"]))
            b_hh = np.zeros_like(P[f"l{i}.b"])
            if cfg.cell == "gru":
                b_hh[2 * cfg.hidden:] = P[f"l{i}.b_hn"]
            getattr(rnn, f"bias_hh_l{i}").copy_(t(b_hh))
        model.head.weight.copy_(t(P["W_out"].T))
        model.head.bias.copy_(t(P["b_out"]))
    return model.eval()


def run_child(name: str, args: argparse.Namespace) -> dict[str, Any]:
    side, threads = WARM_SIDES[name]
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", side, "--threads", str(threads),
           "--api-n", str(args.api_n), "--seconds", str(args.seconds), "--temperature", str(args.temperature),
           "--top-k", str(args.top_k)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ----- the CLI and novelty ---------------------------------------------------------------
def charsmith_command() -> list[str]:
    """The ``charsmith`` script beside this Python (what users run), else ``python -m charsmith``."""
    script = Path(sys.executable).with_name("charsmith")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "charsmith"]


def time_cli(name: str, n_total: int, out: Path) -> dict[str, Any]:
    model, extra, share = CLI_CASES[name]
    n = max(1, int(n_total * share))
    cmd = [*charsmith_command(), "sample", model, "-n", str(n), "--allow-known", *extra]
    with out.open("w") as f:
        t0 = time.perf_counter()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True)
        took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    with out.open() as f:
        lines = sum(1 for _ in f)
    if lines != n:
        raise RuntimeError(f"{' '.join(cmd)} wrote {lines} lines, not {n}")
    return {"n": n, "seconds": took, "rate": n / took}


def novelty(models: tuple[str, ...], sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Plain draws per returned item with the novelty filter on, against the least possible."""
    import charsmith

    rows = []
    for name in models:
        m = charsmith.load(name)
        for n in sizes:
            r = m.sample(n, seed=0)
            examined = len(r.samples) + r.dropped_known  # draws the filter looked at before the n-th item
            rows.append({"model": name, "n": n, "returned": len(r.samples), "drawn": r.drawn,
                         "dropped_known": r.dropped_known, "draws_per_item": r.drawn / len(r.samples),
                         "least": examined / len(r.samples)})
    return rows


# ----- the run ---------------------------------------------------------------------------
def ratios(rounds: list[dict[str, Any]], num: str, den: list[str]) -> dict[str, Any] | None:
    per = [r[num] / max(r[d] for d in den) for r in rounds if r.get(num) and all(r.get(d) for d in den)]
    return {"median": statistics.median(per), "range": [min(per), max(per)]} if per else None


def main(argv: list[str] | None = None) -> int:
    ap = parser(__doc__)
    ap.add_argument("--n", type=int, default=100_000, help="names written by the dinosaurs CLI runs (default 100000)")
    ap.add_argument("--api-n", type=int, default=10_000, dest="api_n", help="names per warm call (default 10000)")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-k", type=int, default=0, dest="top_k")
    ap.add_argument("--no-torch", action="store_true", dest="no_torch")
    ap.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    ap.add_argument("--conditions", default="", help="a sentence on the machine's state, for the section")
    ap.add_argument("--rewrite", metavar="JSON", help="only rewrite the section from a previous run's --json output")
    ap.add_argument("--child", choices=("charsmith", "unpinned", "torch"), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.rewrite:
        payload = json.loads(Path(args.rewrite).read_text(encoding="utf-8"))
        payload["conditions"] = args.conditions or payload.get("conditions", "")
        write_json(args.rewrite, payload)
        write_section(HERE / "RESULTS.md", SECTION, section(payload))
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.threads, args.api_n, args.seconds, args.temperature, args.top_k)))
        return 0
    sides = [*CLI_CASES, *(k for k in WARM_SIDES if not (args.no_torch and k.startswith("torch")))]
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        for r in range(args.rounds):
            got: dict[str, Any] = {}
            for name in sides if r % 2 == 0 else sides[::-1]:
                res = time_cli(name, args.n, out) if name in CLI_CASES else run_child(name, args)
                got[name] = res.get("rate")
                print(f"round {r}: {name}: " + (f"{res['rate']:,.0f} names/s" if "rate" in res else res["error"]),
                      flush=True)
            rounds.append(got)
    rates = {k: statistics.median(r[k] for r in rounds if r.get(k)) for k in sides if any(r.get(k) for r in rounds)}
    torches = [k for k in WARM_SIDES if k.startswith("torch") and k in rates]
    payload = {
        "command": command_line(), "date": datetime.datetime.now(datetime.UTC).isoformat(),
        "environment": environment(), "load_after": os.getloadavg(), "n": args.n, "api_n": args.api_n,
        "temperature": args.temperature, "top_k": args.top_k, "rounds": rounds, "rates": rates,
        "conditions": args.conditions,
        "cli_n": {name: max(1, int(args.n * share)) for name, (_, _, share) in CLI_CASES.items()},
        "ratios": {
            "api_vs_torch": ratios(rounds, "api", torches) if torches else None,
            "cli_2_vs_1_threads": ratios(rounds, "dinosaurs", ["dinosaurs --threads 1"]),
            "api_2_vs_1_threads": ratios(rounds, "api", ["api --threads 1"]),
            "api_vs_unpinned": ratios(rounds, "api", ["api, BLAS threads not pinned"]),
        },
        "novelty": novelty(("dinosaurs", "names"), (10, 1000, 10_000)),
    }
    for row in payload["novelty"]:
        print(f"novelty {row['model']} n={row['n']}: {row['drawn']} draws ({row['draws_per_item']:.3f} per item, "
              f"least {row['least']:.3f})", flush=True)
    print(json.dumps(payload["ratios"]), flush=True)
    write_json(args.json, payload)
    if args.write:
        write_section(HERE / "RESULTS.md", SECTION, section(payload))
    return 0


def environment() -> dict[str, Any]:
    import numpy as np

    from charsmith import backend

    env: dict[str, Any] = {"cores": os.cpu_count(), "python": sys.version.split()[0], "numpy": np.__version__,
                           "engine": backend.status(), "threads": backend.current().threads}
    try:
        import torch

        env["torch"] = torch.__version__
    except ImportError:
        env["torch"] = None
    return env


def section(p: dict[str, Any]) -> list[str]:
    """The RESULTS.md section for the payload ``p``."""
    rates, rt, env = p["rates"], p["ratios"], p["environment"]

    def rate(key: str) -> str:
        return f"{rates[key]:,.0f}" if key in rates else "—"

    def ratio(key: str) -> str:
        x = rt.get(key)
        return f"**{x['median']:.2f}x** ({x['range'][0]:.2f}–{x['range'][1]:.2f})" if x else "—"

    sampling = f"temperature {p['temperature']:g}" + (f", top-k {p['top_k']}" if p["top_k"] else "")
    w = [SECTION, "",
         f"Made by `{p['command']}` on {p['date'][:16].replace('T', ' ')} UTC ({env['engine']}, {env['threads']} "
         f"threads, {env['cores']} cores; Python {env['python']}, NumPy {env['numpy']}, PyTorch {env['torch']}; load "
         f"average {p['load_after'][0]:.1f} when it ended: the machine is shared). Every figure is a bundled model "
         f"as users run it; {sampling}; medians over {len(p['rounds'])} rounds, the sides alternating."
         + (f" {p['conditions']}" if p.get("conditions") else ""), "",
         "**The command line, end to end** (the wall clock of the `charsmith` process: Python start, imports, "
         "model load, sampling, writing the file):", "",
         "| command | names | names/s | target |", "| --- | ---: | ---: | --- |"]
    for name, (model, extra, _) in CLI_CASES.items():
        target = "≥ 50,000 " + ("✓" if rates.get(name, 0) >= 50_000 else "✗") if name == "dinosaurs" else ""
        command = " ".join(["charsmith sample", model, "-n", str(p["cli_n"][name]), "--allow-known", *extra])
        w.append(f"| `{command} > out.txt` | {p['cli_n'][name]:,} | {rate(name)} | {target} |")
    w += ["", f"**Warm, through the API** (`CharModel.sample({p['api_n']:,}, allow_known=True)` on `dinosaurs`, "
          "GRU 1x128, in a process that has sampled already, `OPENBLAS_NUM_THREADS` unset) **against PyTorch on the "
          "same weights** (the bundled weights in `nn.GRU`, the same batched maths, "
          f"{p['api_n']:,} names per call):", "",
          "| side | names/s |", "| --- | ---: |"]
    for name in WARM_SIDES:
        w.append(f"| {name.replace('api', 'charsmith API')} | {rate(name)} |")
    w += ["", "| ratio (measured in the same rounds) | median (range) | target |", "| --- | ---: | --- |",
          f"| charsmith API ÷ the faster PyTorch | {ratio('api_vs_torch')} | ≥ 2x |",
          f"| CLI `dinosaurs`, default threads ÷ `--threads 1` | {ratio('cli_2_vs_1_threads')} | ≥ 1x |",
          f"| API, default threads ÷ one thread | {ratio('api_2_vs_1_threads')} | ≥ 1x |",
          f"| API ÷ the API with the BLAS's threads left on, as before | {ratio('api_vs_unpinned')} | |",
          "", "**Novelty filter** (`CharModel.sample(n, seed=0)`, items of the data set dropped): plain draws per "
          "item returned, against the least possible (the draws the filter examined up to the n-th novel item, per "
          "item). Rounds are sized from the acceptance rate observed so far, with a margin of two standard "
          "deviations; before, the first round drew about 2.2 n.", "",
          "| model | n | draws | dropped (known) | draws per item | least possible |",
          "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in p["novelty"]:
        w.append(f"| {row['model']} | {row['n']:,} | {row['drawn']:,} | {row['dropped_known']:,} | "
                 f"{row['draws_per_item']:.3f} | {row['least']:.3f} |")
    notes = HERE / "sampling_notes.md"
    if notes.is_file():
        w += ["", notes.read_text(encoding="utf-8").strip()]
    return [*w, ""]


if __name__ == "__main__":
    raise SystemExit(main())
