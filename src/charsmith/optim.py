"""Optimisers, gradient clipping and the learning-rate schedule.

Updates are applied in place to the parameter arrays. Optimiser state is a flat dict of
arrays keyed ``"<slot>/<param>"`` so it can be saved to ``.npz`` beside the weights.
"""

from __future__ import annotations

import math

import numpy as np

from charsmith import backend

__all__ = ["FlatOptimizer", "clip_by_global_norm", "clip_by_value", "flatten", "init_state", "lr_at", "update"]

Params = dict[str, np.ndarray]

ADAM_BETAS = (0.9, 0.99)
EPS = {"adam": 1e-8, "adagrad": 1e-8, "sgd": 0.0}
SLOTS = {"adam": ("m", "v"), "adagrad": ("g2",), "sgd": ()}


def init_state(optimizer: str, params: Params) -> dict[str, np.ndarray]:
    """Zeroed optimiser state for ``params``."""
    if optimizer not in SLOTS:
        raise ValueError(f"optimizer must be one of {', '.join(SLOTS)}; got {optimizer!r}")
    return {f"{slot}/{k}": np.zeros_like(p) for slot in SLOTS[optimizer] for k, p in params.items()}


def flatten(params: Params) -> tuple[np.ndarray, Params]:
    """Copy ``params`` into one flat array; return it and views of it shaped like ``params``.

    Updating the flat array updates every parameter, so an optimiser step costs a handful
    of NumPy calls in all instead of a handful per parameter.
    """
    dtype = np.result_type(*params.values())
    flat = np.concatenate([p.ravel() for p in params.values()]).astype(dtype, copy=False)
    views, start = {}, 0
    for k, p in params.items():
        views[k] = flat[start : start + p.size].reshape(p.shape)
        start += p.size
    return flat, views


def global_norm(grads: Params) -> float:
    return math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))


def clip_by_global_norm(grads: Params, max_norm: float) -> float:
    """Scale all gradients together so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping (inf/nan pass through, for the caller to detect).
    """
    norm = global_norm(grads)
    if max_norm > 0 and norm > max_norm and math.isfinite(norm):
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


def clip_by_value(grads: Params, value: float) -> None:
    """Clip every gradient element to [-value, value] (the seed notebooks' rule)."""
    for g in grads.values():
        np.clip(g, -value, value, out=g)


def lr_at(progress: float, step: int, *, lr: float, warmup_steps: int, decay: str, min_lr_ratio: float) -> float:
    """Learning rate after linear warm-up over ``warmup_steps``, then cosine decay to
    ``lr * min_lr_ratio`` as ``progress`` (fraction of the run done, 0..1) goes to 1."""
    scale = 1.0
    if warmup_steps > 0 and step < warmup_steps:
        scale = (step + 1) / warmup_steps
    if decay == "cosine":
        p = min(max(progress, 0.0), 1.0)
        scale *= min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p))
    return lr * scale


def update(
    optimizer: str, params: Params, grads: Params, state: dict[str, np.ndarray], *, lr: float, t: int,
    weight_decay: float = 0.0, decay_mask: Params | None = None,
) -> None:
    """One in-place update; ``t`` counts updates from 1 (Adam's bias correction).

    adam:    m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p -= lr m_hat / (sqrt(v_hat) + eps)
    adagrad: g2 += g^2;  p -= lr g / sqrt(g2 + eps)
    sgd:     p -= lr g
    ``weight_decay`` is decoupled (AdamW-style) and applies to matrices only, or where
    ``decay_mask[k]`` is 1 (for flattened parameters, see ``flatten``).
    """
    b1, b2 = ADAM_BETAS
    if optimizer not in SLOTS:
        raise ValueError(f"optimizer must be one of {', '.join(SLOTS)}; got {optimizer!r}")
    for k, p in params.items():
        g = grads[k]
        mask = decay_mask[k] if decay_mask is not None else np.full(p.shape, float(p.ndim > 1), p.dtype)
        if optimizer == "adam":
            step = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            m, v = state[f"m/{k}"], state[f"v/{k}"]
            backend.current().adam(p, g, m, v, mask, step=step, b1=b1, b2=b2, eps=EPS["adam"], decay=lr * weight_decay)
            continue
        if weight_decay:
            p -= (lr * weight_decay) * mask * p
        if optimizer == "sgd":
            p -= lr * g
        else:  # adagrad
            g2 = state[f"g2/{k}"]
            g2 += g * g
            p -= lr * g / np.sqrt(g2 + EPS["adagrad"])


class FlatOptimizer:
    """An optimiser over parameters held as views of one flat array.

    ``params`` (the views) are what the model reads; ``apply`` gathers the gradients into
    one flat buffer, clips them and updates every parameter with a handful of NumPy calls.
    ``state`` is the optimiser state, keyed ``"<slot>/all"``.
    """

    def __init__(self, optimizer: str, params: Params) -> None:
        self.optimizer = optimizer
        self.flat, self.params = flatten(params)
        self.grad = np.empty_like(self.flat)
        self.decay_mask = np.concatenate([np.full(p.size, p.ndim > 1, dtype=p.dtype) for p in self.params.values()])
        self.state = init_state(optimizer, {"all": self.flat})

    def apply(self, grads: Params, *, lr: float, t: int, clip_norm: float = 0.0, clip_value: float = 0.0,
              weight_decay: float = 0.0) -> float:
        """Clip (elementwise, then by global norm) and update in place; return the gradient
        norm before clipping. A non-finite norm leaves the parameters untouched."""
        np.concatenate([grads[k].ravel() for k in self.params], out=self.grad)
        g = {"all": self.grad}
        if clip_value:
            clip_by_value(g, clip_value)
        norm = clip_by_global_norm(g, clip_norm)
        if math.isfinite(norm):
            update(self.optimizer, {"all": self.flat}, g, self.state, lr=lr, t=t, weight_decay=weight_decay,
                   decay_mask={"all": self.decay_mask})
        return norm
