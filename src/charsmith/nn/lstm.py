"""LSTM cell, one timestep, as pure functions (PyTorch gate order i, f, g, o).

Per-layer params ``p``: ``W_ih`` (D, 4H), ``W_hh`` (H, 4H), ``b`` (4H,). The cell sees
the projected input ``xp = x @ W_ih + b`` (B, 4H):

    a = xp + h @ W_hh                       # (B, 4H), slices [i | f | g | o]
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_new = f * c + i * g
    h_new = o * tanh(c_new)

State is ``(h, c)``. ``backward`` returns ``grads = {"gh": da}`` (the gradient of the
hidden projection h @ W_hh, which equals dxp); see :func:`hidden_grads`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GATES", "STATE_SIZE", "forward", "backward", "step", "hidden_grads"]

GATES = 4
STATE_SIZE = 2  # (h, c)

# (h, c, acts, tc): acts (B, 4H) holds [i | f | g | o] after their nonlinearities, tc = tanh(c_new)
Cache = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _activate(a: np.ndarray, H: int) -> np.ndarray:
    """In place on a (B, 4H): sigmoid on the i, f, o slices, tanh on g.

    Uses sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5 (no overflow) on all 4H columns at once,
    and tanh(x) = 2 * sigmoid(2 * x) - 1 for the g slice.
    """
    g = a[:, 2 * H : 3 * H]  # view
    g *= 2.0
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    g *= 2.0
    g -= 1.0
    return a


def _gates(p: dict[str, np.ndarray], xp: np.ndarray, h: np.ndarray) -> np.ndarray:
    a = h @ p["W_hh"]  # (B, 4H)
    a += xp
    return _activate(a, h.shape[1])


def step(
    p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """One timestep without a cache. xp (B, 4H), state (h, c) -> (h_new, c_new)."""
    h, c = state
    H = h.shape[1]
    acts = _gates(p, xp, h)
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    c_new = f * c
    c_new += i * g
    h_new = np.tanh(c_new)
    h_new *= o
    return h_new, c_new


def forward(
    p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]
) -> tuple[tuple[np.ndarray, np.ndarray], Cache]:
    """Returns ((h_new, c_new), cache=(h, c, acts, tc))."""
    h, c = state
    H = h.shape[1]
    acts = _gates(p, xp, h)
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    c_new = f * c
    c_new += i * g
    tc = np.tanh(c_new)
    h_new = o * tc
    return (h_new, c_new), (h, c, acts, tc)


def backward(
    p: dict[str, np.ndarray], d_state: tuple[np.ndarray, ...], cache: Cache
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """Given d_state = (dh_new, dc_new), return (dxp, (dh, dc), {"gh": da}).

    dc_tot = dc_new + dh_new * o * (1 - tc**2)
    da = [dc_tot*g * i(1-i) | dc_tot*c * f(1-f) | dc_tot*i * (1-g**2) | dh_new*tc * o(1-o)]
    dh = da @ W_hh.T;  dc = dc_tot * f
    """
    dh_new, dc_new = d_state
    h, c, acts, tc = cache
    B, H = h.shape
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]

    dc_tot = tc * tc
    np.subtract(1.0, dc_tot, out=dc_tot)
    dc_tot *= o
    dc_tot *= dh_new
    dc_tot += dc_new  # (B, H)

    da = np.subtract(1.0, acts)  # (B, 4H)
    da *= acts  # s * (1 - s): the sigmoid derivative of every slice ...
    np.multiply(g, g, out=da[:, 2 * H : 3 * H])
    np.subtract(1.0, da[:, 2 * H : 3 * H], out=da[:, 2 * H : 3 * H])  # ... except g: 1 - g**2
    da[:, :H] *= g
    da[:, H : 2 * H] *= c
    da[:, 2 * H : 3 * H] *= i
    da[:, 3 * H :] *= tc
    da4 = da.reshape(B, 4, H)  # view
    da4[:, :3] *= dc_tot[:, None, :]  # i, f, g all feed c_new
    da4[:, 3] *= dh_new  # o feeds h_new

    dh = da @ p["W_hh"].T  # (B, H)
    dc = dc_tot * f
    return da, (dh, dc), {"gh": da}


def hidden_grads(h_prev: np.ndarray, dgh: np.ndarray) -> dict[str, np.ndarray]:
    """Weight gradients of gh = h_prev @ W_hh from stacked rows: h_prev (N, H), dgh (N, 4H)."""
    return {"W_hh": h_prev.T @ dgh}
