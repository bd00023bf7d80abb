"""References for the names-by-language benchmark: held-out NLL per character and accuracy.

    python benchmarks/lang_refs.py                        # all four, 5 minutes each
    python benchmarks/lang_refs.py --minutes 1 --only trigram,classifier

On the shared split of ``lang_split`` (10% of every category held out), each reference gets the
same wall-clock training budget, one torch thread, and is measured on the held-out names:

- ``trigram``: a per-category Witten-Bell character trigram (``lang_trigram``); conditional NLL
  per character with the end token, and Naive Bayes accuracy with the training and a uniform
  prior. Counting takes about a second, so it is fitted completely well inside the budget.
- ``generator``: the "Generating Names with a Character-Level RNN" tutorial's conditional RNN;
  the same conditional NLL per character.
- ``classifier``: the "Classifying Names with a Character-Level RNN" tutorial's RNN; accuracy.
- ``gru``: a batched GRU classifier, for scale; accuracy.

Accuracy is micro (all held-out names) and macro (mean per-category recall). Results are merged
into ``benchmarks/results/lang_refs.json`` (one entry per reference, with its budget, steps,
environment, load average at start and end, and command) and the table of all recorded
references is printed as markdown.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lang_split  # noqa: E402
import lang_trigram  # noqa: E402

RESULTS = HERE / "results" / "lang_refs.json"
REFERENCES = ("trigram", "generator", "classifier", "gru")
LABELS = {
    "trigram": "Witten-Bell trigram (Naive Bayes)",
    "generator": "tutorial generator (conditional RNN)",
    "classifier": "tutorial classifier (i2h/i2o RNN)",
    "gru": "GRU classifier",
}
Pair = tuple[str, str]


def alphabet(pairs: Sequence[Pair]) -> list[str]:
    """Every character of the data, sorted (the split's held-out names included)."""
    return sorted({ch for _, name in pairs for ch in name})


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> tuple[float, float]:
    """(micro, macro): the share of all items right, and the mean of the per-category recalls."""
    right: dict[str, list[bool]] = {}
    for t, p in zip(truth, predicted, strict=True):
        right.setdefault(t, []).append(t == p)
    micro = sum(sum(r) for r in right.values()) / len(truth)
    return micro, float(np.mean([np.mean(r) for r in right.values()]))


def read_both_priors(log_probs: np.ndarray, native: str, truth: Sequence[str], categories: Sequence[str],
                     log_prior: np.ndarray) -> dict[str, float]:
    """Accuracy of a classifier's ``log_probs`` (N, C) with its ``native`` prior as it is, and
    with the other one by Bayes' rule: log q(c|x) - log prior_c + log prior'_c."""
    uniform = log_probs - log_prior if native == "training" else log_probs  # (N, C), up to a row constant
    out = {}
    for prior, scores in (("training", uniform + log_prior), ("uniform", uniform)):
        pred = [categories[i] for i in scores.argmax(1)]
        out[f"micro_{prior}_prior"], out[f"macro_{prior}_prior"] = accuracy(truth, pred)
    return out


def trigram(train: Sequence[Pair], test: Sequence[Pair], chars: Sequence[str],
            data_dir: Path) -> dict[str, Any]:
    """Fit, then NLL and Naive Bayes accuracy; plus the same figures on four other split seeds."""

    def measure(tr: Sequence[Pair], te: Sequence[Pair]) -> dict[str, float]:
        start = time.perf_counter()
        lm = lang_trigram.fit(tr, chars)
        out = {"train_seconds": time.perf_counter() - start, "nll_per_char": lm.nll_per_char(te)}
        truth, names = [c for c, _ in te], [n for _, n in te]
        for prior in ("training", "uniform"):
            pred = lm.classify(names, uniform_prior=prior == "uniform")
            out[f"micro_{prior}_prior"], out[f"macro_{prior}_prior"] = accuracy(truth, pred)
        return out

    # the same figures on other splits show how much they move with the split alone
    others = {str(s): measure(*lang_split.split(data_dir, seed=s)) for s in (1, 2, 3, 4)}
    return {**measure(train, test), "steps": None, "unit": "complete fit (counts)", "other_split_seeds": others}


def torch_reference(name: str) -> Callable[..., dict[str, Any]]:
    """The torch-based reference ``name``, with torch pinned to one thread."""
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    import lang_tutorial_rnns as rnns

    return {"generator": rnns.generator, "classifier": rnns.classifier, "gru": rnns.gru_classifier}[name]


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "numpy": np.__version__,
                           "machine": platform.machine(), "cpus": os.cpu_count()}
    if "torch" in sys.modules:
        import torch

        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads(),
                   torch_interop_threads=torch.get_num_interop_threads())
    return env


