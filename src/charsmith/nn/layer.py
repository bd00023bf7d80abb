"""One recurrent layer over a whole sequence, composed from a cell's one-step functions.

The input projection ``xp = x @ W_ih + b`` of every timestep is one matmul; Python loops
only over the recurrence. The ``W_hh`` (and GRU ``b_hn``) gradient is hoisted out of the
backward loop: the cells return the gradient ``dgh`` of their hidden projection, and
``dW_hh = h_prev_all.T @ dgh_all`` is one matmul over all timesteps.

Public ``forward``/``backward`` are batch-first (x (B, T, D), out (B, T, H)). The
``recur_*`` functions they wrap work time-major (xp (T, B, G), hs (T+1, B, H)) so that every
per-step slice is contiguous; :mod:`charsmith.model` calls them directly.

Per-layer params: ``W_ih`` (D, G), ``W_hh`` (H, G), ``b`` (G,), and for gru ``b_hn`` (H,),
with G = GATES * H (rnn 1, lstm 4, gru 3).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from charsmith.nn import gru, lstm, rnn

__all__ = [
    "CELLS",
    "get_cell",
    "param_shapes",
    "init_params",
    "zero_state",
    "recur_forward",
    "recur_backward",
    "forward",
    "backward",
]

CELLS: dict[str, ModuleType] = {"rnn": rnn, "lstm": lstm, "gru": gru}

LayerState = tuple[np.ndarray, ...]
LayerCache = tuple[Any, ...]


def get_cell(cell: str) -> ModuleType:
    """The cell module for "rnn", "lstm" or "gru"."""
    try:
        return CELLS[cell]
    except (KeyError, TypeError):
        raise ValueError(f"cell must be one of {', '.join(CELLS)}; got {cell!r}") from None


def param_shapes(cell: str, input_size: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """Shapes of one layer's params, keyed W_ih, W_hh, b (and b_hn for gru)."""
    G = get_cell(cell).GATES * hidden
    shapes = {"W_ih": (input_size, G), "W_hh": (hidden, G), "b": (G,)}
    if cell == "gru":
        shapes["b_hn"] = (hidden,)
    return shapes


def init_params(
    cell: str, input_size: int, hidden: int, rng: np.random.Generator, dtype: Any = np.float32
) -> dict[str, np.ndarray]:
    """PyTorch's init: every tensor ~ U(-1/sqrt(H), 1/sqrt(H)); LSTM forget-gate bias 1.0."""
    k = 1.0 / np.sqrt(hidden)
    p = {
        name: rng.uniform(-k, k, size=shape).astype(dtype, copy=False)
        for name, shape in param_shapes(cell, input_size, hidden).items()
    }
    if cell == "lstm":
        p["b"][hidden : 2 * hidden] = 1.0
    return p


def zero_state(cell: str, batch: int, hidden: int, dtype: Any = np.float32) -> LayerState:
    """(h,) or (h, c) of zeros, each (B, H)."""
    return tuple(np.zeros((batch, hidden), dtype=dtype) for _ in range(get_cell(cell).STATE_SIZE))


def recur_forward(
    cell: str, p: dict[str, np.ndarray], xp: np.ndarray, state: LayerState
) -> tuple[np.ndarray, LayerState, LayerCache]:
    """Run the recurrence over projected inputs xp (T, B, G), time-major.

    Returns hs (T+1, B, H) with hs[0] = h0 and hs[t+1] the output at step t, the final
    state, and the cache for :func:`recur_backward`.
    """
    mod = get_cell(cell)
    T, B, _ = xp.shape
    H = p["W_hh"].shape[0]
    hs = np.empty((T + 1, B, H), dtype=xp.dtype)
    hs[0] = state[0]
    caches = []
    for t in range(T):
        state, cache = mod.forward(p, xp[t], state)
        hs[t + 1] = state[0]
        caches.append(cache)
    return hs, state, (caches, hs)


def recur_backward(
    cell: str,
    p: dict[str, np.ndarray],
    dhs: np.ndarray,
    d_state: LayerState | None,
    cache: LayerCache,
) -> tuple[np.ndarray, LayerState, dict[str, np.ndarray]]:
    """Backward of :func:`recur_forward`.

    dhs (T, B, H): gradient w.r.t. hs[1:]; d_state: gradient w.r.t. the final state (None =
    zeros). Returns dxp (T, B, G), the gradient w.r.t. the initial state, and
    {"W_hh": ..., ("b_hn": ...)}; the caller turns dxp into W_ih / b / input gradients.
    """
    mod = get_cell(cell)
    caches, hs = cache
    T, B, H = dhs.shape
    G = p["W_hh"].shape[1]
    dxp = np.empty((T, B, G), dtype=dhs.dtype)
    dgh = None  # (T, B, G) only when a cell's dgh differs from its dxp (gru)
    if d_state is None:
        carry: LayerState = tuple(np.zeros((B, H), dtype=dhs.dtype) for _ in range(mod.STATE_SIZE))
    else:
        carry = d_state
    for t in range(T - 1, -1, -1):
        dh = dhs[t] + carry[0]  # (B, H): from the layer above and from step t+1
        dxp_t, carry, grads = mod.backward(p, (dh, *carry[1:]), caches[t])
        dxp[t] = dxp_t
        if grads["gh"] is not dxp_t:
            if dgh is None:
                dgh = np.empty_like(dxp)
            dgh[t] = grads["gh"]
    dgh_all = dxp if dgh is None else dgh
    grads = mod.hidden_grads(hs[:-1].reshape(T * B, H), dgh_all.reshape(T * B, G))
    return dxp, carry, grads


def forward(
    cell: str, p: dict[str, np.ndarray], x: np.ndarray, state: LayerState
) -> tuple[np.ndarray, LayerState, LayerCache]:
    """Batch-first layer: x (B, T, D) -> out (B, T, H), final state, cache."""
    B, T, D = x.shape
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))  # (T, B, D)
    xp = x_tm.reshape(T * B, D) @ p["W_ih"]  # (T*B, G)
    xp += p["b"]
    hs, state, rcache = recur_forward(cell, p, xp.reshape(T, B, -1), state)
    out = np.ascontiguousarray(hs[1:].transpose(1, 0, 2))  # (B, T, H)
    return out, state, (x_tm, rcache)


def backward(
    cell: str,
    p: dict[str, np.ndarray],
    dout: np.ndarray,
    d_state: LayerState | None,
    cache: LayerCache,
) -> tuple[np.ndarray, LayerState, dict[str, np.ndarray]]:
    """Backward of :func:`forward`: dout (B, T, H) -> dx (B, T, D), d_state0, grads of p."""
    x_tm, rcache = cache
    T, B, D = x_tm.shape
    dhs = np.ascontiguousarray(dout.transpose(1, 0, 2))  # (T, B, H)
    dxp, d_state0, grads = recur_backward(cell, p, dhs, d_state, rcache)
    dxp2 = dxp.reshape(T * B, -1)  # (T*B, G)
    grads["W_ih"] = x_tm.reshape(T * B, D).T @ dxp2
    grads["b"] = dxp2.sum(axis=0)
    dx = (dxp2 @ p["W_ih"].T).reshape(T, B, D).transpose(1, 0, 2)  # (B, T, D)
    return np.ascontiguousarray(dx), d_state0, grads
