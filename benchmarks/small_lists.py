"""Small lists: the default (`charsmith train FILE`, models chosen by cross-validation) against
Kneser-Ney n-gram models of each order, the network alone and the mixture.

For each list, ``--sizes`` training items (30, 100, 300) are drawn with each seed, and 200
other items are held out. Every row is scored on the held-out items in nats/char, end token
included, leaving out held-out items with a character the drawn items never use.

Rows: the Kneser-Ney model of each order fitted on the drawn items (and the one the
cross-validation picks, "CV-chosen KN"); "default", the model `charsmith train FILE` trains
(``smalllists.train_small`` with no option), timed from start to saved checkpoint; when the
default chose a mixture, "network" is its committee of networks alone (weights 1) and
"one network" the network trained on all items alone. The cross-validated loss of every
candidate is kept in the JSON.

DEV lists were used to tune; FINAL lists were run once at the end. Data are read from the
shared data folder (``--data``, default ../shared/data beside the repository) or from the
``wordfreq`` package; nothing is copied into the project.

    python benchmarks/small_lists.py --set dev
    python benchmarks/small_lists.py --set final --json benchmarks/results/small_lists_final.json
    python benchmarks/small_lists.py --set unseen --json benchmarks/results/small_lists_unseen.json

``--set unseen``: lists from languages the bundled ``base`` never saw. The DEV and FINAL lists
are all in the base's training data but dinosaurs (``scripts/base_data.py``), so with the base
among the candidates their figures overstate what a start from it does for a new list.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from charsmith import habits, mixture, ngram, smalllists  # noqa: E402
from charsmith._batching import encode_items  # noqa: E402
from charsmith._corpus import LinesCorpus  # noqa: E402
from charsmith._novelty import is_near_known, item_hashes  # noqa: E402
from charsmith.api import CharModel  # noqa: E402
from charsmith.scoring import score_items, summarize  # noqa: E402
from charsmith.vocab import Vocab  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HELD_OUT = 200
DEV = {"italian": "names_by_language/Italian.txt", "german": "names_by_language/German.txt", "dinos": "dinos.txt"}
FINAL = {"czech": "names_by_language/Czech.txt", "japanese": "names_by_language/Japanese.txt",
         "people": "people_names.txt", "finnish-words": "wordfreq:fi"}
# lists the bundled base never saw (scripts/base_data.py leaves these languages out of it), and
# that nothing was tuned on: base_finetune.py's final-check languages
UNSEEN = {"hungarian-words": "wordfreq:hu", "icelandic-words": "wordfreq:is",
          "macedonian-words-capitalised": "wordfreq:mk:cap"}
SETS = {"dev": DEV, "final": FINAL, "unseen": UNSEEN}


def read_list(spec: str, data: Path) -> list[str]:
    if spec.startswith("wordfreq:"):
        from wordfreq import top_n_list

        _, code, *cap = spec.split(":")
        words = [w for w in top_n_list(code, 5000) if w.isalpha() and len(w) > 3][:2000]
        return [w.capitalize() for w in words] if cap else words
    lines = (data / spec).read_text(encoding="utf-8").splitlines()
    return sorted({s.strip() for s in lines if s.strip()})


def loss(params: dict, cfg: object, vocab: Vocab, items: list[str]) -> float:
    return summarize(score_items(params, cfg, vocab, items)).loss  # type: ignore[arg-type]


def shares(items: list[str], train: list[str]) -> dict[str, float]:
    """Shares of ``items`` with a character the training items never use, with a casing they
    never show (a capital after a letter, a first letter of a case no item starts with), within one edit of a
    training item (copies included)."""
    h = habits.of_items(train)
    alpha = set(h["alphabet"])
    odd_case = [habits.unseen_casing(s, h) for s in items]
    near = is_near_known(items, item_hashes(train), h["alphabet"])
    n = max(len(items), 1)
    return {"outside_alphabet": sum(not set(s) <= alpha for s in items) / n, "unseen_casing": sum(odd_case) / n,
            "one_edit": float(near.sum()) / n}


def one(items: list[str], size: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(items))
    train = [items[i] for i in pick[:size]]
    alphabet = set("".join(train))
    real = [items[i] for i in pick[size : size + HELD_OUT]]
    held = [s for s in real if set(s) <= alphabet]
    vocab = Vocab.from_texts(train)
    corpus = LinesCorpus(vocab, train, [], 0, "bench")
    row: dict = {"size": size, "seed": seed, "held_out": len(held)}
    seqs = [s[1:-1] for s in encode_items(vocab, train)]
    for order in smalllists.ORDERS:
        t = time.perf_counter()
        cfg, params = ngram.fit(seqs, vocab.size, order)
        row[f"kn{order}"] = loss(params, cfg, vocab, held)
        row[f"kn{order}_s"] = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as out:
        t = time.perf_counter()
        ck = smalllists.train_small(corpus, Path(out) / "m", seed=seed)  # what `charsmith train FILE` does
        row["run_s"] = time.perf_counter() - t
    choice = ck.info["choice"]
    row["cv"], row["chosen"] = choice["losses"], choice["chosen"]
    row["default"] = loss(ck.params, ck.model, vocab, held)
    samples = CharModel(ck).sample(len(real), seed=seed).samples
    row["shares_samples"], row["shares_held_out"] = shares(samples, train), shares(real, train)
    if isinstance(ck.model, mixture.MixtureConfig):
        nets, _ = mixture.split(ck.params, ck.model)
        if choice["chosen"] in smalllists.MIXED.values():
            row["mixture"] = row["default"]
        alone = dict(ck.params, **{mixture.WEIGHTS: np.ones_like(ck.params[mixture.WEIGHTS])})
        start = "" if choice["chosen"] in ("network", "mixture") else "base_"  # scratch, or from the base
        row[f"{start}network"] = loss(alone, ck.model, vocab, held)  # the committee of networks alone
        row[f"{start}one_network"] = loss(nets[-1], ck.model.net, vocab, held)  # the one trained on all items
    row["best_kn"] = min(row[f"kn{o}"] for o in smalllists.ORDERS)
    row["cv_kn"] = row[f"kn{min(smalllists.ORDERS, key=lambda o: choice['losses'].get(f'ngram-{o}', 9))}"]
    return row


def table(rows: list[dict]) -> str:
    """Markdown: mean held-out nats/char (and mean seconds) of each row kind per size, then
    default - best KN per list and size."""
    sizes = sorted({r["size"] for r in rows})
    kinds = [*(f"kn{o}" for o in smalllists.ORDERS), "network", "one_network", "base_network", "base_one_network",
             "mixture", "default"]
    names = {f"kn{o}": f"Kneser-Ney order {o}" for o in smalllists.ORDERS}
    names.update(network="network committee (scratch)", one_network="one network (scratch, all items)",
                 base_network="network committee (from the base)", base_one_network="one network (from the base)",
                 mixture="mixture (network and n-gram)", default="**default (`charsmith train FILE`)**")
    out = ["| model | " + " | ".join(f"{n} items" for n in sizes) + " | seconds (300 items) |",
           "| --- |" + " --- |" * (len(sizes) + 1)]
    for k in kinds:
        if not any(k in r for r in rows):
            continue
        cells = []
        for n in sizes:
            v = [r[k] for r in rows if r["size"] == n and k in r]
            if not v:
                cells.append("-")
                continue
            cells.append(f"{np.mean(v):.4f}" + (f" ({len(v)} of {sum(r['size'] == n for r in rows)})"
                                                 if len(v) < sum(r["size"] == n for r in rows) else ""))
        t = [r[f"{k}_s"] if k.startswith("kn") else r["run_s"] for r in rows if r["size"] == sizes[-1]]
        out.append(f"| {names[k]} | " + " | ".join(cells) + f" | {np.mean(t):.2f} |")
    best = [np.mean([r["best_kn"] for r in rows if r["size"] == n]) for n in sizes]
    out.append("| best Kneser-Ney order per draw (oracle) | " + " | ".join(f"{b:.4f}" for b in best) + " | |")
    out += ["", "| cross-validated loss of each candidate (mean) | " + " | ".join(f"{n} items" for n in sizes)
            + " | chosen (all sizes) |", "| --- |" + " --- |" * (len(sizes) + 1)]
    for c in dict.fromkeys(c for r in rows for c in r["cv"] if not c.startswith("ngram")):
        cells = [np.mean([r["cv"][c] for r in rows if r["size"] == n and c in r["cv"]] or [np.nan]) for n in sizes]
        out.append(f"| {c} | " + " | ".join(f"{v:.4f}" for v in cells)
                   + f" | {sum(r['chosen'] == c for r in rows)} of {len(rows)} |")
    out += ["", "| list | " + " | ".join(f"default - best KN, {n}" for n in sizes) + " |",
            "| --- |" + " --- |" * len(sizes)]
    for name in dict.fromkeys(r["list"] for r in rows):
        cells = [" / ".join(f"{r['default'] - r['best_kn']:+.3f}" for r in rows if r["list"] == name and r["size"] == n)
                 for n in sizes]
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    means = [np.mean([r["default"] - r["best_kn"] for r in rows if r["size"] == n]) for n in sizes]
    out.append("| **mean** | " + " | ".join(f"**{m:+.3f}**" for m in means) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=tuple(SETS), default="dev")
    ap.add_argument("--sizes", default="30,100,300")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--json")
    ap.add_argument("--table", metavar="JSON", help="print the markdown tables of a results file and stop")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text(encoding="utf-8"))))
        return
    lists = SETS[args.set]
    rows = []
    for name, spec in lists.items():
        items = read_list(spec, Path(args.data))
        for size in map(int, args.sizes.split(",")):
            for seed in map(int, args.seeds.split(",")):
                r = one(items, size, seed) | {"list": name}
                rows.append(r)
                print(f"{name:>14} {size:>4} seed {seed}: best KN {r['best_kn']:.4f} (CV-chosen KN {r['cv_kn']:.4f}) "
                      f"network {r.get('network', float('nan')):.4f} mixture {r.get('mixture', float('nan')):.4f} "
                      f"default {r['default']:.4f} [{r['chosen']}] in {r['run_s']:.1f} s; "
                      f"default - best KN {r['default'] - r['best_kn']:+.4f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print("\nsize  mean(default - best KN)  worst  mean(mixture - best KN)", file=sys.stderr)
    for size in sorted({r["size"] for r in rows}):
        d = [r["default"] - r["best_kn"] for r in rows if r["size"] == size]
        mx = [r.get("mixture", r["default"]) - r["best_kn"] for r in rows if r["size"] == size]
        print(f"{size:>4}  {np.mean(d):+.4f}  {max(d):+.4f}  {np.mean(mx):+.4f}", file=sys.stderr)
    for key in ("outside_alphabet", "unseen_casing", "one_edit"):
        a = np.mean([r["shares_samples"][key] for r in rows])
        b = np.mean([r["shares_held_out"][key] for r in rows])
        print(f"{key}: samples {a:.3f}, real held-out items {b:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
