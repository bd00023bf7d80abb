"""LSTM cell, one timestep, as pure functions (PyTorch gate order i, f, g, o).

Per-layer params ``p``: ``W_ih`` (D, 4H), ``W_hh`` (H, 4H), ``b`` (4H,). The cell sees
the projected input ``xp = x @ W_ih + b`` (B, 4H):

    a = xp + h @ W_hh                       # (B, 4H), slices [i | f | g | o]
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_new = f * c + i * g
    h_new = o * tanh(c_new)

State is ``(h, c)``. ``backward`` returns ``grads = {"gh": da}`` (the gradient of the
hidden projection h @ W_hh, which equals dxp); see :func:`hidden_grads`.

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

NAME = "lstm"  # the compiled kernels that run it (charsmith.backend)
GATES = 4
STATE_SIZE = 2  # (h, c)
SCRATCH = 1  # (H, B) scratch arrays backward_fm needs

# batch-major cache: (q, hT, cT, acts, tc), feature-major arrays (see forward_fm)
Cache = tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, np.ndarray]
Arrays = list[np.ndarray] | tuple[np.ndarray, ...]
MatMul = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _activate(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """In place on a (all gates) with g its tanh gate's view: sigmoid on i, f, o, tanh on g.

    Uses sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5 (no overflow) on all gates at once,
    and tanh(x) = 2 * sigmoid(2 * x) - 1 for the g slice.
    """
    g *= 2.0
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    g *= 2.0
    g -= 1.0
    return a


# ----- feature-major kernels (the sequence layer's hot loop) -------------------------------
def prepare(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-sequence forms of p: W_hhT (4H, H) contiguous, W_hh (H, 4H)."""
    return {"W_hhT": np.ascontiguousarray(p["W_hh"].T), "W_hh": p["W_hh"]}


def cache_rows(H: int) -> tuple[int, ...]:
    """Rows of the per-step cache arrays: acts = [i | f | g | o] (4H, B), tc = tanh(c_new) (H, B)."""
    return (4 * H, H)


def grad_rows(H: int) -> tuple[int, ...]:
    """Rows of the per-step gradient outputs: da (4H, B) (= dgh = dxp)."""
    return (4 * H,)


def forward_fm(q: dict[str, np.ndarray], xp: np.ndarray, state: Arrays, new_state: Arrays, cache: Arrays) -> None:
    """One step, feature-major: xp (4H, B), state (h, c) (H, B) each; writes new_state
    (h_new, c_new) and cache (acts (4H, B), tc (H, B)). Reads nothing it writes."""
    (h, c), (h_new, c_new), (acts, tc) = state, new_state, cache
    H = h.shape[0]
    np.matmul(q["W_hhT"], h, out=acts)
    acts += xp
    i, f, g, o = acts[:H], acts[H : 2 * H], acts[2 * H : 3 * H], acts[3 * H :]
    _activate(acts, g)
    np.multiply(f, c, out=c_new)
    np.multiply(i, g, out=tc)  # tc as scratch
    c_new += tc
    np.tanh(c_new, out=tc)
    np.multiply(o, tc, out=h_new)


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
    """Backward of one forward_fm step. d_new (dh_new, dc_new) (H, B); writes grads (da,)
    (4H, B) and d_prev (dh, dc) (H, B); scratch (1, H, B).

    dc_tot = dc_new + dh_new * o * (1 - tc**2)
    da = [dc_tot*g * i(1-i) | dc_tot*c * f(1-f) | dc_tot*i * (1-g**2) | dh_new*tc * o(1-o)]
    dh = da @ W_hh.T;  dc = dc_tot * f
    """
    (dh_new, dc_new), (_, c), (acts, tc), (da,), (dh, dc) = d_new, state, cache, grads, d_prev
    H = c.shape[0]
    i, f, g, o = acts[:H], acts[H : 2 * H], acts[2 * H : 3 * H], acts[3 * H :]
    dc_tot = scratch[0]
    np.multiply(tc, tc, out=dc_tot)
    np.subtract(1.0, dc_tot, out=dc_tot)
    dc_tot *= o
    dc_tot *= dh_new
    dc_tot += dc_new  # (H, B)

    np.subtract(1.0, acts, out=da)
    da *= acts  # s * (1 - s): the sigmoid derivative of every block ...
    da_i, da_f, da_g, da_o = da[:H], da[H : 2 * H], da[2 * H : 3 * H], da[3 * H :]
    np.multiply(g, g, out=da_g)
    np.subtract(1.0, da_g, out=da_g)  # ... except g: 1 - g**2
    da_i *= g
    da_f *= c
    da_g *= i
    da_o *= tc
    da_o *= dh_new  # o feeds h_new
    da_ifg = da[: 3 * H].reshape(3, H, -1)  # view
    da_ifg *= dc_tot  # i, f, g all feed c_new

    np.matmul(q["W_hh"], da, out=dh)
    np.multiply(dc_tot, f, out=dc)


