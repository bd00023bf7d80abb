"""Rebuild the pretrained models bundled in ``src/charsmith/pretrained/``.

Each model is trained by charsmith's own ``charsmith train`` on a public data set read
from ``../shared/data`` (never copied into the project); only the checkpoint files
(config.json, model.npz, known.npy) are bundled. The held-out loss each reached is
written to ``src/charsmith/pretrained/MODELS.md``.

    python scripts/build_pretrained.py                      # all models
    python scripts/build_pretrained.py --only dinosaurs --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from charsmith import __version__, load  # noqa: E402
from charsmith.cli import main  # noqa: E402

PRETRAINED = ROOT / "src" / "charsmith" / "pretrained"
BUNDLED_FILES = ("config.json", "model.npz", "known.npy")

# name: (data file, charsmith train options)
RECIPES: dict[str, tuple[str, list[str]]] = {
    "dinosaurs": ("dinos.txt", ["--lowercase", "--model", "gru", "--hidden", "128", "--embed", "32",
                                "--dropout", "0.1", "--batch-size", "32", "--minutes", "3", "--eval-every", "50"]),
    "names": ("makemore_names.txt", ["--model", "gru", "--hidden", "256", "--embed", "32",
                                     "--batch-size", "64", "--minutes", "8", "--eval-every", "200"]),
    "shakespeare": ("tinyshakespeare.txt", ["--mode", "text", "--model", "lstm", "--layers", "2", "--hidden", "256",
                                            "--embed", "64", "--dropout", "0.1", "--seq-len", "128",
                                            "--batch-size", "32", "--minutes", "20", "--eval-every", "250"]),
}


def build(name: str, data_dir: Path) -> str:
    data, options = RECIPES[name]
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / name
        code = main(["train", str(data_dir / data), "--out", str(run), "--seed", "0", "--quiet", *options])
        if code != 0:
            raise SystemExit(f"training {name} failed with exit status {code}")
        target = PRETRAINED / name
        staging = PRETRAINED / f".{name}.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for f in BUNDLED_FILES:
            if (run / f).exists():
                shutil.copy2(run / f, staging / f)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    m = load(target)
    size = sum(f.stat().st_size for f in target.iterdir()) / 1e6
    loss = m.ckpt.info["best_val_loss"]
    c = m.ckpt.model
    return (f"| {name} | `{data}` | {c.cell} x{c.layers}, hidden {c.hidden}, embed {c.embed} | "
            f"{m.ckpt.info['step']} | {loss:.4f} | {size:.1f} MB | `charsmith train {data} {' '.join(options)}` |")


def main_() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--only", choices=sorted(RECIPES), action="append")
    args = p.parse_args()
    rows = {}
    table = PRETRAINED / "MODELS.md"
    if table.exists():  # keep the rows of models not rebuilt this time
        for line in table.read_text().splitlines():
            if line.startswith("| ") and line.split("|")[1].strip() in RECIPES:
                rows[line.split("|")[1].strip()] = line
    for name in args.only or sorted(RECIPES):
        print(f"building {name} ...", flush=True)
        rows[name] = build(name, args.data_dir)
        print(rows[name], flush=True)
    header = [
        "# Bundled pretrained models",
        "",
        "Trained by `scripts/build_pretrained.py` (charsmith's own `charsmith train`, seed 0, on this",
        "project's 2-core CI machine) on the public data sets named; the data itself is not bundled.",
        "Held-out loss: mean negative log-likelihood per character (end tokens included) on the 10%",
        f"of items (or the last 10% of the text) held out. Last rebuilt {datetime.date.today()} with charsmith {__version__}.",
        "",
        "| model | data | network | steps | held-out nats/char | size | options |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    table.write_text("\n".join(header + [rows[k] for k in sorted(rows)]) + "\n")


if __name__ == "__main__":
    main_()
