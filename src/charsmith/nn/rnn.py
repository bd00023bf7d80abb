"""Vanilla (tanh) RNN cell, one timestep, as pure functions.

Per-layer params ``p``: ``W_ih`` (D, H), ``W_hh`` (H, H), ``b`` (H,). The layer
projects every timestep's input at once, so a cell sees ``xp = x @ W_ih + b`` (B, H):

    gh = h @ W_hh
    h_new = tanh(xp + gh)

State is the 1-tuple ``(h,)``. ``backward`` returns ``grads = {"gh": dgh}``, the
gradient of the hidden projection ``gh``; the layer turns all timesteps' ``dgh``
into weight gradients with one matmul (:func:`hidden_grads`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["GATES", "STATE_SIZE", "forward", "backward", "step", "hidden_grads"]

GATES = 1  # G = GATES * H columns in W_ih / W_hh
STATE_SIZE = 1  # (h,)

Cache = tuple[np.ndarray, np.ndarray]


def step(p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray]:
    """One timestep without a cache (sampling). xp (B, H), state (h,) -> (h_new,)."""
    (h,) = state
    a = h @ p["W_hh"]  # (B, H)
    a += xp
    return (np.tanh(a, out=a),)


def forward(
    p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]
) -> tuple[tuple[np.ndarray], Cache]:
    """h_new = tanh(xp + h @ W_hh). Returns ((h_new,), cache=(h, h_new))."""
    (h,) = state
    (h_new,) = step(p, xp, state)
    return (h_new,), (h, h_new)


def backward(
    p: dict[str, np.ndarray], d_state: tuple[np.ndarray, ...], cache: Cache
) -> tuple[np.ndarray, tuple[np.ndarray], dict[str, np.ndarray]]:
    """Given d_state = (dh_new,), return (dxp, (dh,), {"gh": dgh}).

    da = dh_new * (1 - h_new**2) is the gradient of the pre-activation xp + gh, so
    dxp and dgh are the same array.
    """
    (dh_new,) = d_state
    h, h_new = cache
    da = h_new * h_new
    np.subtract(1.0, da, out=da)
    da *= dh_new  # (B, H)
    dh = da @ p["W_hh"].T  # (B, H)
    return da, (dh,), {"gh": da}


def hidden_grads(h_prev: np.ndarray, dgh: np.ndarray) -> dict[str, np.ndarray]:
    """Weight gradients of gh = h_prev @ W_hh from stacked rows: h_prev (N, H), dgh (N, H)."""
    return {"W_hh": h_prev.T @ dgh}
