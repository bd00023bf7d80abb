"""Does every category sound like itself? And how well does the same checkpoint classify?

    python benchmarks/lang_categories.py --steps 6000                      # train, then measure
    python benchmarks/lang_categories.py --steps 6000 --set balance=0.5 --tag balanced
    python benchmarks/lang_categories.py --model RUN_DIR --tag x           # measure a trained run
    python benchmarks/lang_categories.py --model RUN_DIR --mix 4 --tag mix4  # a network run, mixed afterwards
    python benchmarks/lang_categories.py --steps 6000 --set mix_order=0 --net-seed 1 --keep RUN1  # another seed
    python benchmarks/lang_categories.py --model RUN0 --ensemble RUN1,RUN2 --mix 5 --tag ens3  # an ensemble

On a stratified split of ``names_by_language`` of this benchmark's own (``lang_split.split``
with seed ``SEED``, 10% of every language held out; not the split the other language
benchmarks tune on), charsmith trains through its API for a fixed number of steps (steps, not
minutes: the machine is shared), then:

- **sampling**: for every language C, ``SAMPLES`` names are drawn with ``category=C`` at
  temperature 1 (as ``charsmith sample RUN --category C`` writes them: novel names only).
  Two classifiers read them: the model's own ``classify`` (training priors) and an independent
  Witten-Bell trigram Naive Bayes (``lang_trigram``) fitted on the same training part. The
  share of samples classified as C is divided by the share of C's real held-out names
  classified as C by the same classifier: the goal is >= 0.85 for every language with at
  least 50 training names.
- **classification**: micro (all held-out names) and macro (mean per-language recall)
  accuracy of ``classify`` with the training priors and with uniform priors, every held-out
  name included (characters the training part lacks get the unknown-character mass); and the
  held-out loss (nats/char, each name under its own language; names with such characters
  apart).

``--mix N`` mixes the network of ``--model`` (a run kept with ``--keep``) with the n-gram
model of order N of its training items, the weights fitted on its held-out items, as
``mix_order`` N does at the end of a training run (``charsmith.netmix``); with ``--ensemble``,
the networks of ``--model`` and of those runs (one shape, the same split) as one ensemble
(``charsmith.netmix.mix_networks``). ``--net-seed S`` trains the network with seed S for its
initial weights, batches and dropout, on the split every run here has (that of seed 0).

Results: ``benchmarks/results/lang_categories[_<tag>].json``; the run without a tag writes the
section "Names by language: categories" of ``benchmarks/QUALITY.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import lang_trigram  # noqa: E402
import numpy as np  # noqa: E402
from lang_split import split, write_tsv  # noqa: E402
from quality_common import parse_option, write_section  # noqa: E402

import charsmith  # noqa: E402
from charsmith import categories, mixture, ngram  # noqa: E402
from charsmith._batching import encode_items  # noqa: E402
from charsmith.api import plan_run  # noqa: E402
from charsmith.netmix import heldout_probs, mix_networks, network_part  # noqa: E402
from charsmith.scoring import score_items, summarize  # noqa: E402
from charsmith.trainer import Trainer  # noqa: E402

SEED = 7  # this benchmark's own split (lang_split.SEED is the one the language benchmarks tune on)
SAMPLES = 200
MIN_TRAIN = 50  # the goal covers languages with at least this many training names
GOAL = 0.85
RESULTS = HERE / "results"
Pair = tuple[str, str]


def recognition(guess: list[str], cat: str) -> float:
    return sum(g == cat for g in guess) / max(len(guess), 1)


def accuracy(truth: list[str], guess: list[str]) -> dict[str, float]:
    acc = categories.accuracy(truth, guess)
    return {"micro": acc.micro, "macro": acc.macro}


def measure(m: charsmith.CharModel, train: list[Pair], test: list[Pair], *, temperature: float) -> dict:
    """Per language, for each way of sampling (``any``: samples may repeat training names,
    against all the real held-out names; ``novel``: novel samples, as ``charsmith sample``
    writes them, against the held-out names not in that language's training names): the
    share recognised by each classifier, for samples and for real names, and their ratio."""
    names = m.categories
    counts = Counter(c for c, _ in train)
    seen = {(c, n) for c, n in train}
    samples = {mode: {c: m.sample(SAMPLES, category=c, temperature=temperature, seed=k,
                                  allow_known=mode == "any").samples for k, c in enumerate(names)}
               for mode in ("any", "novel")}
    drawn = "".join(s for by_cat in samples.values() for got in by_cat.values() for s in got)
    nb = lang_trigram.fit(train, sorted({ch for _, n in train + test for ch in n} | set(drawn)))
    truth = [c for c, _ in test]
    items = [n for _, n in test]
    guesses = {"own": [r.best for r in m.classify(items, top=1)], "trigram": nb.classify(items)}
    judge = {"own": lambda xs: [r.best for r in m.classify(xs, top=1)], "trigram": nb.classify}
    rows: dict[str, dict] = {}
    for c in names:
        row: dict = {"train": counts[c], "test": truth.count(c), "examples": samples["novel"][c][:6]}
        for mode in ("any", "novel"):
            keep = [t == c and (mode == "any" or (c, n) not in seen) for t, n in test]
            row[f"{mode}_real_names"] = sum(keep)
            for k in ("own", "trigram"):
                real = recognition([g for g, ok in zip(guesses[k], keep) if ok], c) if any(keep) else None
                drawn_c = recognition(judge[k](samples[mode][c]), c) if samples[mode][c] else None
                row[f"{mode}_{k}"] = [drawn_c, real, drawn_c / real if drawn_c is not None and real else None]
        rows[c] = row
    unknown = sum(s.unknown_chars for s in m.score(items))
    ids = np.array([names.index(c) for c in truth])
    nll = summarize(score_items(m.ckpt.params, m.ckpt.model, m.ckpt.vocab, items, cond=ids, unknown_mass=m.ckpt.unknown))
    own_uniform = [r.best for r in m.classify(items, top=1, uniform_prior=True)]
    return {"categories": rows, "classify": accuracy(truth, guesses["own"]),
            "classify_uniform": accuracy(truth, own_uniform), "trigram": accuracy(truth, guesses["trigram"]),
            "test_nll": nll.loss, "test_nll_unknown": None if nll.unknown is None else nll.unknown.loss,
            "test_unknown_chars": unknown, "test_unknown_items": sum(bool(s.unknown_chars) for s in m.score(items))}


def mixed(ms: list[charsmith.CharModel], train_tsv: Path, order: int, options: dict) -> charsmith.CharModel:
    """The networks of ``ms``, trained on ``train_tsv`` with ``options``, mixed with the n-gram
    model of order ``order`` of their training items (as ``mix_order`` does after training;
    more than one: an ensemble, ``charsmith.netmix.mix_networks``)."""
    corpus, _, _ = plan_run(train_tsv, seed=0, **options)
    if any(corpus.fingerprint != m.ckpt.info.get("data_fingerprint") for m in ms):
        sys.exit("--mix: a run was not trained on this split with these options")
    ckpt, facts = mix_networks([network_part(m.ckpt) for m in ms], corpus, order)
    print(f"mixture: {facts}", file=sys.stderr)
    # the sampling habits a training run records today (charsmith.habits), not those of the kept run's day
    return charsmith.CharModel(dataclasses.replace(ckpt, info=dict(ckpt.info, habits=corpus.habits(alphabet=True))))


def weights_table(m: charsmith.CharModel, train_tsv: Path, test: list[Pair], options: dict, orders: list[int],
                  priors: tuple[float, ...] = (1, 10, 100)) -> str:
    """Classification of the test names (those whose characters the model all knows) by the
    network of ``m`` mixed with the n-gram model of each order: with the mixture's weights
    (one per context length), and with a weight per category and context length (EM on each
    category's held-out characters, ``prior`` pseudo-counts at the shared weights): a variant
    measured here, on the characters' probabilities, not built into charsmith."""
    corpus, _, _ = plan_run(train_tsv, seed=0, **options)
    ck = network_part(m.ckpt)
    names, K = ck.categories.names, ck.categories.size
    test = [(c, n) for c, n in test if not ck.vocab.unknown(n)]
    truth = np.array([names.index(c) for c, _ in test])
    rep = [n for _, n in test for _ in range(K)]  # each name under each category
    rep_cats = np.tile(np.arange(K), len(test))
    owner = np.repeat(np.arange(len(rep)), [len(s) + 1 for s in rep])
    p_net = np.exp(np.concatenate([s.char_logprobs for s in score_items(ck.params, ck.model, ck.vocab, rep,
                                                                         cond=rep_cats)]))
    log_prior = np.log(np.asarray(ck.categories.counts, float) / sum(ck.categories.counts))
    val_cats = np.repeat(np.asarray(corpus.val_cats), [len(s) + 1 for s in corpus.val])

    def row(label: str, p: np.ndarray) -> str:
        ll = np.bincount(owner, np.log(p)).reshape(len(test), K)
        cells = []
        for lp in (log_prior, np.zeros(K)):
            hit = (ll + lp).argmax(1) == truth
            cells.append(f"{hit.mean():.3f} / {np.mean([hit[truth == c].mean() for c in range(K)]):.3f}")
        return f"| {label} | {cells[0]} | {cells[1]} |"

    lines = ["| model | micro / macro, training priors | micro / macro, uniform priors |", "| --- | --- | --- |",
             row("the network", p_net)]
    seqs = [s[1:-1] for s in encode_items(ck.vocab, list(corpus.train))]
    for order in orders:
        cfg, ng = ngram.fit(seqs, ck.vocab.size, order, cats=np.asarray(corpus.train_cats), categories=K)
        pv_net, pv_ng, uv = heldout_probs(ck.params, ck.model, ng, cfg, corpus)
        grams, gcats = ngram.item_grams([s[1:-1] for s in encode_items(ck.vocab, rep)], rep_cats, order)
        probs, used = ngram.lookup(ng, cfg, grams[:, :-1], gcats)
        p_ng = probs[np.arange(len(grams)), grams[:, -1]]
        w = mixture.fit_weights(pv_net, pv_ng, uv, order)
        lines += [row(f"the n-gram model of order {order}", p_ng),
                  row(f"mixture of order {order}, a weight per context length (charsmith's)",
                      mixture.combine(p_net, p_ng, used, w))]
        for prior in priors:
            W = np.array([_em(pv_net[val_cats == c], pv_ng[val_cats == c], uv[val_cats == c] + 1, w, prior)
                          for c in range(K)])
            lam = W[gcats, used + 1]
            lines.append(row(f"mixture of order {order}, a weight per category and context length, {prior:g} "
                             "pseudo-counts", lam * p_net + (1 - lam) * p_ng))
    return "\n".join(lines)


def _em(p_net: np.ndarray, p_ng: np.ndarray, u: np.ndarray, shared: np.ndarray, prior: float) -> np.ndarray:
    """Mixture weights per context length u by EM, ``prior`` pseudo-counts at ``shared``."""
    lam = shared.copy()
    for _ in range(100):
        a = lam[u] * p_net
        r = a / (a + (1 - lam[u]) * p_ng)
        lam = (np.bincount(u, weights=r, minlength=len(lam)) + prior * shared) / (
            np.bincount(u, minlength=len(lam)) + prior)
    return lam


def run(args: argparse.Namespace) -> dict:
    train, test = split(args.data_dir, seed=SEED)
    options = dict(parse_option(s) for s in args.set)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            m = charsmith.load(args.model)
            if args.mix:
                write_tsv(train, Path(tmp) / "train.tsv")
                more = [charsmith.load(Path(d)) for d in args.ensemble.split(",")] if args.ensemble else []
                m = mixed([m, *more], Path(tmp) / "train.tsv", args.mix, options)
        else:
            write_tsv(train, Path(tmp) / "train.tsv")
            if args.net_seed:  # the split of seed 0 (as every run here), the network's own seed
                corpus, model_cfg, train_cfg = plan_run(Path(tmp) / "train.tsv", steps=args.steps, seed=0, **options)
                Trainer(corpus, model_cfg, dataclasses.replace(train_cfg, seed=args.net_seed), Path(tmp) / "run",
                        info={"source": "train.tsv"}).run(None)
                m = charsmith.load(Path(tmp) / "run")
            else:
                m = charsmith.train(Path(tmp) / "train.tsv", Path(tmp) / "run", steps=args.steps, seed=0, **options)
            if args.keep:
                shutil.copytree(Path(tmp) / "run", args.keep, dirs_exist_ok=True)
    train_s = time.perf_counter() - t0
    r = measure(m, train, test, temperature=args.temperature)
    # a network mixed afterwards is the run that mix_order trains (the same network, then the same mixing);
    # an ensemble has no such run: its command names the runs' folders
    sets = [f"--set {s}" for s in args.set]
    if args.ensemble:
        runs = ",".join(Path(d).name for d in args.ensemble.split(","))
        how = [f"--model {args.model.name} --ensemble {runs} --mix {args.mix}", *sets]
    else:  # a run measured with --model was trained so
        how = [f"--steps {args.steps}", *sets, *([f"--set mix_order={args.mix}"] if args.mix else [])]
    how += [*([f"--net-seed {args.net_seed}"] if args.net_seed else []),
            *([f"--temperature {args.temperature:g}"] if args.temperature != 1 else []),
            *([f"--tag {args.tag}"] if args.tag else [])]
    r.update(tag=args.tag, note=args.note, options=options, steps=args.steps, seed_split=SEED,
             temperature=args.temperature, train_seconds=round(train_s, 1), model=dataclasses.asdict(m.ckpt.model),
             best_step=m.ckpt.info.get("step"), date=str(datetime.date.today()),
             command="python benchmarks/lang_categories.py " + " ".join(how))
    return r


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _cell(triple: list, big: bool) -> str:
    drawn, real, ratio = triple
    mark = "" if not big or ratio is None else (" ✓" if ratio >= GOAL else " ✗")
    return f"{_fmt(drawn)} / {_fmt(real)} ({_fmt(ratio)}{mark})"


def _summary(r: dict, mode: str) -> list[tuple[int, int, float]]:
    """Per classifier (own, trigram): (languages meeting the goal, languages with a defined
    ratio, the lowest ratio), among the languages with >= MIN_TRAIN training names."""
    big = [row for row in r["categories"].values() if row["train"] >= MIN_TRAIN]
    out = []
    for k in ("own", "trigram"):
        ratios = [row[f"{mode}_{k}"][2] for row in big if row[f"{mode}_{k}"][2] is not None]
        out.append((sum(x >= GOAL for x in ratios), len(ratios), min(ratios)))
    return out


def table() -> None:
    path = RESULTS / "lang_categories.json"
    if not path.is_file():
        return
    r = json.loads(path.read_text())
    variants = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("lang_categories_*.json"))]
    lines = [
        "Does `--category C` write names of C? On a split of this benchmark's own (`lang_split.split` with seed "
        f"{r['seed_split']}, 10% of every language held out; the other language benchmarks tune on seed "
        f"20261126), charsmith trains for a fixed {r['steps']:,} steps (options: {r['options'] or 'its defaults'}), "
        f"then writes {SAMPLES} names per language at temperature {r['temperature']:g}. Two classifiers read them: "
        "the model's own `classify` (training priors) and a Witten-Bell trigram Naive Bayes (`lang_trigram.py`, "
        "training priors) fitted on the same training part. A cell is: share of the samples classified as their "
        "language / share of the language's real held-out names classified so (ratio; goal ≥ 0.85 for languages "
        f"with at least {MIN_TRAIN} training names, ✓ met, ✗ not, – undefined).",
        "",
        "- **all names**: samples drawn with `--allow-known` (they may repeat training names, as real held-out "
        "names do: all 10% of Arabic's are training names too) against every held-out name: the model's "
        "distribution against the data's.",
        "- **novel names**: samples as `charsmith sample RUN --category C` writes them (names of the data set "
        "dropped) against the held-out names that are not training names of that language.",
        "",
        f"Command: `{r['command']}` ({r['date']}; `benchmarks/results/lang_categories.json`"
        + (f"; {r['how']}" if r.get("how") else "") + ").",
        "",
        "| language | training names | all names: own classify | all names: trigram NB | novel names: own classify "
        "| novel names: trigram NB | novel samples |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c, row in r["categories"].items():
        big = row["train"] >= MIN_TRAIN
        cells = " | ".join(_cell(row[f"{mode}_{k}"], big) for mode in ("any", "novel") for k in ("own", "trigram"))
        lines.append(f"| {c} | {row['train']:,} | {cells} | {', '.join(row['examples'][:4])} |")
    acc, uni, tri = r["classify"], r["classify_uniform"], r["trigram"]
    n_test = sum(row["test"] for row in r["categories"].values())
    lines += [
        "",
        f"Classification on the same split ({n_test:,} held-out names, every one classified; of them, "
        f"{r['test_unknown_items']} hold(s) {r['test_unknown_chars']} character(s) the training part lacks, which get "
        f"the unknown-character mass): micro {acc['micro']:.3f} and macro {acc['macro']:.3f} with the training priors (uniform priors: "
        f"{uni['micro']:.3f} / {uni['macro']:.3f}); the trigram Naive Bayes gets {tri['micro']:.3f} / "
        f"{tri['macro']:.3f}. Goals: micro ≥ 0.87 and macro ≥ 0.60 with the training priors. Held-out loss, each "
        f"name under its own language: {r['test_nll']:.4f} nats/char over the names whose characters the model all "
        "knows" + ("" if r.get("test_nll_unknown") is None else
                   f" ({r['test_nll_unknown']:.4f} over those holding one it never saw)") + ".",
    ]
    if variants:
        lines += ["", "Variants, same split and measurements (languages meeting the goal, own classify / trigram NB, "
                  "of those with a defined ratio among the languages with ≥ 50 training names; lowest ratio):", "",
                  "| variant | all names: met | all names: lowest | novel names: met | novel names: lowest "
                  "| held-out nats/char | micro | macro | micro, uniform | macro, uniform | command |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for v in [r, *variants]:
            cells = []
            for mode in ("any", "novel"):
                (ok0, n0, low0), (ok1, n1, low1) = _summary(v, mode)
                cells += [f"{ok0} of {n0} / {ok1} of {n1}", f"{low0:.2f} / {low1:.2f}"]
            nll = f"{v['test_nll']:.4f}" if v.get("test_nll") is not None else "–"
            lines.append(f"| {v.get('note') or v['tag'] or 'the recorded run'} | " + " | ".join(cells)
                         + f" | {nll} | {v['classify']['micro']:.3f} | {v['classify']['macro']:.3f} "
                         f"| {v['classify_uniform']['micro']:.3f} | {v['classify_uniform']['macro']:.3f} "
                         f"| `{v['command']}` |")
    for name, title in (("lang_categories_notes.md", ""),
                        ("lang_mix_weights.md", "**Mixture weights**, shared or per category (classification of the "
                         "test names whose characters the model all knows):"),
                        ("lang_heads.md", "**Cheap discriminative heads** on a "
                        "run's likelihoods, fitted on its own validation items (`lang_heads.py`):")):
        if (RESULTS / name).is_file():  # the analysis, written by hand; the heads' table, by lang_heads.py
            lines += ["", *([title, ""] if title else []), (RESULTS / name).read_text(encoding="utf-8").strip()]
    write_section(HERE / "QUALITY.md", "Names by language: categories", "\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--data-dir", type=Path, default=HERE.parents[1] / "shared" / "data")
    p.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE", help="a charsmith.train option")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--model", type=Path, help="measure this trained run instead of training")
    p.add_argument("--net-seed", type=int, default=0, metavar="S",
                   help="train the network with seed S (initial weights, batches, dropout) on the same split")
    p.add_argument("--keep", type=Path, help="copy the trained run directory there")
    p.add_argument("--mix", type=int, default=0, metavar="N",
                   help="with --model: mix its network with the n-gram model of order N (as mix_order N does)")
    p.add_argument("--ensemble", metavar="RUN,RUN",
                   help="with --model and --mix: more network runs of the same shape and split, mixed with it as "
                        "an ensemble (the mean of the networks' distributions)")
    p.add_argument("--tag", default="", help="name of a variant run (its own results file)")
    p.add_argument("--note", default="", help="what the variant is, for the table")
    p.add_argument("--weights-table", metavar="ORDERS",
                   help="with --model: classification by its network mixed with n-gram models of these orders "
                        "(e.g. 4,5), shared or per-category weights; writes results/lang_mix_weights.md")
    p.add_argument("--table", action="store_true", help="only rewrite the QUALITY.md section")
    args = p.parse_args()
    if args.weights_table:
        if not args.model:
            p.error("--weights-table measures the network of --model")
        options = dict(parse_option(s) for s in args.set)
        train, test = split(args.data_dir, seed=SEED)
        with tempfile.TemporaryDirectory() as tmp:
            write_tsv(train, Path(tmp) / "train.tsv")
            text = weights_table(charsmith.load(args.model), Path(tmp) / "train.tsv", test, options,
                                 [int(o) for o in args.weights_table.split(",")])
        cmd = f"python benchmarks/lang_categories.py --model RUN --weights-table {args.weights_table}"
        (RESULTS / "lang_mix_weights.md").write_text(f"Command: `{cmd}` (RUN: the network kept from `python benchmarks/"
                                                     f"lang_categories.py --steps {args.steps} --set mix_order=0 "
                                                     f"--keep RUN`; {datetime.date.today()}).\n\n{text}\n")
        print(text)
        args.table = True
    if not args.table:
        r = run(args)
        RESULTS.mkdir(exist_ok=True)
        name = "lang_categories" + (f"_{args.tag}" if args.tag else "")
        (RESULTS / f"{name}.json").write_text(json.dumps(r, indent=1, ensure_ascii=False) + "\n")
        for c, row in r["categories"].items():
            print(f"{c:<11} {row['train']:>5}  " + "  ".join(
                f"{mode} {k} {_cell(row[f'{mode}_{k}'], row['train'] >= MIN_TRAIN)}"
                for mode in ("any", "novel") for k in ("own", "trigram")))
        print(f"classify: {r['classify']}, uniform {r['classify_uniform']}, trigram {r['trigram']}")
    table()


if __name__ == "__main__":
    main()
