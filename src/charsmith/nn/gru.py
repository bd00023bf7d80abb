"""GRU cell, one timestep, as pure functions (PyTorch gate order r, z, n).

Per-layer params ``p``: ``W_ih`` (D, 3H), ``W_hh`` (H, 3H), ``b`` (3H,), ``b_hn`` (H,).
``b`` stands for PyTorch's b_ih + b_hh except in the n slice, where b_hh_n must stay
inside the reset gate's product and is kept apart as ``b_hn``. The cell sees
``xp = x @ W_ih + b`` (B, 3H), slices [xr | xz | xn]:

    gh = h @ W_hh                            # (B, 3H), slices [gr | gz | gn]
    ghn = gn + b_hn
    r = sigmoid(xr + gr);  z = sigmoid(xz + gz)
    n = tanh(xn + r * ghn)
    h_new = (1 - z) * n + z * h  =  n + z * (h - n)

State is ``(h,)``. ``backward`` returns ``grads = {"gh": dgh}``, the gradient of the
hidden projection ``gh + [0 | 0 | b_hn]``; :func:`hidden_grads` turns stacked rows of
it into ``W_hh`` and ``b_hn`` gradients.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GATES", "STATE_SIZE", "forward", "backward", "step", "hidden_grads"]

GATES = 3
STATE_SIZE = 1  # (h,)

# (h, rz, n, ghn): rz (B, 2H) = [r | z] after the sigmoid, n (B, H), ghn (B, H)
Cache = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _sigmoid_(x: np.ndarray) -> np.ndarray:
    """In place sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5 (never overflows)."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


def _forward(
    p: dict[str, np.ndarray], xp: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    H = h.shape[1]
    gh = h @ p["W_hh"]  # (B, 3H)
    ghn = gh[:, 2 * H :]  # view
    ghn += p["b_hn"]
    rz = np.add(xp[:, : 2 * H], gh[:, : 2 * H])  # (B, 2H)
    _sigmoid_(rz)
    r, z = rz[:, :H], rz[:, H:]
    n = r * ghn
    n += xp[:, 2 * H :]
    np.tanh(n, out=n)
    h_new = np.subtract(h, n)
    h_new *= z
    h_new += n
    return h_new, rz, n, ghn


def step(p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray]:
    """One timestep without a cache. xp (B, 3H), state (h,) -> (h_new,)."""
    return (_forward(p, xp, state[0])[0],)


def forward(
    p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]
) -> tuple[tuple[np.ndarray], Cache]:
    """Returns ((h_new,), cache=(h, rz, n, ghn))."""
    (h,) = state
    h_new, rz, n, ghn = _forward(p, xp, h)
    return (h_new,), (h, rz, n, ghn)


def backward(
    p: dict[str, np.ndarray], d_state: tuple[np.ndarray, ...], cache: Cache
) -> tuple[np.ndarray, tuple[np.ndarray], dict[str, np.ndarray]]:
    """Given d_state = (dh_new,), return (dxp, (dh,), {"gh": dgh}).

    dan = dh_new * (1 - z) * (1 - n**2)           # grad of n's pre-activation
    dar = dan * ghn * r * (1 - r);  daz = dh_new * (h - n) * z * (1 - z)
    dxp = [dar | daz | dan];  dgh = [dar | daz | dan * r]
    dh = dh_new * z + dgh @ W_hh.T
    """
    (dh_new,) = d_state
    h, rz, n, ghn = cache
    B, H = h.shape
    r, z = rz[:, :H], rz[:, H:]

    dxp = np.empty((B, 3 * H), dtype=h.dtype)
    dar, daz, dan = dxp[:, :H], dxp[:, H : 2 * H], dxp[:, 2 * H :]  # views
    np.subtract(1.0, rz, out=dxp[:, : 2 * H])
    dxp[:, : 2 * H] *= rz  # [r(1-r) | z(1-z)]
    np.multiply(n, n, out=dan)
    np.subtract(1.0, dan, out=dan)  # 1 - n**2
    dan *= dh_new
    dan -= dan * z  # * (1 - z)
    dar *= dan
    dar *= ghn
    hn = np.subtract(h, n)
    hn *= dh_new
    daz *= hn

    dgh = dxp.copy()
    dgh[:, 2 * H :] *= r
    dh = dgh @ p["W_hh"].T  # (B, H)
    dh += dh_new * z
    return dxp, (dh,), {"gh": dgh}


def hidden_grads(h_prev: np.ndarray, dgh: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of gh = h_prev @ W_hh (+ b_hn on the n slice) from stacked rows:
    h_prev (N, H), dgh (N, 3H) -> {"W_hh": (H, 3H), "b_hn": (H,)}."""
    H = h_prev.shape[1]
    return {"W_hh": h_prev.T @ dgh, "b_hn": dgh[:, 2 * H :].sum(axis=0)}
