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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from charsmith._checks import number, whole

__all__ = ["TEMPERATURE", "TOP_K", "TOP_P", "Controls", "draw", "next_probs"]

TEMPERATURE, TOP_K, TOP_P = 1.0, 0, 1.0  # the defaults: the model's own distribution, unfiltered

_FAST_MIN_T = 1e-30  # below this, 1 / temperature overflows float32: the float64 path defines the limit
_BY_COLUMNS = 64  # rows from which the weights are summed as columns (see _draw_columns)


@dataclass(frozen=True)
class Controls:
    """How sharply to sample: ``temperature`` > 0; ``top_k`` >= 1 keeps the k likeliest
    characters (0: all); ``top_p`` in (0, 1] keeps the likeliest covering that mass."""

    temperature: float = TEMPERATURE
    top_k: int = TOP_K
    top_p: float = TOP_P

    def __post_init__(self) -> None:
        number("temperature", self.temperature, "a finite number > 0", lambda t: t > 0)
        whole("top_k", self.top_k, 0)
        number("top_p", self.top_p, "a probability in (0, 1]", lambda p: 0 < p <= 1)

    def probs(self, logits: np.ndarray) -> np.ndarray:
        """The filtered next-character distribution (B, V) for logits (B, V)."""
        return next_probs(logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p)

    def sample(self, logits: np.ndarray, rng: np.random.Generator, *, banned: int | None = None) -> np.ndarray:
        """One id per row of logits (B, V), drawn from :meth:`probs` with id ``banned`` (if
        any) left out, as :func:`draw` draws. Float32 logits without top-k or top-p are drawn
        in float32 from the unnormalised weights exp((logits - max) / temperature): the same
        distribution, without the float64 copy and the normalising pass."""
        if banned is not None:  # out before the maximum, so the likeliest allowed id keeps weight 1
            logits = logits.copy()
            logits[:, banned] = -np.inf
        if self.top_k or self.top_p < 1.0 or logits.dtype != np.float32 or self.temperature < _FAST_MIN_T:
            return draw(self.probs(logits), rng)
        by_columns = logits.shape[0] >= _BY_COLUMNS
        w = logits.T.copy() if by_columns else logits.copy()  # (V, B) or (B, V)
        axis = 0 if by_columns else 1
        w -= w.max(axis=axis, keepdims=True)  # the likeliest at 0
        if self.temperature != 1.0:
            w *= np.float32(1.0 / self.temperature)
        np.exp(w, out=w)
        return _draw_columns(w, rng) if by_columns else draw(w, rng)


SAMPLING_ONLY = {"temperature": TEMPERATURE, "top_k": TOP_K, "top_p": TOP_P, "seed": None, "rng": None,
                 "unique": False, "novel_edits": 0}  # with their defaults


def sampling_only(options: Mapping[str, Any]) -> list[str]:
    """The options of ``options`` that only sampling uses, set away from their defaults: a
    search for the likeliest items (beam, greedy) would ignore them, so callers refuse them."""
    return [name for name, default in SAMPLING_ONLY.items() if options.get(name, default) != default]


def next_probs(logits: np.ndarray, *, temperature: float = TEMPERATURE, top_k: int = TOP_K,
               top_p: float = TOP_P) -> np.ndarray:
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
    """One index per row of the weights ``p`` (B, V), by inverting the CDF with one uniform
    per row: the first index whose cumulative weight exceeds u * total. Rows must have some
    positive mass; they need not sum to 1. Sums run in ``p``'s dtype, u is kept below the
    total (so an index of zero weight is never drawn)."""
    if p.shape[0] >= _BY_COLUMNS:
        return _draw_columns(p.T.copy(), rng)
    cdf = np.cumsum(p, axis=1)  # (B, V)
    u = _below(rng.random((p.shape[0],)), cdf[:, -1])
    return np.argmax(cdf > u[:, None], axis=1)


def _draw_columns(w: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`draw` for the weights given as columns, w (V, B), overwritten: the cumulative
    sums run down the columns, V vector additions (NumPy's cumsum along the short rows of a
    (B, V) array is ~10x slower); the same numbers, the same draws."""
    for k in range(1, w.shape[0]):
        np.add(w[k], w[k - 1], out=w[k])
    u = _below(rng.random((w.shape[1],)), w[-1])
    return np.add.reduce(w <= u, axis=0, dtype=np.intp)


def _below(r: np.ndarray, total: np.ndarray) -> np.ndarray:
    """u = r * total (B,) in total's dtype, strictly below total (rounding could reach it)."""
    u = (r * total).astype(total.dtype)
    return np.minimum(u, np.nextafter(total, 0), out=u)
