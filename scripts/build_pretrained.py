"""Rebuild the pretrained models bundled in ``src/charsmith/pretrained/``.

Each model is trained by charsmith's own ``charsmith train`` on a public data set read
from ``../shared/data`` (never copied into the project); only the checkpoint's files
(config.json and the data files it names) are bundled. The held-out loss each reached is
written to ``src/charsmith/pretrained/MODELS.md``.

    python scripts/build_pretrained.py                      # all models
    python scripts/build_pretrained.py --only dinosaurs --data-dir ../shared/data
    python scripts/build_pretrained.py --resave             # same weights, current checkpoint format
    python scripts/build_pretrained.py --known-only         # only the novelty hashes, from the data
    python scripts/build_pretrained.py --only base          # words of many languages (wordfreq) and shared sets

``base`` trains on a folder that ``scripts/base_data.py`` writes at build time (from the
``wordfreq`` package and the shared data sets; see that script), in a temporary directory.

``--resave`` migrates the bundled checkpoints to the format this charsmith writes, without
training: each is loaded and saved again, its weights, vocabulary and metrics unchanged.
``--known-only`` does the same with the novelty hashes recomputed from the data set.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from charsmith import __version__, load  # noqa: E402
from charsmith._novelty import item_hashes  # noqa: E402
from charsmith.api import plan_run  # noqa: E402
from charsmith.checkpoint import data_files, save_checkpoint  # noqa: E402
from charsmith.cli import main  # noqa: E402
from charsmith.scoring import score_items, summarize  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import base_data  # noqa: E402

PRETRAINED = ROOT / "src" / "charsmith" / "pretrained"

# name: (data file, charsmith train options). Everything else is charsmith's default for the
# file (src/charsmith/defaults.py), so these are the models a user gets from `charsmith train FILE`.
RECIPES: dict[str, tuple[str, list[str]]] = {
    "dinosaurs": ("dinos.txt", ["--lowercase"]),
    # a folder, one file per language: a model with categories; the network alone (no n-gram mixture, the
    # default for long labelled lists): the exports write networks, and an order-5 n-gram of 18 languages is 44 MB;
    # a fixed step budget, as 5 minutes on a busy machine gave 3,545 steps
    "languages": ("names_by_language", ["--mix-order", "0", "--steps", "8000"]),
    "names": ("makemore_names.txt", []),
    "shakespeare": ("tinyshakespeare.txt", ["--mode", "text"]),
    # words of many languages and the shared sets, written by scripts/base_data.py; a fixed step budget
    "base": ("base_data", ["--steps", "16000", "--eval-every", "500"]),
}
GENERATED = {"base": base_data.write}  # recipes whose data folder a script writes at build time


def data_path(name: str, data_dir: Path, tmp: Path) -> Path:
    """Where ``name``'s data is: a file or folder of ``data_dir``, or the folder its script
    writes into ``tmp``."""
    data = RECIPES[name][0]
    if name not in GENERATED:
        return data_dir / data
    if not (tmp / data).is_dir():
        GENERATED[name](tmp / data, data_dir)
    return tmp / data


def build(name: str, data_dir: Path, from_run: Path | None = None) -> str:
    """Train ``name`` by its recipe (or take ``from_run``, a run made by the same recipe) and
    bundle its checkpoint; return its row for MODELS.md."""
    options = RECIPES[name][1]
    with tempfile.TemporaryDirectory() as tmp:
        data = data_path(name, data_dir, Path(tmp))
        run = from_run or Path(tmp) / name
        if from_run is None:
            code = main(["train", str(data), "--out", str(run), "--seed", "0", "--quiet", *options])
            if code != 0:
                raise SystemExit(f"training {name} failed with exit status {code}")
        else:
            check_recipe(name, data, run)
        bundle(name, run)
        if load(PRETRAINED / name).ckpt.categories is not None:
            resave(name, held_out=held_out_by_category(name, data))
    return row(name)


def recipe_options(name: str) -> dict:
    """The options of ``name``'s recipe as plan_run takes them (None: not given)."""
    options = RECIPES[name][1]
    value = {o: options[options.index(o) + 1] for o in ("--steps", "--eval-every", "--mix-order") if o in options}
    return {"lowercase": "--lowercase" in options or None, "mode": "text" if "text" in options else None,
            "steps": int(value["--steps"]) if "--steps" in value else None,
            "eval_every": int(value["--eval-every"]) if "--eval-every" in value else None,
            "mix_order": int(value["--mix-order"]) if "--mix-order" in value else None}


def check_recipe(name: str, data: Path, run: Path) -> None:
    """Refuse a run whose model or training options differ from the recipe's."""
    _, model_cfg, train_cfg = plan_run(data, **recipe_options(name))
    ckpt = load(run).ckpt
    if (ckpt.model, ckpt.train) != (model_cfg, train_cfg):
        raise SystemExit(f"{run} was not trained by the {name} recipe: {ckpt.model} {ckpt.train}")


