"""Masked softmax cross-entropy over (B, T, V) logits.

    loss = sum(w * -log_softmax(logits)[targets])      w = mask / mask.sum() ("mean")
                                                           or mask            ("sum")
    dlogits = dloss * w[..., None] * (softmax(logits) - onehot(targets))

Positions with mask 0 contribute nothing, and their targets may be anything (e.g. -1
padding). A float mask weights positions. An all-zero mask gives loss 0.0, zero grads.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

__all__ = ["cross_entropy_forward", "cross_entropy_backward"]

LossCache = tuple[np.ndarray, np.ndarray, np.ndarray]


def cross_entropy_forward(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    reduction: Literal["mean", "sum"] = "mean",
) -> tuple[float, LossCache]:
    """Loss over masked positions; logits (B, T, V) float, targets (B, T) int, mask (B, T).

    Computed in the logits' dtype with log-sum-exp. Returns (loss, cache).
    """
    logits = np.asarray(logits)
    targets = np.asarray(targets)
    mask = np.asarray(mask)
    if logits.ndim != 3 or not np.issubdtype(logits.dtype, np.floating):
        raise ValueError(f"logits must be a float (B, T, V) array, got {logits.dtype} shape {logits.shape}")
    if targets.shape != logits.shape[:2] or mask.shape != logits.shape[:2]:
        raise ValueError(
            f"targets and mask must have shape {logits.shape[:2]} (logits' B, T), "
            f"got {targets.shape} and {mask.shape}"
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets must be integers, got {targets.dtype}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    V = logits.shape[2]
    w = mask.astype(logits.dtype)  # (B, T) weights
    on = w != 0
    if on.any():
        tmin, tmax = targets[on].min(), targets[on].max()
        if tmin < 0 or tmax >= V:
            raise ValueError(f"masked-in targets must be in [0, {V}), got values in [{tmin}, {tmax}]")
    if reduction == "mean":
        total = w.sum()
        if total != 0:
            w /= total
    safe = np.where(on, targets, 0)  # (B, T) valid row indices everywhere

    z = logits - logits.max(axis=-1, keepdims=True)  # (B, T, V), <= 0
    probs = np.exp(z)
    s = probs.sum(axis=-1)  # (B, T)
    z_t = np.take_along_axis(z, safe[..., None], axis=-1)[..., 0]  # (B, T)
    nll = np.log(s) - z_t  # -log softmax at the target
    loss = float((w * nll).sum())
    probs /= s[..., None]
    return loss, (probs, safe, w)


def cross_entropy_backward(dloss: float, cache: LossCache) -> np.ndarray:
    """dlogits (B, T, V) = dloss * w * (softmax - onehot(target)), in the logits' dtype."""
    probs, safe, w = cache
    scale = w * probs.dtype.type(dloss)  # (B, T)
    dlogits = probs * scale[..., None]
    b, t = np.indices(safe.shape, sparse=True)
    dlogits[b, t, safe] -= scale
    return dlogits