def hidden_grads_fm(h_prev: np.ndarray, dgh: np.ndarray, matmul: MatMul = np.matmul) -> dict[str, np.ndarray]:
    """From all timesteps, gate-major: h_prev (H, N), dgh (4H, N) -> W_hh (H, 4H), with ``matmul``
    (the backend's)."""
    return {"W_hh": matmul(h_prev, dgh.T)}


def input_grads_fm(dgh: np.ndarray, extra: Arrays) -> np.ndarray:
    """dxp (4H, T, B): the same array as dgh."""
    return dgh


# ----- batch-major one-step API ------------------------------------------------------------
def _fm(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.T)


def step(
    p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """One timestep without a cache. xp (B, 4H), state (h, c) -> (h_new, c_new)."""
    h, c = state
    H = h.shape[1]
    acts = h @ p["W_hh"]  # (B, 4H)
    acts += xp
    i, f, g, o = acts[:, :H], acts[:, H : 2 * H], acts[:, 2 * H : 3 * H], acts[:, 3 * H :]
    _activate(acts, g)
    c_new = f * c
    c_new += i * g
    h_new = np.tanh(c_new)
    h_new *= o
    return h_new, c_new


def forward(
    p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]
) -> tuple[tuple[np.ndarray, np.ndarray], Cache]:
    """Returns ((h_new, c_new), cache)."""
    h, c = state
    B, H = h.shape
    q = prepare(p)
    hT, cT = _fm(h), _fm(c)
    h_new, c_new, tc = np.empty_like(hT), np.empty_like(hT), np.empty_like(hT)
    acts = np.empty((4 * H, B), h.dtype)
    forward_fm(q, _fm(xp), (hT, cT), (h_new, c_new), (acts, tc))
    return (h_new.T.copy(), c_new.T.copy()), (q, hT, cT, acts, tc)


def backward(
    p: dict[str, np.ndarray], d_state: tuple[np.ndarray, ...], cache: Cache
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], dict[str, np.ndarray]]:
    """Given d_state = (dh_new, dc_new), return (dxp, (dh, dc), {"gh": da}) (see backward_fm)."""
    q, hT, cT, acts, tc = cache
    H, B = hT.shape
    da, dh, dc = np.empty((4 * H, B), hT.dtype), np.empty_like(hT), np.empty_like(hT)
    scratch = np.empty((SCRATCH, H, B), hT.dtype)
    d_new = (_fm(d_state[0]), _fm(d_state[1]))
    backward_fm(q, d_new, (hT, cT), (), (acts, tc), (da,), (dh, dc), scratch)
    dxp = da.T.copy()  # (B, 4H)
    return dxp, (dh.T.copy(), dc.T.copy()), {"gh": dxp}


def hidden_grads(h_prev: np.ndarray, dgh: np.ndarray) -> dict[str, np.ndarray]:
    """Weight gradients of gh = h_prev @ W_hh from stacked rows: h_prev (N, H), dgh (N, 4H)."""
    return {"W_hh": h_prev.T @ dgh}