def known_items(name: str, data_dir: Path) -> np.ndarray | None:
    """The novelty hashes of ``name``'s data set: every item, held-out ones included (novel
    means "not in the data"), read as its recipe reads the data; None for a text model."""
    with tempfile.TemporaryDirectory() as tmp:
        corpus, _, _ = plan_run(data_path(name, data_dir, Path(tmp)), **recipe_options(name))
    return item_hashes([*corpus.train, *corpus.val]) if corpus.mode == "lines" else None


def held_out_by_category(name: str, data: Path) -> dict[str, float]:
    """The bundled ``name``'s held-out loss (nats/char, end tokens included) on the items its
    run held out (the same split: same data and seed), each under its own category:
    overall (``"all"``) and per category."""
    m = load(PRETRAINED / name)
    corpus, _, _ = plan_run(data, **recipe_options(name))
    ck = m.ckpt
    scores = score_items(ck.params, ck.model, ck.vocab, corpus.val, cond=np.asarray(corpus.val_cats))  # type: ignore[arg-type]
    cats = np.asarray(corpus.val_cats)
    out = {"all": summarize(scores).loss}
    for k, cat in enumerate(ck.categories.names):  # type: ignore[union-attr]
        out[cat] = summarize([s for s, c in zip(scores, cats) if c == k]).loss
    return out


def bundle(name: str, run: Path) -> None:
    """Copy the checkpoint in ``run`` (its manifest and the files it names, nothing else) into
    the package as ``name``, replacing the old one."""
    staging = PRETRAINED / f".{name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for f in [run / "config.json", *data_files(run).values()]:
        shutil.copy2(f, staging / f.name)
    replace(name, staging)


def resave(name: str, data_dir: Path | None = None, held_out: dict[str, float] | None = None) -> None:
    """Load bundled model ``name`` and save it again in the current checkpoint format; with
    ``data_dir``, with its novelty hashes recomputed from the data (:func:`known_items`); with
    ``held_out``, with that held-out loss by category in its info."""
    staging = PRETRAINED / f".{name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    ckpt = load(PRETRAINED / name).ckpt
    if data_dir is not None:
        ckpt = dataclasses.replace(ckpt, known=known_items(name, data_dir))
    if held_out is not None:
        ckpt = dataclasses.replace(ckpt, info=dict(ckpt.info, held_out_by_category=held_out))
    save_checkpoint(staging, ckpt)
    replace(name, staging)


def replace(name: str, staging: Path) -> None:
    target = PRETRAINED / name
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def row(name: str) -> str:
    data, options = RECIPES[name]
    m = load(PRETRAINED / name)
    size = sum(f.stat().st_size for f in (PRETRAINED / name).iterdir()) / 1e6
    c, t = m.ckpt.model, m.ckpt.train
    command = " ".join(["charsmith train", data, *options])
    cats = f", {c.categories} categories (embed {c.cat_embed})" if c.categories else ""
    return (f"| {name} | `{data}` | {c.cell} x{c.layers}, hidden {c.hidden}, embed {c.embed}, "
            f"dropout {c.dropout}{cats} | "
            f"{f'{t.minutes:g} min' if t.minutes else f'{t.steps:,} steps'}, best at step {m.ckpt.info['step']} | "
            f"{m.ckpt.info['best_val_loss']:.4f} | "
            f"{size:.1f} MB | `{command}` |")


def main_() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--only", choices=sorted(RECIPES), action="append")
    p.add_argument("--from-run", type=Path, help="with one --only: bundle this run (made by the same recipe)")
    p.add_argument("--resave", action="store_true", help="rewrite the bundled models in the current format, no training")
    p.add_argument("--known-only", action="store_true",
                   help="only recompute the novelty hashes from the data (no training)")
    args = p.parse_args()
    if args.from_run and len(args.only or []) != 1:
        p.error("--from-run goes with exactly one --only")
    for name in args.only or sorted(RECIPES):
        if args.resave or args.known_only:
            resave(name, args.data_dir if args.known_only else None)
            continue
        print(f"building {name} ...", flush=True)
        print(build(name, args.data_dir, args.from_run), flush=True)
    if not (args.resave or args.known_only):
        write_models_md()


