"""Helpers of the export tests: the sampling specification's Python loop (the ONNX export's
sampler) driven by charsmith's own NumPy step in float64, and the total-variation noise bound.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np

from charsmith import model as M
from charsmith.api import CharModel
from charsmith.export import onnx_sampler


class NumpyStep(onnx_sampler.StepModel):
    """The sampler's model interface over ``charsmith.model.step`` with float64 weights: the
    specification's loop without an ONNX runtime, a reference the exports are compared with."""

    def __init__(self, m: CharModel, known: np.ndarray | None = None) -> None:  # no onnxruntime session
        cats = m.ckpt.categories
        self.cfg = m.ckpt.model
        self.params = {k: v.astype(np.float64) for k, v in m.ckpt.params.items()}
        self.vocab = m.ckpt.vocab.chars
        self.index = {ch: i for i, ch in enumerate(self.vocab)}
        self.text = m.mode == "text"
        self.lowercase = m.lowercase
        self.categories = [] if cats is None else list(cats.names)
        self.counts = [] if cats is None else [float(c) for c in cats.counts]
        self.known = np.zeros(0, dtype="<u4") if known is None else np.unique(np.asarray(known, dtype="<u4"))
        self.names = ("h", "c") if self.cfg.cell == "lstm" else ("h",)
        self.state_names = [f"{s}{i}" for i in range(self.cfg.layers) for s in self.names]
        self.hidden = self.cfg.hidden

    def step(self, ids: np.ndarray, cond: np.ndarray | None, state: dict[str, np.ndarray]
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        st = tuple(tuple(state[f"{s}{i}"] for s in self.names) for i in range(self.cfg.layers))
        logits, new = M.step(self.params, self.cfg, np.asarray(ids, dtype=np.int64), st, cond=cond)
        return logits, {f"{s}{i}": a for i, layer in enumerate(new) for s, a in zip(self.names, layer)}


def histogram(values: Sequence[object], keys: Sequence[object]) -> np.ndarray:
    counts = Counter(values)
    return np.array([counts[k] for k in keys], dtype=np.float64) / len(values)


def tv(p: np.ndarray, q: np.ndarray) -> float:
    return 0.5 * float(np.abs(p - q).sum())


def tv_bound(p: np.ndarray, n: int, m: int, sds: float = 5.0) -> float:
    """A bound on the total variation between two histograms of n and m independent draws from
    one distribution p (estimated by the pooled histogram), that sampling noise exceeds with
    negligible probability: each bin's difference d_j is close to normal with variance
    s_j^2 = p_j (1 - p_j) (1/n + 1/m), so E|d_j| = s_j sqrt(2/pi) and Var|d_j| = s_j^2 (1 - 2/pi);
    TV = sum |d_j| / 2 has mean sum s_j sqrt(2/pi) / 2, and its standard deviation is taken as
    if the bins were independent (the multinomial's negative covariances make that an
    overestimate). Returns mean + ``sds`` standard deviations."""
    s2 = p * (1 - p) * (1 / n + 1 / m)
    mean = 0.5 * math.sqrt(2 / math.pi) * float(np.sqrt(s2).sum())
    sd = 0.5 * math.sqrt((1 - 2 / math.pi) * float(s2.sum()))
    return mean + sds * sd


def shape_tvs(a: Sequence[str], b: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(TV, noise bound) between two lists of items, for their lengths and first letters."""
    out = {}
    for what, key in (("length", len), ("first letter", lambda s: s[:1])):
        ka, kb = [key(s) for s in a], [key(s) for s in b]
        keys = sorted(set(ka) | set(kb), key=str)
        pa, pb = histogram(ka, keys), histogram(kb, keys)
        pooled = (pa * len(a) + pb * len(b)) / (len(a) + len(b))
        out[what] = (tv(pa, pb), tv_bound(pooled, len(a), len(b)))
    return out
