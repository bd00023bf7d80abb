"""The next-character distribution: temperature, top-k and top-p, and drawing from it.

Limits, defined rather than left to floating point:

- a temperature so small that ``logits / temperature`` overflows is the limit T -> 0: the
  likeliest character gets all the probability (tied ones share it equally). Logits are
  shifted so the largest is 0 before dividing, so this holds down to the smallest positive
  float (5e-324);
- top-p always keeps the likeliest character, however small ``top_p`` is, so a tiny top-p
  is greedy decoding too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from charsmith.errors import CharsmithError

__all__ = ["Controls", "draw", "next_probs"]


@dataclass(frozen=True)
class Controls:
    """How sharply to sample: ``temperature`` > 0; ``top_k`` >= 1 keeps the k likeliest
    characters (0: all); ``top_p`` in (0, 1] keeps the likeliest covering that mass."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        t = self.temperature
        if not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
            raise CharsmithError(f"temperature must be a finite number > 0, got {self.temperature}")
        if not isinstance(self.top_k, (int, np.integer)) or self.top_k < 0:
            raise CharsmithError(f"top_k must be >= 1 (or 0 for no limit), got {self.top_k}")
        if not (isinstance(self.top_p, (int, float)) and 0 < self.top_p <= 1):
            raise CharsmithError(f"top_p must be in (0, 1], got {self.top_p}")

    def probs(self, logits: np.ndarray) -> np.ndarray:
        """The filtered next-character distribution (B, V) for logits (B, V)."""
        return next_probs(logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)


def next_probs(logits: np.ndarray, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Next-character distribution (B, V) from logits (B, V) after temperature, then top-k,
    then top-p (nucleus) filtering. ``top_k=0`` and ``top_p=1`` disable the filters."""
    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)  # the likeliest at 0, so a tiny temperature sends the rest to -inf
    with np.errstate(over="ignore"):
        z /= temperature
    if 0 < top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k, None]  # (B, 1) k-th largest logit
        z = np.where(z >= kth, z, -np.inf)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-p, axis=1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=1)
        drop_sorted = np.cumsum(sorted_p, axis=1) - sorted_p >= top_p - 1e-9  # mass before it covers top_p
        drop_sorted[:, 0] = False  # the likeliest always stays
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=1)
        p[drop] = 0.0
        p /= p.sum(axis=1, keepdims=True)
    return p


def draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of the distributions ``p`` (B, V), by inverting the CDF. Rows must
    have some positive mass; they need not sum to 1."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random((p.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), p.shape[1] - 1)
