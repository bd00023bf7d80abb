"""Rebuild the pretrained models bundled in ``src/charsmith/pretrained/``.

Each model is trained by charsmith's own ``charsmith train`` on a public data set read
from ``../shared/data`` (never copied into the project); only the checkpoint's files
(config.json and the data files it names) are bundled. The held-out loss each reached is
written to ``src/charsmith/pretrained/MODELS.md``.

    python scripts/build_pretrained.py                      # all models
    python scripts/build_pretrained.py --only dinosaurs --data-dir ../shared/data
    python scripts/build_pretrained.py --resave             # same weights, current checkpoint format
    python scripts/build_pretrained.py --known-only         # only the novelty hashes, from the data

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
from charsmith.api import plan_run  # noqa: E402
from charsmith.checkpoint import data_files, save_checkpoint  # noqa: E402
from charsmith.cli import main  # noqa: E402
from charsmith.data import item_hashes  # noqa: E402

PRETRAINED = ROOT / "src" / "charsmith" / "pretrained"

# name: (data file, charsmith train options). Everything else is charsmith's default for the
# file (src/charsmith/defaults.py), so these are the models a user gets from `charsmith train FILE`.
RECIPES: dict[str, tuple[str, list[str]]] = {
    "dinosaurs": ("dinos.txt", ["--lowercase"]),
    "languages": ("names_by_language", []),  # a folder, one file per language: a model with categories
    "names": ("makemore_names.txt", []),
    "shakespeare": ("tinyshakespeare.txt", ["--mode", "text"]),
}


def build(name: str, data_dir: Path, from_run: Path | None = None) -> str:
    """Train ``name`` by its recipe (or take ``from_run``, a run made by the same recipe) and
    bundle its checkpoint; return its row for MODELS.md."""
    data, options = RECIPES[name]
    with tempfile.TemporaryDirectory() as tmp:
        run = from_run or Path(tmp) / name
        if from_run is None:
            code = main(["train", str(data_dir / data), "--out", str(run), "--seed", "0", "--quiet", *options])
            if code != 0:
                raise SystemExit(f"training {name} failed with exit status {code}")
        else:
            check_recipe(name, data_dir, run)
        bundle(name, run)
    return row(name)


def check_recipe(name: str, data_dir: Path, run: Path) -> None:
    """Refuse a run whose model or training options differ from the recipe's."""
    data, options = RECIPES[name]
    args = {"lowercase": "--lowercase" in options or None, "mode": "text" if "text" in options else None}
    _, model_cfg, train_cfg = plan_run(data_dir / data, **args)
    ckpt = load(run).ckpt
    if (ckpt.model, ckpt.train) != (model_cfg, train_cfg):
        raise SystemExit(f"{run} was not trained by the {name} recipe: {ckpt.model} {ckpt.train}")


def known_items(name: str, data_dir: Path) -> np.ndarray | None:
    """The novelty hashes of ``name``'s data set: every item, held-out ones included (novel
    means "not in the data"), read as its recipe reads the data; None for a text model."""
    data, options = RECIPES[name]
    corpus, _, _ = plan_run(data_dir / data, lowercase="--lowercase" in options or None,
                            mode="text" if "text" in options else None)
    return item_hashes([*corpus.train, *corpus.val]) if corpus.mode == "lines" else None


def bundle(name: str, run: Path) -> None:
    """Copy the checkpoint in ``run`` (its manifest and the files it names, nothing else) into
    the package as ``name``, replacing the old one."""
    staging = PRETRAINED / f".{name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for f in [run / "config.json", *data_files(run).values()]:
        shutil.copy2(f, staging / f.name)
    replace(name, staging)


def resave(name: str, data_dir: Path | None = None) -> None:
    """Load bundled model ``name`` and save it again in the current checkpoint format; with
    ``data_dir``, with its novelty hashes recomputed from the data (:func:`known_items`)."""
    staging = PRETRAINED / f".{name}.new"
    shutil.rmtree(staging, ignore_errors=True)
    ckpt = load(PRETRAINED / name).ckpt
    if data_dir is not None:
        ckpt = dataclasses.replace(ckpt, known=known_items(name, data_dir))
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
            f"{t.minutes:g} min, best at step {m.ckpt.info['step']} | {m.ckpt.info['best_val_loss']:.4f} | "
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
    if args.resave or args.known_only:
        return
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
    (PRETRAINED / "MODELS.md").write_text("\n".join(header + rows) + "\n")


if __name__ == "__main__":
    main_()
