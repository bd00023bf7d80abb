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

from charsmith import backend

__all__ = ["cross_entropy_forward", "cross_entropy_backward", "weights_and_targets"]

LossCache = tuple[np.ndarray, np.ndarray]  # (w * (softmax - onehot) (B, T, V), w (B, T))


def weights_and_targets(
    shape: tuple[int, ...], dtype: np.dtype, targets: np.ndarray, mask: np.ndarray, reduction: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Check targets and mask against logits of ``shape`` (B, T, V); return the per-position
    weights w (B, T) in ``dtype`` (mask, divided by its sum for "mean") and the targets with
    masked-out positions set to 0, so that every one indexes a logit."""
    targets = np.asarray(targets)
    mask = np.asarray(mask)
    if targets.shape != shape[:2] or mask.shape != shape[:2]:
        raise ValueError(
            f"targets and mask must have shape {shape[:2]} (logits' B, T), got {targets.shape} and {mask.shape}"
        )
    if not np.issubdtype(targets.dtype, np.integer):
        raise TypeError(f"targets must be integers, got {targets.dtype}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    V = shape[2]
    w = mask.astype(dtype)  # (B, T) weights
    on = w != 0
    safe = np.where(on, targets, 0)  # (B, T) valid row indices everywhere (if in range)
    if safe.size and (safe.min() < 0 or safe.max() >= V):
        tmin, tmax = targets[on].min(), targets[on].max()
        raise ValueError(f"masked-in targets must be in [0, {V}), got values in [{tmin}, {tmax}]")
    if reduction == "mean":
        total = w.sum()
        if total != 0:
            w /= total
    return w, safe


def cross_entropy_forward(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    reduction: Literal["mean", "sum"] = "mean",
) -> tuple[float, LossCache]:
    """Loss over masked positions; logits (B, T, V) float, targets (B, T) int, mask (B, T).

    Computed in the logits' dtype with log-sum-exp (:meth:`charsmith.backend.Backend.softmax_xent`,
    which gives the gradient too). Returns (loss, cache).
    """
    logits = np.asarray(logits)
    if logits.ndim != 3 or not np.issubdtype(logits.dtype, np.floating):
        raise ValueError(f"logits must be a float (B, T, V) array, got {logits.dtype} shape {logits.shape}")
    w, safe = weights_and_targets(logits.shape, logits.dtype, targets, mask, reduction)
    V = logits.shape[2]
    logits2 = np.ascontiguousarray(logits).reshape(-1, V)  # (B*T, V)
    nll, grad = backend.current().softmax_xent(logits2, safe.reshape(-1), w.reshape(-1))
    return float(w.reshape(-1) @ nll), (grad.reshape(logits.shape), w)


def cross_entropy_backward(dloss: float, cache: LossCache) -> np.ndarray:
    """dlogits (B, T, V) = dloss * w * (softmax - onehot(target)), in the logits' dtype."""
    grad, _ = cache
    return grad * grad.dtype.type(dloss)
