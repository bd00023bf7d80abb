"""Exported generators: sizes, float16's held-out loss change, and Node speed against a trigram baseline.

    python benchmarks/bench_export.py [--data-dir DIR] [--rounds 3] [--json benchmarks/results/export.json]

For every bundled model: the size of the js and html exports in float32 and float16, and the
held-out loss (the split the bundled model was trained with: 10% of the items, or the last 10%
of the text, seed 0) with the float32 weights and with the weights rounded to float16. For
dinosaurs and languages: in Node, the time from loading the js module to its first name and
names/s, against a character trigram Markov chain written in JavaScript (benchmarks/trigram.mjs,
Witten-Bell smoothing, one chain per category), whose held-out loss on the same split is given
too. Speeds are medians over ``--rounds`` interleaved rounds, in wall-clock time and in the Node
process's CPU time (the machine is shared: read the ratios, measured in the same run, and the CPU
figures, rather than the wall-clock ones). The load average is recorded with the results.
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
from typing import Any

import numpy as np

import charsmith
from charsmith._corpus import load_corpus, make_labelled_corpus
from charsmith._labelled import read_labelled
from charsmith.export import export
from charsmith.scoring import score_items, stream_loss, summarize

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_DATA_DIR, HERE, command_line  # noqa: E402

DATA = {"dinosaurs": "dinos.txt", "languages": "names_by_language", "names": "makemore_names.txt",
        "shakespeare": "tinyshakespeare.txt"}
SPEED_NAMES = {"dinosaurs": 3000, "languages": 1000}


def split(m: charsmith.CharModel, path: Path) -> Any:
    """The held-out split the bundled model was trained with."""
    rng = np.random.default_rng(m.ckpt.train.seed)
    lower, frac = m.ckpt.train.lowercase, m.ckpt.train.val_fraction
    if path.is_dir():
        return make_labelled_corpus(read_labelled(path, lowercase=lower), val_fraction=frac, rng=rng)
    return load_corpus(path, mode=m.mode, lowercase=lower, val_fraction=frac, rng=rng)


def held_out(m: charsmith.CharModel, corpus: Any, params: dict[str, np.ndarray]) -> float:
    cfg, vocab = m.ckpt.model, m.ckpt.vocab
    if m.mode == "text":
        return stream_loss(params, cfg, np.asarray(corpus.val, dtype=np.int64)).loss
    return summarize(score_items(params, cfg, vocab, corpus.val, cond=corpus.val_cats)).loss


def labelled(corpus: Any, items: list[str], ids: np.ndarray | None) -> list[list[str]]:
    """[[category, item], ...] (category "" without categories) for the trigram baseline."""
    names = corpus.categories.names if corpus.categories else None
    return [[names[int(k)] if names else "", s] for s, k in zip(items, ids if ids is not None else [0] * len(items),
                                                                 strict=True)]


def node_json(*args: str) -> dict[str, float]:
    res = subprocess.run(["node", *args], capture_output=True, text=True, check=True, timeout=900)
    return json.loads(res.stdout)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if shutil.which("node") is None:
        sys.exit("node is not installed")
    data_dir = Path(args.data_dir)
    out: dict[str, Any] = {"command": command_line(), "load_average_before": os.getloadavg(), "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, file in DATA.items():
            m = charsmith.load(name)
            row: dict[str, Any] = {}
            for dtype in ("float32", "float16"):
                for fmt, ext in (("js", "js"), ("html", "html")):
                    path = export(m, root / f"{name}-{dtype}.{ext}", format=fmt, dtype=dtype)[0]
                    row[f"{fmt}_{dtype}_bytes"] = path.stat().st_size
            corpus = split(m, data_dir / file)
            p32 = m.ckpt.params
            p16 = {k: v.astype(np.float16).astype(v.dtype) for k, v in p32.items()}
            row["val_loss_float32"] = held_out(m, corpus, p32)
            row["val_loss_float16"] = held_out(m, corpus, p16)
            row["float16_change"] = row["val_loss_float16"] - row["val_loss_float32"]
            if name in SPEED_NAMES:
                n = SPEED_NAMES[name]
                job = root / f"{name}-trigram.json"
                job.write_text(json.dumps({"train": labelled(corpus, corpus.train, corpus.train_cats),
                                           "val": labelled(corpus, corpus.val, corpus.val_cats)}), encoding="utf-8")
                ours, tri, py = [], [], []
                for _ in range(args.rounds):
                    ours.append(node_json(str(HERE / "export_speed.mjs"), str(root / f"{name}-float32.js"), str(n)))
                    tri.append(node_json(str(HERE / "trigram.mjs"), str(job), str(20 * n)))
                    t = time.perf_counter()
                    m.sample(n, seed=1, allow_known=True)
                    py.append(n / (time.perf_counter() - t))
                for key in ("names_per_s", "names_per_cpu_s", "first_ms", "first_cpu_ms"):
                    row[f"node_{key}"] = statistics.median(r[key] for r in ours)
                    row[f"trigram_{key}"] = statistics.median(r[key] for r in tri)
                row["trigram_val_loss"] = tri[0]["val_nats_per_char"]
                row["python_sample_names_per_s"] = statistics.median(py)
            out["models"][name] = row
            print(name, json.dumps(row), flush=True)
    out["load_average_after"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
