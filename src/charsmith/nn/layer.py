"""One recurrent layer over a whole sequence, composed from a cell's one-step functions.

The input projection ``xp = x @ W_ih + b`` of every timestep is one matmul; Python loops
only over the recurrence. The ``W_hh`` (and GRU ``b_hn``) gradient is hoisted out of the
backward loop: the cells return the gradient ``dgh`` of their hidden projection, and
``dW_hh = h_prev_all.T @ dgh_all`` is one matmul over all timesteps.

Public ``forward``/``backward`` are batch-first (x (B, T, D), out (B, T, H)). The
``recur_*`` functions they wrap work gate-major, features first (xp (G, T, B), hs
(H, T+1, B)): the sequence-wide matmuls see (F, T*B) views without copying, and one
step's slice ``a[:, t]`` is a (F, B) block whose gate row-blocks the cells' ``*_fm``
kernels write in place; :mod:`charsmith.model` calls them directly. The layer
preallocates the sequence's state, cache and gradient buffers; the backend of the moment
(:func:`charsmith.backend.current`) runs the time loop on them, compiled or in NumPy over
the cells' ``*_fm`` kernels.

Per-layer params: ``W_ih`` (D, G), ``W_hh`` (H, G), ``b`` (G,), and for gru ``b_hn`` (H,),
with G = GATES * H (rnn 1, lstm 4, gru 3).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from charsmith import backend
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
    cell: str, p: dict[str, np.ndarray], xp: np.ndarray, state: LayerState, *, ids: np.ndarray | None = None
) -> tuple[np.ndarray, LayerState, LayerCache]:
    """Run the recurrence over projected inputs xp (G, T, B), gate-major.

    With ``ids`` (T, B) ints, xp is instead a table (G, n) of projected inputs by id: step
    t's input for row b is xp[:, ids[t, b]], id -1 the table's last column (the compiled
    backend gathers it step by step and never builds the (G, T, B) array).
    state: (h,) or (h, c), each (B, H). Returns hs (H, T+1, B) with hs[:, 0] = h0.T and
    hs[:, t+1] the output at step t, the final state (each (B, H)), and the cache for
    :func:`recur_backward`. ``hs[:, 1:].reshape(H, T * B)`` is a view.
    """
    mod = get_cell(cell)
    T, B = ids.shape if ids is not None else xp.shape[1:]
    H = p["W_hh"].shape[0]
    S = [np.empty((H, T + 1, B), dtype=xp.dtype) for _ in range(mod.STATE_SIZE)]  # S[0] = hs
    for s, s0 in zip(S, state, strict=True):
        s[:, 0] = s0.T
    C = [np.empty((rows, T, B), dtype=xp.dtype) for rows in mod.cache_rows(H)]
    backend.current().recur_forward(mod, p, xp, S, C, ids)
    final = tuple(np.ascontiguousarray(s[:, T].T) for s in S)
    return S[0], final, (S, C)


def recur_backward(
    cell: str,
    p: dict[str, np.ndarray],
    dhs: np.ndarray,
    d_state: LayerState | None,
    cache: LayerCache,
) -> tuple[np.ndarray, LayerState, dict[str, np.ndarray]]:
    """Backward of :func:`recur_forward`.

    dhs (H, T, B): gradient w.r.t. hs[:, 1:]; d_state: gradient w.r.t. the final state, each
    (B, H) (None = zeros). Returns dxp (G, T, B), the gradient w.r.t. the initial state
    (each (B, H)), and {"W_hh": ..., ("b_hn": ...)}; the caller turns dxp into W_ih / b /
    input gradients.
    """
    mod = get_cell(cell)
    S, C = cache
    H, T, B = dhs.shape
    if d_state is None:
        carry = [np.zeros((H, B), dtype=dhs.dtype) for _ in range(mod.STATE_SIZE)]
    else:
        carry = [np.array(d.T, dtype=dhs.dtype, order="C") for d in d_state]
    D = [np.empty((rows, T, B), dtype=dhs.dtype) for rows in mod.grad_rows(H)]  # D[0] = dgh
    be = backend.current()
    carry = be.recur_backward(mod, p, S, C, dhs, D, carry)
    h_prev = S[0][:, :T].reshape(H, T * B)  # a view: rows of stride (T+1) * B
    grads = mod.hidden_grads_fm(h_prev, D[0].reshape(-1, T * B), be.matmul)
    dxp = mod.input_grads_fm(D[0], D[1:])
    return dxp, tuple(np.ascontiguousarray(c.T) for c in carry), grads


def forward(
    cell: str, p: dict[str, np.ndarray], x: np.ndarray, state: LayerState
) -> tuple[np.ndarray, LayerState, LayerCache]:
    """Batch-first layer: x (B, T, D) -> out (B, T, H), final state, cache."""
    B, T, D = x.shape
    x_gm = np.ascontiguousarray(x.transpose(2, 1, 0)).reshape(D, T * B)  # (D, T*B)
    xp = backend.current().matmul(p["W_ih"].T, x_gm)  # (G, T*B)
    xp += p["b"][:, None]
    hs, state, rcache = recur_forward(cell, p, xp.reshape(-1, T, B), state)
    out = np.ascontiguousarray(hs[:, 1:].transpose(2, 1, 0))  # (B, T, H)
    return out, state, (x_gm, rcache)


def backward(
    cell: str,
    p: dict[str, np.ndarray],
    dout: np.ndarray,
    d_state: LayerState | None,
    cache: LayerCache,
) -> tuple[np.ndarray, LayerState, dict[str, np.ndarray]]:
    """Backward of :func:`forward`: dout (B, T, H) -> dx (B, T, D), d_state0, grads of p."""
    x_gm, rcache = cache
    D = x_gm.shape[0]
    B, T, _ = dout.shape
    dhs = np.ascontiguousarray(dout.transpose(2, 1, 0))  # (H, T, B)
    dxp, d_state0, grads = recur_backward(cell, p, dhs, d_state, rcache)
    dxp2 = dxp.reshape(-1, T * B)  # (G, T*B)
    be = backend.current()
    grads["W_ih"] = be.matmul(x_gm, dxp2.T)
    grads["b"] = dxp2.sum(axis=1)
    dx = be.matmul(p["W_ih"], dxp2).reshape(D, T, B)
    return np.ascontiguousarray(dx.transpose(2, 1, 0)), d_state0, grads
