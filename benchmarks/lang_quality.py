"""charsmith on the shared names_by_language split: conditional held-out NLL and classification.

    python benchmarks/lang_quality.py --minutes 5                  # the recorded run
    python benchmarks/lang_quality.py --minutes 5 --set hidden=384 --tag h384   # a variant

Trains charsmith through its API on ``train.tsv`` of the split in ``lang_split.py`` (10% of
every language held out, seed ``lang_split.SEED``) with a wall-clock budget, then on the
held-out names measures

- the conditional NLL per character, end token included, each name scored under its own
  language (``CharModel.evaluate`` on ``test.tsv``);
- classification accuracy, micro (over all names) and macro (mean per-language recall),
  with the training counts as priors and with ``uniform_prior=True``.

charsmith holds out 10% of train.tsv again for its own early stopping and checkpoint choice;
the test names are never seen. Results: ``benchmarks/results/lang_quality_<minutes>min[_<tag>].json``;
``--table`` rewrites the charsmith section of ``benchmarks/QUALITY.md`` from them.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI does

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from lang_split import SEED, overlap, split, write_tsv  # noqa: E402
from quality_common import parse_option, write_section  # noqa: E402

import charsmith  # noqa: E402
from charsmith import _runlog, backend, categories, kinds  # noqa: E402
from charsmith.calibration import class_evidence  # noqa: E402

RESULTS = HERE / "results"
GOALS = {"nll": 1.85, "micro": 0.87, "macro": 0.60}


def accuracy(model: charsmith.CharModel, test: list[tuple[str, str]], *, uniform: bool) -> dict:
    """Micro and macro accuracy of the model's classifier on (language, name) pairs (a
    character the model never saw costs every language the same, ``charsmith.openvocab``)."""
    guess = [r.best for r in model.classify([n for _, n in test], top=1, uniform_prior=uniform)]
    acc = categories.accuracy([c for c, _ in test], guess)
    return {"micro": acc.micro, "macro": acc.macro, "recall": acc.recall}


PRIOR_POWERS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def prior_powers(model: charsmith.CharModel, test: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """A diagnostic, not a decision rule: micro and macro accuracy on the test names when the
    priors are raised to a power a (argmax_c z_c + a log pi_c, z the model's evidence with
    equal priors, ``charsmith.calibration.class_evidence``; a calibrated mixture's biases
    count as part of its prior; a = 0 is the uniform prior, 1 the training prior). It shows
    how far any prior exponent, even one chosen on the test names themselves, could move
    the two figures."""
    cats, ck = model.ckpt.categories, model.ckpt
    names = [n for _, n in test]
    z = class_evidence(ck.params, ck.model, ck.vocab, names, uniform=True, unknown_mass=ck.unknown)  # (N, K)
    prior = class_evidence(ck.params, ck.model, ck.vocab, names, unknown_mass=ck.unknown) - z + cats.log_priors()
    truth = np.array([cats.index(c) for c, _ in test])
    out = {}
    for a in PRIOR_POWERS:
        hit = (z + a * prior).argmax(axis=1) == truth
        recall = [hit[truth == k].mean() for k in range(cats.size)]
        out[f"{a:g}"] = {"micro": float(hit.mean()), "macro": float(np.mean(recall))}
    return out


def scorable(model: charsmith.CharModel, name: str) -> bool:
    return not model.ckpt.vocab.unknown(name)


def run(minutes: float, data_dir: Path, options: dict, tag: str, keep: Path | None = None) -> dict:
    train, test = split(data_dir)
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        write_tsv(train, Path(tmp) / "train.tsv")
        t0 = time.perf_counter()
        counted = options.get("cell") in ("ngram", "mixture")  # chosen by cross-validation: no time budget
        budget = {} if counted else {"minutes": minutes}
        m = charsmith.train(Path(tmp) / "train.tsv", Path(tmp) / "run", seed=0, **budget, **options)
        train_s = time.perf_counter() - t0
        metrics = Path(tmp) / "run" / "metrics.jsonl"
        curve = [r for r in _runlog.read(metrics.parent) if r["kind"] == _runlog.EVAL] if metrics.exists() else []
        unseen = [n for _, n in test if not scorable(m, n)]  # characters absent from training: scored apart
        write_tsv(test, Path(tmp) / "test.tsv")
        nll = m.evaluate(Path(tmp) / "test.tsv")  # its loss: the names whose characters the model all knows
        if keep:
            shutil.copytree(Path(tmp) / "run", keep)
    priors, uniform = accuracy(m, test, uniform=False), accuracy(m, test, uniform=True)
    powers = prior_powers(m, test)
    ov = overlap(train, test)
    flags = " ".join(f"--set {k}={v}" for k, v in options.items())
    return {
        "minutes": minutes, "tag": tag, "options": options, "seed_split": SEED,
        "test_names": len(test), "test_overlap": sum(a for a, _ in ov.values()), "test_unscorable": unseen,
        "nll": nll.loss, "n_chars": nll.n_chars, "nll_names": nll.n_items,
        "micro": priors["micro"], "macro": priors["macro"],
        "micro_uniform": uniform["micro"], "macro_uniform": uniform["macro"],
        "recall": priors["recall"], "recall_uniform": uniform["recall"], "prior_powers": powers,
        "model": dataclasses.asdict(m.ckpt.model), "describe": kinds.of(m.ckpt.model).describe(m.ckpt.model),
        "train": vars(m.ckpt.train), "steps": curve[-1]["step"] if curve else 0,
        "best_step": m.ckpt.info.get("step", 0), "best_val_loss": m.ckpt.info.get("best_val_loss", m.ckpt.info.get("cv_loss")),
        "train_seconds": round(train_s, 1), "load_average_start": load_start, "load_average_end": os.getloadavg(),
        "engine": "compiled kernels" if backend.current().compiled else "NumPy only",
        "date": str(datetime.date.today()),
        "command": f"python benchmarks/lang_quality.py --minutes {minutes:g}"
                   + (f" {flags} --tag {tag}" if tag else ""),
    }


REFERENCES = HERE / "results" / "lang_refs.json"  # benchmarks/lang_refs.py, on the same split


def _cells(nll: float | None, accuracies: list[float | None]) -> str:
    marks = [f"{nll:.4f} {'✓' if nll < GOALS['nll'] else '✗'}" if nll is not None else ""]
    for value, goal in zip(accuracies, (GOALS["micro"], GOALS["macro"]) * 2):
        marks.append("" if value is None else f"{value:.3f}" + (" ✓" if value >= goal else " ✗"))
    return " | ".join(marks)


def _model(r: dict) -> str:
    """The model of a run, in a few words (runs recorded before ``describe`` were networks)."""
    if "describe" in r:
        return r["describe"]
    mc = r["model"]
    return f"{mc['cell']} x{mc['layers']} h{mc['hidden']}, category embedding {mc['cat_embed']}, dropout {mc['dropout']}"


def table() -> None:
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("lang_quality_*.json"))]
    main_runs = sorted((r for r in runs if not r["tag"]), key=lambda r: r["minutes"])
    variants = sorted((r for r in runs if r["tag"]), key=lambda r: (r["minutes"], r["date"], r["tag"]))
    if not main_runs:
        return
    r0 = main_runs[-1]
    refs = json.loads(REFERENCES.read_text())["references"] if REFERENCES.is_file() else {}
    lines = [
        "charsmith and the references of the previous section in one table, on the same split (`lang_split.py`,",
        f"seed {r0['seed_split']}: {r0['test_names']} held-out names, {r0['test_overlap']} of them also in the "
        "training part) with the same 5-minute budget.",
        "charsmith trains on the training part through its API with only the time limit given (every other",
        "option is its default for a labelled list: `src/charsmith/defaults.py`), holding out 10% of it",
        "again for its own early stopping; the test names are never seen. Its NLL covers the",
        f"{r0['nll_names']} test names whose characters all occur in the training part (it leaves out "
        f"{', '.join(repr(n) for n in r0['test_unscorable'])}, which the references score with a smoothed or "
        "untrained row;",
        "two names of 2,007 move the mean by well under 0.01); it classifies every test name (a character it",
        "never saw costs every language the same, `charsmith.openvocab`).",
        "",
        "| model | budget, steps (best at) | held-out nats/char | micro, training prior | macro, training prior "
        "| micro, uniform prior | macro, uniform prior |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in main_runs:
        lines.append(f"| **charsmith** ({_model(r)}) | {r['minutes']:g} min, {r['steps']:,} "
                     f"({r['best_step']:,}) | " + _cells(r["nll"], [r["micro"], r["macro"], r["micro_uniform"],
                                                                   r["macro_uniform"]]) + " |")
    for ref in refs.values():
        steps = f"{ref['steps']:,} {ref['unit']}" if ref.get("steps") else ref.get("unit", "")
        accs = [ref.get(f"{k}_{p}_prior") for p in ("training", "uniform") for k in ("micro", "macro")]
        lines.append(f"| {ref['label']} | {ref['budget_minutes']:g} min, {steps} | "
                     + _cells(ref.get("nll_per_char"), accs) + " |")
    lines += [
        "",
        f"Goals (issue 8): NLL below {GOALS['nll']}, micro ≥ {GOALS['micro']}, macro ≥ {GOALS['macro']}: "
        "✓ met, ✗ not.",
        f"charsmith's run: `{r0['command']}` ({r0['date']}, {r0['engine']}, load average "
        f"{r0['load_average_start'][0]:.1f} at the start and {r0['load_average_end'][0]:.1f} at the end; "
        "`benchmarks/results/lang_quality_5min.json`). References: the previous section.",
        "",
    ]
    if "prior_powers" in r0:
        powers = r0["prior_powers"]
        best = max(powers, key=lambda a: powers[a]["micro"])
        both = [a for a, v in powers.items() if v["micro"] >= GOALS["micro"] and v["macro"] >= GOALS["macro"]]
        lines += [
            "**A prior exponent** (a diagnostic on the test names, not a decision rule): deciding by argmax_c "
            "z_c + a log π_c (z: the model's evidence with equal priors; a calibrated mixture's biases count as "
            "part of its prior),",
            "a = 0 being the uniform prior and 1 the training prior, gives (micro / macro) "
            + ", ".join(f"a = {a}: {v['micro']:.3f} / {v['macro']:.3f}" for a, v in powers.items()) + ".",
            f"The exponent with the best micro, chosen on the test names themselves (a = {best}), gives "
            f"{powers[best]['micro']:.3f} / {powers[best]['macro']:.3f}; "
            + (f"a = {', '.join(both)} meet(s) both goals on the test names." if both else
               "no exponent meets both goals, even chosen on the test names, so charsmith keeps the training "
               "(or, `--uniform-prior`, equal) priors."),
            "",
        ]
    lines += [
        "**What was tried** (on the same split, `--set` options on top of the defaults of the time; 5-minute runs",
        "unless the budget says otherwise. The machine is shared and its load varied from 2 to 10, so the step",
        "counts and the small differences are noisy: the smallest categories have 7 to 10 test names, so one name",
        "moves macro accuracy by 0.006-0.008):",
        "",
        "| variant | budget: steps (best at), seconds | NLL | micro | macro | micro, uniform | macro, uniform |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in variants:
        note = r.get("note", "")
        flags = r["command"].split(" --tag")[0].replace("python benchmarks/lang_quality.py ", "")
        budget = f"{r['minutes']:g} min" if not r["options"].get("steps") else f"{r['options']['steps']:,} steps"
        if r["options"].get("cell") in ("ngram", "mixture"):
            budget = "no budget (counts; order by 5-fold CV)"
        lines.append(f"| {note or r['tag']} (`{flags}`) "
                     f"| {budget}: {r['steps']:,} ({r['best_step']:,}), {r.get('train_seconds', 0):.0f} s "
                     f"| {r['nll']:.4f} | {r['micro']:.3f} | {r['macro']:.3f} | "
                     f"{r['micro_uniform']:.3f} | {r['macro_uniform']:.3f} |")
    write_section(HERE / "QUALITY.md", "Names by language: charsmith", "\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--data-dir", type=Path, default=HERE.parents[1] / "shared" / "data")
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                   help="a charsmith.train option (e.g. hidden=384)")
    p.add_argument("--tag", default="", help="name of a variant run (its own results file)")
    p.add_argument("--table", action="store_true", help="only rewrite the QUALITY.md section")
    p.add_argument("--out-dir", type=Path, help="an exploration: write the results file there, not in results/, "
                   "and leave QUALITY.md alone")
    p.add_argument("--keep", type=Path, help="copy the trained run directory there")
    args = p.parse_args()
    if not args.table:
        options = dict(parse_option(s) for s in args.set)
        r = run(args.minutes, args.data_dir, options, args.tag, args.keep)
        out = args.out_dir or RESULTS
        out.mkdir(parents=True, exist_ok=True)
        name = f"lang_quality_{args.minutes:g}min" + (f"_{args.tag}" if args.tag else "")
        (out / f"{name}.json").write_text(json.dumps(r, indent=1) + "\n")
        print(f"{name}: NLL {r['nll']:.4f}, micro {r['micro']:.3f}, macro {r['macro']:.3f}; uniform prior: "
              f"micro {r['micro_uniform']:.3f}, macro {r['macro_uniform']:.3f}; {r['steps']} steps")
    if not args.out_dir:
        table()


if __name__ == "__main__":
    main()
