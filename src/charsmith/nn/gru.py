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

NAME = "gru"  # the compiled kernels that run it (charsmith.backend)
GATES = 3
STATE_SIZE = 1  # (h,)
SCRATCH = 2  # (H, B) scratch arrays backward_fm needs

# batch-major cache: (q, h, a, n), feature-major arrays (see forward_fm)
Cache = tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray]
Arrays = list[np.ndarray] | tuple[np.ndarray, ...]
MatMul = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _sigmoid_(x: np.ndarray) -> np.ndarray:
    """In place sigmoid(x) = 0.5 * tanh(0.5 * x) + 0.5 (never overflows)."""
    x *= 0.5
    np.tanh(x, out=x)
    x *= 0.5
    x += 0.5
    return x


# ----- feature-major kernels (the sequence layer's hot loop) -------------------------------
def prepare(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-sequence forms of p: W_hhT (3H, H) contiguous, W_hh (H, 3H), b_hn (H, 1)."""
    return {"W_hhT": np.ascontiguousarray(p["W_hh"].T), "W_hh": p["W_hh"], "b_hn": p["b_hn"][:, None]}


def cache_rows(H: int) -> tuple[int, ...]:
    """Rows of the per-step cache arrays: a = [r | z | ghn] (3H, B), n (H, B)."""
    return (3 * H, H)


def grad_rows(H: int) -> tuple[int, ...]:
    """Rows of the per-step gradient outputs: dgh (3H, B), dan (H, B)."""
    return (3 * H, H)


def forward_fm(q: dict[str, np.ndarray], xp: np.ndarray, state: Arrays, new_state: Arrays, cache: Arrays) -> None:
    """One step, feature-major: xp (3H, B), state (h,) (H, B); writes new_state (h_new,)
    and cache (a, n) = ([r | z | ghn] (3H, B), n (H, B)). Reads nothing it writes."""
    (h,), (h_new,), (a, n) = state, new_state, cache
    H = h.shape[0]
    np.matmul(q["W_hhT"], h, out=a)  # gh (3H, B)
    rz, ghn = a[: 2 * H], a[2 * H :]  # contiguous row blocks
    ghn += q["b_hn"]
    rz += xp[: 2 * H]
    _sigmoid_(rz)
    np.multiply(rz[:H], ghn, out=n)  # r * ghn
    n += xp[2 * H :]
    np.tanh(n, out=n)
    np.subtract(h, n, out=h_new)
    h_new *= rz[H:]  # z * (h - n)
    h_new += n


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
    """Backward of one forward_fm step. d_new (dh_new,) (H, B); writes grads (dgh, dan) =
    ((3H, B) = [dar | daz | dan * r], (H, B)) and d_prev (dh,) (H, B); scratch (2, H, B).

    dan = dh_new * (1 - z) * (1 - n**2)          # grad of n's pre-activation
    dar = dan * ghn * r * (1 - r);  daz = dh_new * (h - n) * z * (1 - z)
    dh = dh_new * z + dgh @ W_hh.T
    """
    (dh_new,), (h,), (a, n), (dgh, dan), (dh,) = d_new, state, cache, grads, d_prev
    H = h.shape[0]
    r, z, ghn = a[:H], a[H : 2 * H], a[2 * H :]
    dhz, tmp = scratch[0], scratch[1]
    np.multiply(dh_new, z, out=dhz)  # the direct path h -> h_new
    np.subtract(dh_new, dhz, out=tmp)  # dh_new * (1 - z)
    np.multiply(n, n, out=dan)
    np.subtract(1.0, dan, out=dan)
    dan *= tmp
    drz = dgh[: 2 * H]
    np.subtract(1.0, a[: 2 * H], out=drz)
    drz *= a[: 2 * H]  # [r(1-r) | z(1-z)]
    dar, daz = dgh[:H], dgh[H : 2 * H]
    dar *= dan
    dar *= ghn
    np.subtract(h, n, out=tmp)
    tmp *= dh_new
    daz *= tmp
    np.multiply(dan, r, out=dgh[2 * H :])
    np.matmul(q["W_hh"], dgh, out=dh)
    dh += dhz


def hidden_grads_fm(h_prev: np.ndarray, dgh: np.ndarray, matmul: MatMul = np.matmul) -> dict[str, np.ndarray]:
    """From all timesteps, gate-major: h_prev (H, N), dgh (3H, N) -> W_hh (H, 3H) (with ``matmul``,
    the backend's), b_hn (H,)."""
    H = h_prev.shape[0]
    ones = np.ones(dgh.shape[1], dtype=dgh.dtype)
    return {"W_hh": matmul(h_prev, dgh.T), "b_hn": dgh[2 * H :] @ ones}  # matvec: faster than sum(axis=1)


def input_grads_fm(dgh: np.ndarray, extra: Arrays) -> np.ndarray:
    """dxp (3H, T, B) from dgh (3H, T, B) (overwritten: its n block becomes dan) and
    extra = (dan (H, T, B),)."""
    H = dgh.shape[0] // 3
    dgh[2 * H :] = extra[0]
    return dgh


# ----- batch-major one-step API ------------------------------------------------------------
def _fm(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a.T)


def step(p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray]:
    """One timestep without a cache. xp (B, 3H), state (h,) -> (h_new,)."""
    (h,) = state
    B, H = h.shape
    gh = h @ p["W_hh"]  # (B, 3H)
    # r, z and n as fresh contiguous arrays: tanh on a strided view is several times slower
    rz = np.add(xp[:, : 2 * H], gh[:, : 2 * H])  # (B, 2H)
    _sigmoid_(rz)
    n = np.add(gh[:, 2 * H :], p["b_hn"])  # (B, H): ghn
    n *= rz[:, :H]
    n += xp[:, 2 * H :]
    np.tanh(n, out=n)
    h_new = np.subtract(h, n)
    h_new *= rz[:, H:]
    h_new += n
    return (h_new,)


def forward(
    p: dict[str, np.ndarray], xp: np.ndarray, state: tuple[np.ndarray, ...]
) -> tuple[tuple[np.ndarray], Cache]:
    """Returns ((h_new,), cache)."""
    (h,) = state
    B, H = h.shape
    q = prepare(p)
    hT = _fm(h)
    h_new, a, n = np.empty_like(hT), np.empty((3 * H, B), h.dtype), np.empty_like(hT)
    forward_fm(q, _fm(xp), (hT,), (h_new,), (a, n))
    return (h_new.T.copy(),), (q, hT, a, n)


def backward(
    p: dict[str, np.ndarray], d_state: tuple[np.ndarray, ...], cache: Cache
) -> tuple[np.ndarray, tuple[np.ndarray], dict[str, np.ndarray]]:
    """Given d_state = (dh_new,), return (dxp, (dh,), {"gh": dgh}) with
    dxp = [dar | daz | dan], dgh = [dar | daz | dan * r] (see backward_fm)."""
    q, hT, a, n = cache
    H, B = hT.shape
    dgh, dan, dh = np.empty((3 * H, B), hT.dtype), np.empty_like(hT), np.empty_like(hT)
    scratch = np.empty((SCRATCH, H, B), hT.dtype)
    backward_fm(q, (_fm(d_state[0]),), (hT,), (), (a, n), (dgh, dan), (dh,), scratch)
    dxp = dgh.T.copy()  # (B, 3H)
    dxp[:, 2 * H :] = dan.T
    return dxp, (dh.T.copy(),), {"gh": dgh.T.copy()}


def hidden_grads(h_prev: np.ndarray, dgh: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of gh = h_prev @ W_hh (+ b_hn on the n slice) from stacked rows:
    h_prev (N, H), dgh (N, 3H) -> {"W_hh": (H, 3H), "b_hn": (H,)}."""
    H = h_prev.shape[1]
    return {"W_hh": h_prev.T @ dgh, "b_hn": dgh[:, 2 * H :].sum(axis=0)}
