"""Classification of names by language on several splits: does a figure hold beyond one split?

    python benchmarks/lang_splits.py --splits 7,20261126,1 --tag tuning   # the splits the choices were made on
    python benchmarks/lang_splits.py --splits 2,3 --tag final             # splits never looked at before
    python benchmarks/lang_splits.py --table                              # only rewrite the QUALITY.md section

For each split (``lang_split.split`` with that seed: 10% of every language held out),
charsmith trains through its API on the training part for a fixed number of steps with its
defaults (a long labelled list: the network, then its mixture with the n-gram model,
``charsmith.netmix``), and classifies every held-out name, with the training priors and with
equal ones. The same checkpoint is also read with Bayes' rule on the mixture's likelihood
(the calibration dropped, as mixtures classified before ``charsmith.calibration``), and a
Witten-Bell trigram Naive Bayes (``lang_trigram``) is fitted on the same training part.

Results: ``benchmarks/results/lang_splits_<tag>.json``; the section "Names by language:
classification across splits" of ``benchmarks/QUALITY.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import lang_trigram  # noqa: E402
import numpy as np  # noqa: E402
from lang_categories import accuracy  # noqa: E402
from lang_split import split, write_tsv  # noqa: E402
from quality_common import write_section  # noqa: E402

import charsmith  # noqa: E402
from charsmith.mixture import CALIBRATION, MixtureConfig  # noqa: E402

RESULTS = HERE / "results"


def bayes_rule(m: charsmith.CharModel) -> charsmith.CharModel:
    """The same mixture classifying by Bayes' rule on its likelihood (no calibration)."""
    model = m.ckpt.model
    assert isinstance(model, MixtureConfig) and model.calibrated, "the default run on a long labelled list is a mixture"
    params = {k: v for k, v in m.ckpt.params.items() if k != CALIBRATION}
    return charsmith.CharModel(dataclasses.replace(m.ckpt, model=dataclasses.replace(model, calibrated=False),
                                                   params=params))


def one_split(seed: int, data_dir: Path, steps: int) -> dict:
    train, test = split(data_dir, seed=seed)
    truth = [c for c, _ in test]
    items = [n for _, n in test]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_tsv(train, Path(tmp) / "train.tsv")
        m = charsmith.train(Path(tmp) / "train.tsv", Path(tmp) / "run", steps=steps, seed=0)
    seconds = time.perf_counter() - t0

    def rates(model: charsmith.CharModel, uniform: bool) -> dict[str, float]:
        return accuracy(truth, [r.best for r in model.classify(items, top=1, uniform_prior=uniform)])

    bayes = bayes_rule(m)
    nb = lang_trigram.fit(train, sorted({ch for _, n in train + test for ch in n}))
    return {"seed": seed, "test": len(test), "train": len(train), "train_seconds": round(seconds, 1),
            "calibration": m.ckpt.info["mix"]["calibration"],
            "calibrated": rates(m, False), "calibrated_uniform": rates(m, True),
            "bayes": rates(bayes, False), "bayes_uniform": rates(bayes, True),
            "trigram": accuracy(truth, nb.classify(items))}


def table() -> None:
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("lang_splits_*.json"))]
    if not runs:
        return
    lines = [
        "Classification of every held-out name (10% of each language) on several splits (`lang_split.split` with "
        "each seed), charsmith trained with its defaults for a fixed number of steps: the mixture of the network "
        "and the n-gram model, classifying by its two parts weighed on its held-out items (`charsmith.calibration`), "
        "and the same checkpoint read with Bayes' rule on the mixture's likelihood, as mixtures classified before. "
        "The trigram is the Witten-Bell trigram Naive Bayes on the same training part. Goals: micro ≥ 0.87 and "
        "macro ≥ 0.60 with the training priors. Cells: micro / macro.",
        "",
        "| splits | seed | calibrated | calibrated, uniform prior | Bayes' rule on the mixture "
        "| Bayes' rule, uniform prior | trigram NB | a (network, n-gram) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def cell(r: dict) -> str:
        return f"{r['micro']:.3f} / {r['macro']:.3f}"

    for run in runs:
        for s in run["splits"]:
            lines.append(f"| {run['tag']} | {s['seed']} | {cell(s['calibrated'])} | {cell(s['calibrated_uniform'])} "
                         f"| {cell(s['bayes'])} | {cell(s['bayes_uniform'])} | {cell(s['trigram'])} "
                         f"| {s['calibration'][0]:.2f}, {s['calibration'][1]:.2f} |")
        mean = {k: {m: float(np.mean([s[k][m] for s in run["splits"]])) for m in ("micro", "macro")}
                for k in ("calibrated", "calibrated_uniform", "bayes", "bayes_uniform", "trigram")}
        lines.append(f"| {run['tag']} | mean | {cell(mean['calibrated'])} | {cell(mean['calibrated_uniform'])} "
                     f"| {cell(mean['bayes'])} | {cell(mean['bayes_uniform'])} | {cell(mean['trigram'])} | |")
    lines += ["", *[f"- {run['tag']}: `{run['command']}` ({run['date']}, {run['steps']:,} steps a split)"
                    for run in runs]]
    notes = RESULTS / "lang_splits_notes.md"
    if notes.is_file():
        lines += ["", notes.read_text(encoding="utf-8").strip()]
    write_section(HERE / "QUALITY.md", "Names by language: classification across splits", "\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--splits", default="7,20261126,1", help="split seeds, comma-separated")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--data-dir", type=Path, default=HERE.parents[1] / "shared" / "data")
    p.add_argument("--tag", default="tuning", help="name of this set of splits (its own results file)")
    p.add_argument("--table", action="store_true", help="only rewrite the QUALITY.md section")
    args = p.parse_args()
    if not args.table:
        seeds = [int(s) for s in args.splits.split(",")]
        splits = []
        for seed in seeds:
            splits.append(one_split(seed, args.data_dir, args.steps))
            print(json.dumps(splits[-1]), file=sys.stderr)
        RESULTS.mkdir(exist_ok=True)
        out = {"tag": args.tag, "steps": args.steps, "date": str(datetime.date.today()), "splits": splits,
               "command": f"python benchmarks/lang_splits.py --splits {args.splits} --steps {args.steps} --tag {args.tag}"}
        (RESULTS / f"lang_splits_{args.tag}.json").write_text(json.dumps(out, indent=1) + "\n")
    table()


if __name__ == "__main__":
    main()