def run(name: str, train: list[Pair], test: list[Pair], minutes: float, seed: int, data_dir: Path) -> dict[str, Any]:
    chars = alphabet(train + test)
    categories = sorted({c for c, _ in train})
    load_start = os.getloadavg()
    started = datetime.datetime.now().isoformat(timespec="seconds")
    if name == "trigram":
        result = trigram(train, test, chars, data_dir)
    else:
        result = torch_reference(name)(train, test, chars, categories, 60 * minutes, seed=seed)
    if "log_probs" in result:
        counts = Counter(c for c, _ in train)
        log_prior = np.log(np.array([counts[c] for c in categories]) / len(train))
        native = result["native_prior"]
        result.update(read_both_priors(result.pop("log_probs"), native, [c for c, _ in test], categories, log_prior))
        result["reweighted_prior"] = "training" if native == "uniform" else "uniform"
    return {"label": LABELS[name], **result, "budget_minutes": minutes, "seed": seed, "started": started,
            "load_average_start": load_start, "load_average_end": os.getloadavg(), "environment": environment(),
            "command": f"python benchmarks/lang_refs.py --minutes {minutes:g} --only {name}"
                       + (f" --seed {seed}" if seed else "")}


def split_info(train: list[Pair], test: list[Pair]) -> dict[str, Any]:
    overlap = lang_split.overlap(train, test)
    seen = {ch for _, name in train for ch in name}
    unseen = Counter(ch for _, name in test for ch in name if ch not in seen)
    return {"seed": lang_split.SEED, "fraction": 0.1, "train_names": len(train), "test_names": len(test),
            "alphabet_size": len(alphabet(train + test)), "test_chars_not_in_training": dict(unseen),
            "overlap": {c: {"also_in_training": a, "held_out": b} for c, (a, b) in overlap.items()},
            "overlap_total": sum(a for a, _ in overlap.values())}


def _fmt(r: dict[str, Any], key: str) -> str:
    if key not in r:
        return ""
    return f"{r[key]:.3f}" + (" †" if r.get("reweighted_prior") == key.split("_")[1] else "")


def table(results: dict[str, Any]) -> str:
    lines = [("| reference | budget | steps reached | held-out nats/char | micro (training prior) | "
              "macro (training prior) | micro (uniform prior) | macro (uniform prior) |"),
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in REFERENCES:
        r = results["references"].get(name)
        if r is None:
            continue
        steps = r["unit"] if r["steps"] is None else f"{r['steps']:,} {r['unit']}"
        nll = f"{r['nll_per_char']:.4f}" if "nll_per_char" in r else ""
        cells = [_fmt(r, f"{a}_{p}_prior") for p in ("training", "uniform") for a in ("micro", "macro")]
        lines.append(f"| {r['label']} | {r['budget_minutes']:g} min | {steps} | {nll} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overlap_table(split: dict[str, Any]) -> str:
    lines = ["| category | held out | also in training |", "| --- | --- | --- |"]
    for c, o in split["overlap"].items():
        lines.append(f"| {c} | {o['held_out']} | {o['also_in_training']} |")
    lines.append(f"| all | {split['test_names']} | {split['overlap_total']} |")
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="wall-clock training budget per reference (default 5)")
    ap.add_argument("--only", default=",".join(REFERENCES), help=f"comma-separated subset of {','.join(REFERENCES)}")
    ap.add_argument("--seed", type=int, default=0, help="training seed of the torch references (default 0)")
    ap.add_argument("--data-dir", type=Path, default=HERE.parents[1] / "shared" / "data",
                    help="folder holding names_by_language/ (default: <repo>/../shared/data)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="results file to merge into")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(REFERENCES))
    if unknown or not chosen:
        ap.error(f"--only: unknown reference {', '.join(unknown) or '(none given)'}; choose from {', '.join(REFERENCES)}")
    if args.minutes <= 0:
        ap.error("--minutes must be positive")
    try:
        train, test = lang_split.split(args.data_dir)
    except FileNotFoundError as e:
        sys.exit(f"error: {e} (pass --data-dir)")

    split = split_info(train, test)
    results: dict[str, Any] = {"split": split, "references": {}}
    if args.out.exists():
        old = json.loads(args.out.read_text(encoding="utf-8"))
        if old.get("split", {}).get("seed") == split["seed"]:
            results["references"] = old.get("references", {})
    for name in chosen:
        print(f"{name}: training for {args.minutes:g} min ...", file=sys.stderr, flush=True)
        results["references"][name] = run(name, train, test, args.minutes, args.seed, args.data_dir)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, json.dumps(results, indent=1) + "\n")
    print(table(results))
    print("\n† read with the other prior by Bayes' rule (log q(c|x) + or - log prior_c), not the model's own.\n")
    print(overlap_table(split))


if __name__ == "__main__":
    main()
