"""Vanilla (tanh) RNN cell, one timestep, as pure functions.

Per-layer params ``p``: ``W_ih`` (D, H), ``W_hh`` (H, H), ``b`` (H,). The layer
projects every timestep's input at once, so a cell sees ``xp = x @ W_ih + b`` (B, H):

    gh = h @ W_hh
    h_new = tanh(xp + gh)

State is the 1-tuple ``(h,)``. ``backward`` returns ``grads = {"gh": dgh}``, the
gradient of the hidden projection ``gh``; the layer turns all timesteps' ``dgh``
into weight gradients with one matmul (:func:`hidden_grads`).

Batch-major and feature-major layouts: see :mod:`charsmith.nn`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "NAME",
    "GATES",
    "STATE_SIZE",
    "SCRATCH",
    "forward",
    "backward",
    "step",
    "hidden_grads",
    "prepare",
    "cache_rows",
    "grad_rows",
    "forward_fm",
    "backward_fm",
    "hidden_grads_fm",
    "input_grads_fm",
]

NAME = "rnn"  # the compiled kernels that run it (charsmith.backend)
GATES = 1  # G = GATES * H columns in W_ih / W_hh
STATE_SIZE = 1  # (h,)
SCRATCH = 0

Cache = tuple[np.ndarray, np.ndarray]
Arrays = list[np.ndarray] | tuple[np.ndarray, ...]
MatMul = Callable[[np.ndarray, np.ndarray], np.ndarray]


# ----- feature-major kernels (the sequence layer's hot loop) -------------------------------
def prepare(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-sequence forms of p: W_hhT (H, H) contiguous, W_hh (H, H)."""
    return {"W_hhT": np.ascontiguousarray(p["W_hh"].T), "W_hh": p["W_hh"]}


def cache_rows(H: int) -> tuple[int, ...]:
    """No cache arrays: backward needs only h_new, which the layer keeps."""
    return ()


def grad_rows(H: int) -> tuple[int, ...]:
    """Rows of the per-step gradient outputs: da (H, B) (= dgh = dxp)."""
    return (H,)


def forward_fm(q: dict[str, np.ndarray], xp: np.ndarray, state: Arrays, new_state: Arrays, cache: Arrays) -> None:
    """One step, feature-major: xp (H, B), state (h,) (H, B); writes new_state (h_new,)."""
    (h,), (h_new,) = state, new_state
    np.matmul(q["W_hhT"], h, out=h_new)
    h_new += xp
    np.tanh(h_new, out=h_new)


def backward_fm(
    q: dict[str, np.ndarray],
    d_new: Arrays,
    state: Arrays,
    new_state: Arrays,
    cache: Arrays,
    grads: Arrays,
    d_prev: Arrays,
    scratch: np.ndarray,
) -> None:
    """Backward of one forward_fm step: da = dh_new * (1 - h_new**2) into grads (da,),
    dh = da @ W_hh.T into d_prev (dh,); all (H, B)."""
    (dh_new,), (h_new,), (da,), (dh,) = d_new, new_state, grads, d_prev
    np.multiply(h_new, h_new, out=da)
    np.subtract(1.0, da, out=da)
    da *= dh_new
    np.matmul(q["W_hh"], da, out=dh)


def hidden_grads_fm(h_prev: np.ndarray, dgh: np.ndarray, matmul: MatMul = np.matmul) -> dict[str, np.ndarray]:
    """From all timesteps, gate-major: h_prev (H, N), dgh (H, N) -> W_hh (H, H), with ``matmul``
    (the backend's)."""
    return {"W_hh": matmul(h_prev, dgh.T)}


def input_grads_fm(dgh: np.ndarray, extra: Arrays) -> np.ndarray:
    """dxp (H, T, B): the same array as dgh."""
    return dgh


# ----- batch-major one-step API ------------------------------------------------------------
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
