"""The C# export on Mono: names/s, time from loading to the first name, and held-out loss,
against a trigram Markov generator written in C# (the baseline a game developer would write).

    python benchmarks/bench_csharp.py [--rounds 3] [--seconds 3] [--data-dir DIR] [--json OUT]

For ``dinosaurs`` and ``languages`` (Japanese), each bundled model is exported with
``charsmith.export.csharp`` (float32) and compiled with ``benchmarks/csharp/Bench.cs`` and
``Trigram.cs`` (``mcs -optimize+``); each round runs, in one Mono process:

- load: ``new Generator()`` (base64 weights decoded, widened, the input table built), then the
  first name, ``Sample(1)``, as a game calls it (JIT compilation included);
- held-out loss: the names charsmith held out when it trained the model (the same split:
  ``val_fraction`` 0.1, seed 0, each language on its own), each scored under its own
  category with the export's ``Score`` and with the trigram (interpolated Witten-Bell, fitted
  on the training names of that category at start-up); nats per character, end token included;
- speed: ``Sample(100)`` in a loop for ``--seconds`` (temperature 1, at most 50 characters),
  then the trigram's ``Sample`` for as long: names per second of each, per CPU-second of the
  process (steady on a busy machine) and per wall-clock second, and the ratio of the CPU rates,
  measured in the same process one after the other.

Also the wall clock of ``mono bench.exe first`` (start the runtime, load, first name, exit).
Medians over rounds. Needs Mono (``mcs``, ``mono``) and the shared data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import DEFAULT_DATA_DIR, command_line, parser

import charsmith
from charsmith._corpus import load_corpus, make_labelled_corpus
from charsmith._labelled import read_labelled
from charsmith.export import csharp

HERE = Path(__file__).resolve().parent
MODELS = {"dinosaurs": ("dinos.txt", None), "languages": ("names_by_language", "Japanese")}


def held_out(model: charsmith.CharModel, data: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(category, name) pairs of training and held-out names, split as the model's training split them."""
    rng = np.random.default_rng(model.ckpt.train.seed)  # type: ignore[union-attr]
    frac = model.ckpt.train.val_fraction  # type: ignore[union-attr]
    if model.categories:
        c = make_labelled_corpus(read_labelled(data, lowercase=model.lowercase), val_fraction=frac, rng=rng)
        names = c.categories.names  # type: ignore[union-attr]
        return ([(names[k], s) for k, s in zip(c.train_cats, c.train)],  # type: ignore[arg-type]
                [(names[k], s) for k, s in zip(c.val_cats, c.val)])  # type: ignore[arg-type]
    c = load_corpus(data, mode="lines", lowercase=model.lowercase, val_fraction=frac, rng=rng)
    return [("", s) for s in c.train], [("", s) for s in c.val]


def build(name: str, folder: Path) -> Path:
    m = charsmith.load(name)
    csharp.export(m, folder / "Generator.cs")
    exe = folder / "bench.exe"
    subprocess.run(["mcs", "-optimize+", f"-out:{exe}", str(folder / "Generator.cs"), str(HERE / "csharp" / "Bench.cs"),
                    str(HERE / "csharp" / "Trigram.cs")], check=True)
    return exe


def run(name: str, data_dir: Path, rounds: int, seconds: float) -> dict:
    file, category = MODELS[name]
    m = charsmith.load(name)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        exe = build(name, folder)
        train, val = held_out(m, data_dir / file)
        for path, pairs in (("train.tsv", train), ("val.tsv", val)):
            (folder / path).write_text("".join(f"{c}\t{s}\n" for c, s in pairs), encoding="utf-8")
        (folder / "alphabet.txt").write_text(m.ckpt.vocab.chars[1:], encoding="utf-8")
        results: dict[str, list[float]] = {}
        for _ in range(rounds):
            t = time.perf_counter()
            subprocess.run(["mono", str(exe), "first", category or ""], check=True, capture_output=True)
            results.setdefault("process_first_name_ms", []).append(1000 * (time.perf_counter() - t))
            out = subprocess.run(["mono", str(exe), "run", category or "", str(folder / "train.tsv"),
                                  str(folder / "val.tsv"), str(folder / "alphabet.txt"), str(seconds)],
                                 check=True, capture_output=True, text=True).stdout
            for line in out.splitlines():
                key, value = line.split()
                results.setdefault(key, []).append(float(value))
    summary = {k: statistics.median(v) for k, v in results.items()}
    ratios = [a / b for a, b in zip(results["model_names_per_cpu_s"], results["trigram_names_per_cpu_s"])]
    summary["speed_ratio"] = statistics.median(ratios)
    summary["speed_ratio_range"] = [min(ratios), max(ratios)]
    summary["export_bytes"] = len(csharp.render(m, "Generator", csharp.weight_bytes(m, "float32"), "float32", None, None))
    summary["category"] = category
    summary["rounds"] = rounds
    return summary


def table(results: dict) -> str:
    rows = ["| model | .cs size (MiB) | load → first name, CPU (wall) | `mono` start → first name, wall | names / CPU-s, ours "
            "(wall) | names / CPU-s, trigram | ours / trigram | held-out nats/char, ours / trigram |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results["models"].items():
        label = name + (f" ({r['category']})" if r["category"] else "")
        rows.append(f"| {label} | {r['export_bytes'] / (1 << 20):.2f} MB | {r['model_first_name_cpu_ms']:.0f} ms "
                    f"({r['model_first_name_ms']:.0f} ms) | {r['process_first_name_ms']:.0f} ms | "
                    f"{r['model_names_per_cpu_s']:,.0f} ({r['model_names_per_s']:,.0f}) | "
                    f"{r['trigram_names_per_cpu_s']:,.0f} | {r['speed_ratio']:.4f} | "
                    f"{r['model_heldout_nats']:.4f} / {r['trigram_heldout_nats']:.4f} |")
    return "\n".join(rows)


def main() -> int:
    ap = parser(__doc__)
    ap.set_defaults(rounds=3, seconds=3.0)
    args = ap.parse_args()
    if not (shutil.which("mcs") and shutil.which("mono")):
        print("Mono is not installed (mcs, mono): apt-get install mono-mcs mono-runtime", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir) if args.data_dir else DEFAULT_DATA_DIR
    mono = subprocess.run(["mono", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    load = os.getloadavg()[0]
    results = {"command": command_line(), "mono": mono, "cores": os.cpu_count(),
               "models": {name: run(name, data_dir, args.rounds, args.seconds) for name in MODELS}}
    results["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]  # 1-minute, before and after
    print(table(results))
    print(f"\n{mono}; {os.cpu_count()} cores; 1-minute load average {results['load_average'][0]} before, "
          f"{results['load_average'][1]} after")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
