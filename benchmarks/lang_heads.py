"""Cheap discriminative heads on top of a trained model's likelihoods: do they lift classification?

    python benchmarks/lang_categories.py --steps 6000 --keep RUN    # a run on lang_categories' split
    python benchmarks/lang_heads.py RUN

A run's own validation items (the 10% of ``train.tsv`` charsmith held out, rebuilt with the
run's seed) fit each head by multinomial logistic regression (Adam, L2 ``reg``); the test names
of ``lang_categories``' split measure it (micro and macro accuracy, training priors included in
every head's scores):

- ``bias``: s_c = log P(x | c) + log pi_c + b_c (a learned prior, K numbers);
- ``scale``: s_c = exp(a_c) log P(x | c) + log pi_c + b_c (2K numbers);
- ``linear``: s = log P(x | .) + log pi + [1, (log P(x | .) - max) / 10] @ W ((K+1) x K);
- ``hidden``: s = log P(x | .) + log pi + [1, h] @ W, h the final state under the uniform blend
  of the categories ((H+1) x K).

Prints a markdown table; with ``--write``, also into ``benchmarks/results/lang_heads.md``, which
``lang_categories.py --table`` quotes in ``QUALITY.md``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from lang_categories import SEED  # noqa: E402
from lang_split import split, write_tsv  # noqa: E402

import charsmith  # noqa: E402
from charsmith import model as M  # noqa: E402
from charsmith._corpus import make_labelled_corpus  # noqa: E402
from charsmith._labelled import read_labelled  # noqa: E402
from charsmith.openvocab import encode_open  # noqa: E402
from charsmith.scoring import category_logliks  # noqa: E402


def accuracy(s: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    hit = s.argmax(axis=1) == y
    return float(hit.mean()), float(np.mean([hit[y == k].mean() for k in np.unique(y)]))


def _pair(xy: tuple[float, float]) -> str:
    return f"{xy[0]:.3f} / {xy[1]:.3f}"


def fit(x: np.ndarray, base: np.ndarray, y: np.ndarray, reg: float, *, steps: int = 2000, lr: float = 0.02,
        scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """W (F, K) (and log-scales a (K,) if ``scale`` holds log P(x | c)) maximising
    mean log softmax(base [+ (exp(a) - 1) scale] + x @ W)[y] - reg/2 |W|^2 by Adam."""
    n, k = base.shape
    w, a = np.zeros((x.shape[1], k)), np.zeros(k)
    moments = [np.zeros_like(w), np.zeros_like(w), np.zeros(k), np.zeros(k)]
    for t in range(1, steps + 1):
        s = base + x @ w + (0 if scale is None else (np.exp(a) - 1) * scale)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(n), y] -= 1
        grads = [x.T @ p / n + reg * w, ((p * scale * np.exp(a)).sum(0) / n + reg * a) if scale is not None else None]
        for i, (param, g) in enumerate(zip((w, a), grads)):
            if g is None:
                continue
            m1, m2 = moments[2 * i], moments[2 * i + 1]
            m1 += 0.1 * (g - m1)
            m2 += 0.001 * (g * g - m2)
            param -= lr * (m1 / (1 - 0.9**t)) / (np.sqrt(m2 / (1 - 0.999**t)) + 1e-8)
    return w, a


def final_states(m: charsmith.CharModel, items: list[str]) -> np.ndarray:
    """(N, H) the top layer's state after each item, under the uniform blend of the categories."""
    ck = m.ckpt
    w = np.full((1, ck.model.categories), 1.0 / ck.model.categories, dtype=ck.params["W_out"].dtype)
    out = []
    for s in items:
        ids = np.concatenate(([0], encode_open(ck.vocab, s)[1]))[None]
        _, state, _ = M.forward(ck.params, ck.model, ids, M.init_state(ck.model, 1, w.dtype), cond=w)
        out.append(state[-1][0][0])
    return np.array(out, dtype=np.float64)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a run trained by lang_categories.py (--keep)")
    p.add_argument("--data-dir", type=Path, default=HERE.parents[1] / "shared" / "data")
    p.add_argument("--hidden", action="store_true", help="also the hidden-state head (slower)")
    p.add_argument("--write", action="store_true", help="also write benchmarks/results/lang_heads.md")
    args = p.parse_args()
    m = charsmith.load(args.run)
    ck = m.ckpt
    train, test = split(args.data_dir, seed=SEED)
    with tempfile.TemporaryDirectory() as tmp:
        write_tsv(train, Path(tmp) / "train.tsv")
        data = read_labelled(Path(tmp) / "train.tsv", lowercase=ck.train.lowercase)
    corpus = make_labelled_corpus(data, val_fraction=ck.train.val_fraction, rng=np.random.default_rng(ck.train.seed))
    cats = ck.categories
    val = list(corpus.val)
    y_val = np.array([cats.index(data.names[k]) for k in corpus.val_cats])
    y_test = np.array([cats.index(c) for c, _ in test])
    names = [n for _, n in test]
    logliks = {part: category_logliks(ck.params, ck.model, ck.vocab, items, unknown_mass=ck.unknown)
               for part, items in (("val", val), ("test", names))}
    lp = cats.log_priors()
    rows = ["| head | reg | validation micro / macro | test micro / macro |", "| --- | --- | --- | --- |"]
    rows.append(f"| Bayes' rule (none) | | {_pair(accuracy(logliks['val'] + lp, y_val))} "
          f"| {_pair(accuracy(logliks['test'] + lp, y_test))} |")
    feats = {"bias": lambda L, part: np.ones((len(L), 1)),
             "scale": lambda L, part: np.ones((len(L), 1)),
             "linear": lambda L, part: np.c_[np.ones(len(L)), (L - L.max(axis=1, keepdims=True)) / 10]}
    if args.hidden:
        states = {"val": final_states(m, val), "test": final_states(m, names)}
        feats["hidden"] = lambda L, part: np.c_[np.ones(len(L)), states[part]]
    for head, f in feats.items():
        for reg in (1e-3, 1e-2, 1e-1):
            L = logliks["val"]
            w, a = fit(f(L, "val"), L + lp, y_val, reg, scale=L if head == "scale" else None)
            score = {part: logliks[part] * np.exp(a) + lp + f(logliks[part], part) @ w for part in ("val", "test")}
            rows.append(f"| {head} | {reg:g} | {_pair(accuracy(score['val'], y_val))} "
                  f"| {_pair(accuracy(score['test'], y_test))} |")

    text = "\n".join([f"Command: `python benchmarks/lang_heads.py RUN{' --hidden' if args.hidden else ''}` (RUN: a "
                      "run of `lang_categories.py`, kept with `--keep RUN`).", "", *rows])
    print(text)
    if args.write:
        (HERE / "results" / "lang_heads.md").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
