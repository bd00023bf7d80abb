"""Short labelled lists: the network alone against its mixture with the n-gram model.

    python benchmarks/short_labelled.py            # run, then write the QUALITY.md section
    python benchmarks/short_labelled.py --table    # only rewrite the section

A user's own labelled list is often a few hundred names in each of a few categories, under
the 50,000 training characters of a long list (``charsmith.defaults.SMALL_LIST_CHARS``). Six
such lists are drawn from ``names_by_language`` (3 to 8 languages, each language's distinct
names shuffled with the list's seed and cut to a cap; a fifth of each held out for testing).
On each, ``charsmith.train`` runs for 1 minute with its defaults for a short labelled list,
once with ``mix_order`` 0 (the network alone) and once as it is (mixed with the n-gram model,
``charsmith.netmix``, classifying calibrated, ``charsmith.calibration``); a Witten-Bell trigram
Naive Bayes (``lang_trigram``) is fitted on the same training part. Measured on the test part:
held-out loss (nats/char, each name under its own language, names with characters the training
part lacks left out) and classification (micro / macro, training priors).

Results: ``benchmarks/results/short_labelled.json``; the section "Short labelled lists" of
``benchmarks/QUALITY.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import lang_trigram  # noqa: E402
from lang_categories import accuracy  # noqa: E402
from lang_split import write_tsv  # noqa: E402
from quality_common import write_section  # noqa: E402

import charsmith  # noqa: E402

RESULTS = HERE / "results" / "short_labelled.json"
LISTS = [  # languages, seed, names per language at most
    (["Japanese", "Italian", "German", "Polish", "Greek", "Vietnamese", "Czech"], 1, 600),
    (["English", "Irish", "Scottish", "French", "Dutch"], 2, 500),
    (["Spanish", "Portuguese", "Italian", "Arabic", "Korean", "Chinese"], 3, 400),
    (["Russian", "Czech", "Polish"], 4, 700),
    (["Greek", "Japanese", "Korean", "Vietnamese", "Chinese", "Dutch", "Spanish", "French"], 5, 300),
    (["Japanese", "Italian", "German", "Polish", "Greek", "Vietnamese", "Czech"], 6, 200),
]
Pair = tuple[str, str]


def draw(data_dir: Path, languages: list[str], seed: int, cap: int) -> tuple[list[Pair], list[Pair]]:
    rng = random.Random(seed)
    train: list[Pair] = []
    test: list[Pair] = []
    for lang in languages:
        text = (data_dir / "names_by_language" / f"{lang}.txt").read_text(encoding="utf-8")
        names = sorted({s.strip() for s in text.splitlines() if s.strip()})
        rng.shuffle(names)
        names = names[:cap]
        k = max(1, len(names) // 5)
        test += [(lang, n) for n in names[:k]]
        train += [(lang, n) for n in names[k:]]
    return train, test


def measure(m: charsmith.CharModel, test: list[Pair], tsv: Path, seconds: float) -> dict:
    guesses = [r.best for r in m.classify([n for _, n in test], top=1)]
    return {"nll": m.evaluate(tsv).loss, **accuracy([c for c, _ in test], guesses), "seconds": round(seconds, 1),
            "model": m.ckpt.model.kind if hasattr(m.ckpt.model, "kind") else "rnn"}


def one(data_dir: Path, languages: list[str], seed: int, cap: int) -> dict:
    train, test = draw(data_dir, languages, seed, cap)
    row: dict = {"languages": languages, "seed": seed, "cap": cap, "train": len(train), "test": len(test),
                 "train_chars": sum(len(n) for _, n in train)}
    with tempfile.TemporaryDirectory() as tmp:
        write_tsv(train, Path(tmp) / "train.tsv")
        write_tsv(test, Path(tmp) / "test.tsv")
        for tag, options in (("network", {"mix_order": 0}), ("default", {})):
            t0 = time.perf_counter()
            m = charsmith.train(Path(tmp) / "train.tsv", Path(tmp) / tag, minutes=1, seed=0, **options)
            row[tag] = measure(m, test, Path(tmp) / "test.tsv", time.perf_counter() - t0)
    nb = lang_trigram.fit(train, sorted({ch for _, n in train + test for ch in n}))
    row["trigram"] = accuracy([c for c, _ in test], nb.classify([n for _, n in test]))
    return row


def table() -> None:
    if not RESULTS.is_file():
        return
    r = json.loads(RESULTS.read_text())
    lines = [
        "Six short labelled lists drawn from `names_by_language` (each language's distinct names shuffled and cut "
        "to a cap, a fifth held out for testing; under the 50,000 training characters of a long list). "
        "`charsmith.train` for 1 minute with its defaults, with `mix_order` 0 (the network alone, the default "
        "before) and as it is (mixed with the n-gram model of order 5, classifying calibrated); the Witten-Bell "
        "trigram Naive Bayes on the same training part. Held-out nats/char (each name under its own language); "
        "classification micro / macro with the training priors.",
        "",
        "| languages | cap, seed | training names (chars) | network alone: nats/char | default: nats/char "
        "| network alone: micro / macro | default: micro / macro | trigram NB: micro / macro |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in r["rows"]:
        a, b, t = row["network"], row["default"], row["trigram"]
        lines.append(f"| {', '.join(row['languages'])} | {row['cap']}, {row['seed']} | {row['train']:,} "
                     f"({row['train_chars']:,}) | {a['nll']:.4f} | {b['nll']:.4f} | {a['micro']:.3f} / {a['macro']:.3f} "
                     f"| {b['micro']:.3f} / {b['macro']:.3f} | {t['micro']:.3f} / {t['macro']:.3f} |")
    lines += ["", f"Command: `{r['command']}` ({r['date']})."]
    write_section(HERE / "QUALITY.md", "Short labelled lists", "\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=HERE.parents[1] / "shared" / "data")
    p.add_argument("--table", action="store_true", help="only rewrite the QUALITY.md section")
    args = p.parse_args()
    if not args.table:
        rows = []
        for languages, seed, cap in LISTS:
            rows.append(one(args.data_dir, languages, seed, cap))
            print(json.dumps(rows[-1]), file=sys.stderr)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({"rows": rows, "date": str(datetime.date.today()),
                                       "command": "python benchmarks/short_labelled.py"}, indent=1) + "\n")
    table()


if __name__ == "__main__":
    main()