def write_models_md() -> None:
    """MODELS.md: a row per bundled model, then the section on ``base``."""
    rows = [row(name) for name in sorted(RECIPES) if (PRETRAINED / name / "config.json").is_file()]
    header = [
        "# Bundled pretrained models",
        "",
        "Trained by `scripts/build_pretrained.py` (charsmith's own `charsmith train`, seed 0, on this",
        "project's 2-core CI machine) on the public data sets named; the data itself is not bundled.",
        "Held-out loss: mean negative log-likelihood per character (end tokens included) on the 10%",
        "of items (or the last 10% of the text) held out; for `languages`, 10% of every language, each",
        "name scored under its own language. The novelty hashes (`known`) cover every item of the data",
        f"set, held-out ones included. Last rebuilt {datetime.date.today()} with charsmith {__version__}.",
        "",
        "| model | data | network | budget (best at) | held-out nats/char | size | command |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    extra = base_section() if (PRETRAINED / "base" / "config.json").is_file() else []
    (PRETRAINED / "MODELS.md").write_text("\n".join(header + rows + extra) + "\n")


def base_section() -> list[str]:
    """MODELS.md's section on ``base``: its data, licence and credit, and held-out loss per category."""
    m = load(PRETRAINED / "base")
    held = m.ckpt.info.get("held_out_by_category", {})
    counts = dict(zip(m.ckpt.categories.names, m.ckpt.categories.counts))  # type: ignore[union-attr]
    languages = ", ".join(f"{name} (`{code}`)" for code, (name, _) in base_data.LANGUAGES.items())
    out = [
        "",
        "## base",
        "",
        "A broad start for small lists (`charsmith train FILE --init base`; a list of 1 to 5 items",
        "starts from it by default), and a model of its own: `charsmith sample base --category \"Finnish words\"`.",
        f"{len(counts)} categories, {sum(counts.values()):,} training items, {m.ckpt.vocab.size - 1} characters "
        "(Latin, Greek and Cyrillic letters):",
        "",
        f"- **`<Language> words`**: the {base_data.WORDS_PER_LANGUAGE:,} most frequent words of {len(base_data.LANGUAGES)} "
        f"languages, {base_data.MIN_LEN} to {base_data.MAX_LEN} letters, all of the language's script, as",
        "  the [`wordfreq`](https://github.com/rspeer/wordfreq) package lists them (lower-case):",
        f"  {languages}.",
        "  **Licence and credit.** wordfreq is by Robyn Speer (Robyn Speer, 2022, rspeer/wordfreq v3.0,",
        "  Zenodo, https://doi.org/10.5281/zenodo.7199437); its code is Apache-2.0 and its word lists are",
        "  redistributable under **CC BY-SA 4.0** (https://creativecommons.org/licenses/by-sa/4.0/). As its",
        "  licence asks, the sources of those lists are credited: Google Books Ngrams",
        "  (http://books.google.com/ngrams), the Leeds Internet Corpus (University of Leeds Centre for",
        "  Translation Studies), Wikipedia, ParaCrawl, OPUS OpenSubtitles 2018 (from the OpenSubtitles",
        "  project, http://www.opensubtitles.org/), the SUBTLEX word lists by Marc Brysbaert et al. (freely",
        "  available data, http://crr.ugent.be/programs-data/subtitle-frequencies), NewsCrawl, GlobalVoices,",
        "  OSCAR, Twitter and Reddit word counts. The word lists are not bundled: they are read from the",
        "  installed package at build time and only the weights learned from them ship; we take these",
        "  weights to be a work based on the lists and offer them under the same CC BY-SA 4.0 terms.",
        "- **The shared data sets** (`../shared/data`, see its SOURCES.md): the surname files of",
        "  `names_by_language` (MIT, Sean Robertson) but Irish, makemore's first names (MIT, Andrej",
        "  Karpathy) and NLTK's names corpus (`people_names.txt`, Kantrowitz & Ross, free use with credit).",
        "",
        "Left out on purpose, so that `benchmarks/base_finetune.py` can measure fine-tuning on lists the",
        "base never saw: the wordfreq languages "
        + ", ".join(f"{n} (`{c}`)" for c, (n, _) in base_data.HELD_OUT_LANGUAGES.items())
        + ", and the sets " + ", ".join(f"`{f}`" for f in base_data.HELD_OUT_SETS) + " (with every line",
        "of the kept files that is also one of their items).",
        "",
        "Rebuild (needs `pip install wordfreq`): `python scripts/build_pretrained.py --only base`, which runs",
        "`python scripts/base_data.py DIR` and `charsmith train DIR " + " ".join(RECIPES["base"][1]) + " --seed 0`.",
    ]
    sizes = {f.name.split("-")[0]: f.stat().st_size / 1e6 for f in (PRETRAINED / "base").iterdir()}
    out += ["", f"Size {sum(sizes.values()):.1f} MB: weights {sizes.get('weights', 0):.1f} MB, novelty hashes "
            f"{sizes.get('known', 0):.1f} MB. The fixed budget ({int(RECIPES['base'][1][1]):,} steps) took 47 minutes "
            "on the shared 2-core build machine (about 10 on a quiet one); the held-out loss was still falling at the",
            f"last evaluation (best at step {m.ckpt.info['step']:,}), so a longer run would do better."]
    if held:
        out += ["", f"Held-out loss, nats/char (10% of every category, each item under its own category): "
                f"{held['all']:.4f} overall.", "", "| category | training items | held-out nats/char |",
                "| --- | --- | --- |"]
        out += [f"| {c} | {counts[c]:,} | {held[c]:.4f} |" for c in sorted(counts)]
    return out


if __name__ == "__main__":
    main_()
