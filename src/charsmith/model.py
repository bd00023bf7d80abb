"""Stacked recurrent character model: (embedding) -> L recurrent layers -> linear head.

Parameters are one flat dict (saved to .npz as is):

    "wte"      (V, E)   only when cfg.embed > 0
    "l{i}.W_ih" (D_i, G), "l{i}.W_hh" (H, G), "l{i}.b" (G,), gru also "l{i}.b_hn" (H,)
               D_0 = E if cfg.embed > 0 else V (one-hot input: x @ W_ih == W_ih[ids]);
               D_i = H for i > 0; G = gates * H (rnn 1, lstm 4, gru 3)
    "W_out"    (H, V),  "b_out" (V,)
    "cat"      (K, C),  "W_cat" (C, G_0)   only when cfg.categories = K > 0 (C = cfg.cat_embed)

Forward, for ids (B, T) and, with categories, a condition cond (B, K) (weights w; a
category id c is the one-hot row):

    x_0 = wte[ids]                   (or the rows W_ih[ids] directly when embed == 0)
    e   = cond @ cat                 # (B, C) the row's category vector, fed at every step
    layer 0 reads concat(x_0, e): its projected input is x_0 @ W_ih + e @ W_cat + b
    out_i = dropout(layer_i(out_{i-1}))   # dropout only when an rng is passed
    logits = out_{L-1} @ W_out + b_out    # (B, T, V)

A blend is a cond row of weights: e = sum_k w_k cat[k]. With weights summing to 1 (as
:mod:`charsmith.categories` makes them), layer 0's projected input is the same weighted
sum of the pure categories' projected inputs.

Layer 0 reads its projected input by id from a table (V+1 rows: every character, then
the zero input). With categories, each distinct cond row u in the batch gets its own
block of V+1 rows, row u*(V+1) + v = (wte[v] @ W_ih or W_ih[v]) + e_u @ W_cat + b, and
ids are folded to u*(V+1) + v: exact, and the compiled recurrence needs no change.

An id of -1 is a zero character input (the category is still fed). Everything is
computed in the params' dtype; the state must have that dtype too. Internally the layers
run gate-major: features first, then time, then batch ((F, T, B), viewed as (F, T*B) for
the sequence-wide matmuls).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from charsmith import backend
from charsmith.config import ModelConfig
from charsmith.errors import InputError
from charsmith.nn import layer, loss

__all__ = [
    "State",
    "Cache",
    "param_shapes",
    "param_count",
    "init_params",
    "check_params",
    "init_state",
    "forward",
    "backward",
    "backward_with_state",
    "loss_and_grads",
    "step",
]

State = tuple[tuple[np.ndarray, ...], ...]  # one tuple per layer: (h,) or (h, c), each (B, H)
Cache = dict[str, Any]

_LAYER_KEYS = ("W_ih", "W_hh", "b", "b_hn")


def _input_size(cfg: ModelConfig, i: int) -> int:
    if i > 0:
        return cfg.hidden
    return cfg.embed if cfg.embed > 0 else cfg.vocab_size


def _layer_params(params: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    pre = f"l{i}."
    return {k: params[pre + k] for k in _LAYER_KEYS if pre + k in params}


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter for ``cfg`` (the order of :func:`init_params`)."""
    shapes: dict[str, tuple[int, ...]] = {}
    if cfg.embed > 0:
        shapes["wte"] = (cfg.vocab_size, cfg.embed)
    if cfg.categories > 0:
        shapes["cat"] = (cfg.categories, cfg.cat_embed)
        shapes["W_cat"] = (cfg.cat_embed, layer.param_shapes(cfg.cell, 1, cfg.hidden)["b"][0])
    for i in range(cfg.layers):
        for name, shape in layer.param_shapes(cfg.cell, _input_size(cfg, i), cfg.hidden).items():
            shapes[f"l{i}.{name}"] = shape
    shapes["W_out"] = (cfg.hidden, cfg.vocab_size)
    shapes["b_out"] = (cfg.vocab_size,)
    return shapes


def param_count(cfg: ModelConfig) -> tuple[int, int]:
    """(number of parameter arrays, number of scalars) for ``cfg``, in closed form: cheap
    even for an absurd config (``layers=10**9``), so sizes can be checked before allocating."""
    H, V, L = cfg.hidden, cfg.vocab_size, cfg.layers
    G = layer.get_cell(cfg.cell).GATES * H
    per_layer = H * G + G + (H if cfg.cell == "gru" else 0)  # W_hh, b (, b_hn): every layer
    inputs = _input_size(cfg, 0) * G + (L - 1) * H * G  # W_ih of layer 0, then of layers 1..L-1
    cats = cfg.categories * cfg.cat_embed + cfg.cat_embed * G  # cat, W_cat
    scalars = cfg.embed * V + cats + inputs + L * per_layer + H * V + V
    arrays = (cfg.embed > 0) + 2 * (cfg.categories > 0) + L * (4 if cfg.cell == "gru" else 3) + 2
    return arrays, scalars


def init_params(
    cfg: ModelConfig, rng: np.random.Generator, dtype: Any = np.float32
) -> dict[str, np.ndarray]:
    """Fresh parameters drawn from ``rng``, in ``dtype``.

    Recurrent weights and biases ~ U(-1/sqrt(H), 1/sqrt(H)) (PyTorch), LSTM forget bias 1.0;
    wte and cat ~ N(0, 1) (nn.Embedding); W_cat like W_ih (the rows it adds to the
    concatenated input); W_out ~ U(-0.1/sqrt(H), 0.1/sqrt(H)) and b_out = 0 so
    that the loss at init is close to ln V.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"dtype must be a float dtype, got {dtype}")
    params: dict[str, np.ndarray] = {}
    V, H = cfg.vocab_size, cfg.hidden
    if cfg.embed > 0:
        params["wte"] = rng.standard_normal((V, cfg.embed)).astype(dtype)
    if cfg.categories > 0:
        params["cat"] = rng.standard_normal((cfg.categories, cfg.cat_embed)).astype(dtype)
        k = 1.0 / np.sqrt(H)
        params["W_cat"] = rng.uniform(-k, k, size=param_shapes(cfg)["W_cat"]).astype(dtype)
    for i in range(cfg.layers):
        for name, value in layer.init_params(cfg.cell, _input_size(cfg, i), H, rng, dtype).items():
            params[f"l{i}.{name}"] = value
    k = 0.1 / np.sqrt(H)
    params["W_out"] = rng.uniform(-k, k, size=(H, V)).astype(dtype)
    params["b_out"] = np.zeros(V, dtype=dtype)
    return params


def check_params(params: dict[str, np.ndarray], cfg: ModelConfig, *, finite: bool = False) -> None:
    """Raise InputError unless ``params`` has exactly the keys and shapes of ``cfg``, all of one
    float dtype (W_out's); with ``finite``, also unless every value is finite (a pass over all
    the weights: loading a checkpoint checks it, each forward does not)."""
    shapes = param_shapes(cfg)
    if params.keys() != shapes.keys():
        missing = [k for k in shapes if k not in params]
        extra = sorted(k for k in params if k not in shapes)
        raise InputError(f"weights do not fit the model config: missing {missing}, unexpected {extra}")
    dtype = getattr(params["W_out"], "dtype", None)
    for name, shape in shapes.items():
        value = params[name]
        if not isinstance(value, np.ndarray) or value.shape != shape:
            got = getattr(value, "shape", type(value).__name__)
            raise InputError(f"weight {name} has shape {got}, expected {shape}")
        if dtype is None or dtype.kind != "f" or value.dtype != dtype:
            raise InputError(f"weight {name} has dtype {value.dtype}, expected one float type for all (W_out's {dtype})")
        if finite and not np.isfinite(value).all():
            raise InputError(f"weight {name} holds NaN or infinite values; the model is unusable "
                             "(retrain it, or use an earlier checkpoint)")


def init_state(cfg: ModelConfig, batch: int, dtype: Any = np.float32) -> State:
    """Zero state: per layer (h,) or (h, c), each (batch, H)."""
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    return tuple(layer.zero_state(cfg.cell, int(batch), cfg.hidden, dtype) for _ in range(cfg.layers))


def _check_ids(cfg: ModelConfig, ids: Any, ndim: int) -> np.ndarray:
    ids = np.asarray(ids)
    want = "(B, T)" if ndim == 2 else "(B,)"
    if ids.ndim != ndim or ids.size == 0:
        raise ValueError(f"ids must be a non-empty {want} array, got shape {ids.shape}")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got {ids.dtype}")
    lo, hi = ids.min(), ids.max()
    if lo < -1 or hi >= cfg.vocab_size:
        raise ValueError(f"ids must be in [-1, {cfg.vocab_size}) (-1 = zero input), got values in [{lo}, {hi}]")
    return ids


def _check_state(cfg: ModelConfig, state: Any, batch: int, dtype: np.dtype, what: str = "state") -> None:
    n = 2 if cfg.cell == "lstm" else 1
    if not isinstance(state, (tuple, list)) or len(state) != cfg.layers:
        got = len(state) if isinstance(state, (tuple, list)) else type(state).__name__
        raise ValueError(f"{what} must be a tuple of {cfg.layers} per-layer tuples, got {got}")
    for i, s in enumerate(state):
        if not isinstance(s, (tuple, list)) or len(s) != n:
            raise ValueError(f"{what}[{i}] must be a tuple of {n} array(s) for {cfg.cell}, got {s!r:.80}")
        for a in s:
            if getattr(a, "shape", None) != (batch, cfg.hidden):
                got = getattr(a, "shape", type(a).__name__)
                raise ValueError(f"{what}[{i}] arrays must have shape {(batch, cfg.hidden)}, got {got}")
            if a.dtype != dtype:
                raise TypeError(f"{what}[{i}] dtype must match the params' {dtype}, got {a.dtype}")


def _conditions(cfg: ModelConfig, cond: Any, batch: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray] | None:
    """The distinct conditions of the batch and each row's one (B,): weights (U, K) in
    ``dtype``, or for category ids (B,) the distinct ids (U,), which stand for one-hot rows
    (so memory and work are linear in K, never K x K); None for a model without categories."""
    K = cfg.categories
    if K == 0:
        if cond is not None:
            raise ValueError("this model has no categories; pass cond=None")
        return None
    if cond is None:
        raise ValueError(f"the model is conditioned on {K} categories; pass cond, (B,) ids or (B, {K}) weights")
    cond = np.asarray(cond)
    if cond.dtype.kind in "iu":
        if cond.shape != (batch,) or cond.min() < 0 or cond.max() >= K:
            raise ValueError(f"category ids must be a ({batch},) array in [0, {K}), got shape {cond.shape}")
        distinct, u = np.unique(cond, return_inverse=True)
        return distinct.astype(np.int64), u.reshape(-1)  # the ids stand for their one-hot rows
    if cond.dtype.kind != "f":
        raise TypeError(f"cond must be integer ids or float weights, got {cond.dtype}")
    if cond.shape != (batch, K) or not np.isfinite(cond).all():
        raise ValueError(f"category weights must be a finite ({batch}, {K}) array, got shape {cond.shape}")
    w = np.ascontiguousarray(cond, dtype=dtype)
    rows = w.view(np.dtype((np.void, w.itemsize * K))).ravel()  # each row as bytes: sorted by memcmp
    _, first, u = np.unique(rows, return_index=True, return_inverse=True)
    return w[first], u.reshape(-1)


def _cat_vectors(params: dict[str, np.ndarray], conds: np.ndarray) -> np.ndarray:
    """(U, C) the category vectors of distinct conditions: rows of cat for ids (U,), the
    weighted sums conds @ cat for weights (U, K)."""
    return params["cat"][conds] if conds.ndim == 1 else conds @ params["cat"]


def _input_rows(params: dict[str, np.ndarray], cfg: ModelConfig, p0: dict[str, np.ndarray]) -> np.ndarray:
    """Layer 0's projected input for every id: (V+1, G), row v = (wte[v] @ W_ih or W_ih[v]) + b,
    and the last row (id -1, a zero input) = b; so that ``take(..., mode="wrap")`` maps -1 to it."""
    proj = params["wte"] @ p0["W_ih"] if cfg.embed > 0 else p0["W_ih"]  # (V, G)
    V, G = proj.shape
    rows = np.empty((V + 1, G), dtype=proj.dtype)
    np.add(proj, p0["b"], out=rows[:V])
    rows[V] = p0["b"]
    return rows


def _input_table(
    params: dict[str, np.ndarray], cfg: ModelConfig, p0: dict[str, np.ndarray], ids: np.ndarray,
    w: tuple[np.ndarray, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Layer 0's input table (G, n), the ids (T, B) that index its columns, and the distinct
    condition rows (U, K) (None without categories).

    Without categories: :func:`_input_rows` transposed, n = V+1, ids as given (-1 wraps to
    the last column). With: U blocks of V+1 columns, block u = _input_rows + conds[u] @ cat
    @ W_cat, and the id v of row b becomes u_b * (V+1) + v (v = V for -1).
    """
    rows = _input_rows(params, cfg, p0)  # (V+1, G)
    ids_t = np.ascontiguousarray(ids.T)  # (T, B)
    if w is None:
        return np.ascontiguousarray(rows.T), ids_t, None
    conds, u = w  # (U, K) or (U,) ids, (B,)
    V1, G = rows.shape
    ce = _cat_vectors(params, conds) @ params["W_cat"]  # (U, G)
    table = (rows[None] + ce[:, None]).reshape(-1, G)  # (U*(V+1), G)
    folded = np.where(ids_t < 0, V1 - 1, ids_t) + u.reshape(1, -1) * V1  # (T, B)
    return np.ascontiguousarray(table.T), folded, conds


def _row_sums(a: np.ndarray) -> np.ndarray:
    """a (D, N) -> (D,) sums over N, as a matrix-vector product (faster than a.sum(axis=1))."""
    return a @ np.ones(a.shape[1], dtype=a.dtype)


def forward(
    params: dict[str, np.ndarray],
    cfg: ModelConfig,
    ids: np.ndarray,
    state: State,
    *,
    cond: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    check: bool = True,
) -> tuple[np.ndarray, State, Cache]:
    """ids (B, T) ints in [-1, V) -> logits (B, T, V), final state, cache for :func:`backward`.

    ``cond``: for a model with categories, each row's category, (B,) ids in [0, K) or (B, K)
    weights (a blend); None otherwise. With ``rng`` (training) each layer's output is
    dropped with probability cfg.dropout (inverted dropout, masks drawn from ``rng`` and
    kept in the cache). ``check=False`` skips validating params, ids and state (for
    callers that already did).
    """
    y, final, cache = _features(params, cfg, ids, state, cond, rng, check)
    B, T = cache["shape"]
    return np.ascontiguousarray(_head(params, y).reshape(T, B, -1).transpose(1, 0, 2)), final, cache


def _head(params: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
    """The output layer: y (H, N) -> logits (N, V) = y.T @ W_out + b_out."""
    logits = backend.current().matmul(y.T, params["W_out"])
    logits += params["b_out"]
    return logits


def _features(
    params: dict[str, np.ndarray], cfg: ModelConfig, ids: np.ndarray, state: State, cond: np.ndarray | None,
    rng: np.random.Generator | None, check: bool,
) -> tuple[np.ndarray, State, Cache]:
    """Everything before the output layer: y (H, T*B), columns t*B + b; see :func:`forward`."""
    if check:
        check_params(params, cfg)
        ids = _check_ids(cfg, ids, 2)
    else:
        ids = np.asarray(ids)
    B, T = ids.shape
    H, L = cfg.hidden, cfg.layers
    dtype = params["W_out"].dtype
    if check:
        _check_state(cfg, state, B, dtype)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}")
    p_drop = cfg.dropout if rng is not None else 0.0

    be = backend.current()
    p0 = _layer_params(params, 0)
    w = _conditions(cfg, cond, B, dtype)
    table, ids_t, conds = _input_table(params, cfg, p0, ids, w)  # (G, n), (T, B) column per input

    rcaches, masks, final = [], [], []
    inputs: list[np.ndarray | None] = [None]  # layer inputs (H, T*B) views (None for layer 0)
    for i in range(L):
        p = p0 if i == 0 else _layer_params(params, i)
        if i == 0:  # layer 0's inputs are looked up by id in the table
            hs, st, rc = layer.recur_forward(cfg.cell, p, table, tuple(state[0]), ids=ids_t)
        else:
            x = inputs[i]
            assert x is not None  # the output of layer i - 1
            xp = be.matmul(p["W_ih"].T, x)  # (G, T*B)
            xp += p["b"][:, None]
            hs, st, rc = layer.recur_forward(cfg.cell, p, xp.reshape(-1, T, B), tuple(state[i]))
        out = hs[:, 1:].reshape(H, T * B)  # a view of hs, rows of stride (T+1) * B
        mask = None
        if p_drop > 0.0:
            drawn = rng.random((T, B, H), dtype=dtype) >= p_drop  # type: ignore[union-attr]
            mask = (drawn.astype(dtype) * dtype.type(1.0 / (1.0 - p_drop))).transpose(2, 0, 1)  # (H, T, B)
            mask = mask.reshape(H, T * B)
            out = out * mask
        rcaches.append(rc)
        masks.append(mask)
        final.append(st)
        inputs.append(out)

    y = inputs[L]  # (H, T*B) head input
    cache: Cache = {
        "shape": (B, T),
        "ids_t": ids_t,  # (T, B) columns of layer 0's input table (-1: its last)
        "n_cols": table.shape[1],  # the table's width
        "conds": conds,  # (U, K) the distinct condition rows, (U,) distinct ids, or None
        "inputs": inputs,  # inputs[i]: layer i's input (H, T*B) (None for layer 0); inputs[L] top output
        "rcaches": rcaches,  # layer.recur_forward caches
        "masks": masks,  # dropout masks (H, T*B), already scaled, or None
        "y": y,  # (H, T*B) head input
    }
    return y, tuple(final), cache  # type: ignore[return-value]


def backward_with_state(
    params: dict[str, np.ndarray],
    cfg: ModelConfig,
    dlogits: np.ndarray,
    cache: Cache,
    d_state: State | None = None,
) -> tuple[dict[str, np.ndarray], State]:
    """Like :func:`backward`, also returning the gradient w.r.t. the initial state."""
    B, T = cache["shape"]
    V = cfg.vocab_size
    dtype = params["W_out"].dtype
    dlogits = np.asarray(dlogits)
    if dlogits.shape != (B, T, V):
        raise ValueError(f"dlogits must have shape {(B, T, V)} like the logits, got {dlogits.shape}")
    dl = np.ascontiguousarray(dlogits.transpose(1, 0, 2), dtype=dtype).reshape(T * B, V)  # rows t*B + b
    if d_state is not None:
        _check_state(cfg, d_state, B, dtype, "d_state")

    be = backend.current()
    grads: dict[str, np.ndarray] = {}
    grads["W_out"] = be.matmul(cache["y"], dl)  # (H, V)
    grads["b_out"] = np.ones(T * B, dtype=dtype) @ dl  # column sums, as a vector-matrix product
    dy = be.matmul(params["W_out"], dl.T)  # (H, T*B)
    d_state0 = _features_backward(params, cfg, dy, cache, d_state, grads)
    ordered = {k: np.ascontiguousarray(grads[k]) for k in params}
    return ordered, d_state0


def _features_backward(
    params: dict[str, np.ndarray], cfg: ModelConfig, dy: np.ndarray, cache: Cache, d_state: State | None,
    grads: dict[str, np.ndarray],
) -> State:
    """Backward of :func:`_features` from dy (H, T*B): adds every layer's (and the embedding's)
    gradients to ``grads``; returns the gradient w.r.t. the initial state."""
    B, T = cache["shape"]
    V, H, L = cfg.vocab_size, cfg.hidden, cfg.layers
    d_state0: list[tuple[np.ndarray, ...]] = [()] * L
    be = backend.current()
    for i in range(L - 1, -1, -1):
        p = _layer_params(params, i)
        if cache["masks"][i] is not None:
            dy = dy * cache["masks"][i]
        dxp, ds0, g = layer.recur_backward(
            cfg.cell, p, dy.reshape(H, T, B), None if d_state is None else tuple(d_state[i]), cache["rcaches"][i]
        )
        d_state0[i] = ds0
        dxp2 = dxp.reshape(-1, T * B)  # (G, T*B)
        pre = f"l{i}."
        for k, v in g.items():
            grads[pre + k] = v
        if i > 0:
            grads[pre + "b"] = _row_sums(dxp2)
            grads[pre + "W_ih"] = be.matmul(cache["inputs"][i], dxp2.T)
            dy = be.matmul(p["W_ih"], dxp2)  # (H, T*B)
            continue
        d_table = _input_table_backward(params, cache, dxp2, V, grads)  # (G, V)
        if cfg.embed > 0:
            grads[pre + "W_ih"] = params["wte"].T @ d_table.T  # (E, G)
            grads["wte"] = (p["W_ih"] @ d_table).T  # (V, E)
        else:  # one-hot input: W_ih rows were gathered by id
            grads[pre + "W_ih"] = np.ascontiguousarray(d_table.T)
    return tuple(d_state0)


def _input_table_backward(
    params: dict[str, np.ndarray], cache: Cache, dxp: np.ndarray, V: int, grads: dict[str, np.ndarray]
) -> np.ndarray:
    """Backward of :func:`_input_table` from layer 0's input gradient dxp (G, T*B): adds the
    gradients of l0.b (and cat, W_cat) to ``grads``; returns the characters' part (G, V)."""
    conds = cache["conds"]
    n = V if conds is None else cache["n_cols"]  # without categories, id -1 sums in column V
    d_ext = backend.current().scatter_cols(cache["ids_t"].reshape(-1), dxp, n)  # (G, n+1): summed by column
    grads["l0.b"] = _row_sums(d_ext)
    if conds is None:
        return d_ext[:, :V]
    d_blocks = d_ext[:, :n].reshape(d_ext.shape[0], len(conds), V + 1)  # (G, U, V+1)
    d_ce = d_blocks.sum(axis=2)  # (G, U): gradient of each block's category row
    grads["W_cat"] = _cat_vectors(params, conds).T @ d_ce.T  # (C, G)
    d_e = d_ce.T @ params["W_cat"].T  # (U, C)
    if conds.ndim == 1:  # distinct ids: each one's row of cat gets its block's gradient
        grads["cat"] = np.zeros_like(params["cat"])
        grads["cat"][conds] = d_e
    else:
        grads["cat"] = conds.T @ d_e  # (K, C)
    return d_blocks[:, :, :V].sum(axis=1)


def loss_and_grads(
    params: dict[str, np.ndarray],
    cfg: ModelConfig,
    ids: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray,
    state: State,
    *,
    cond: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    check: bool = True,
) -> tuple[float, dict[str, np.ndarray], State]:
    """The training objective and its gradients: the masked mean cross-entropy of the
    next-character predictions (:func:`charsmith.nn.loss.cross_entropy_forward` on the
    :func:`forward` logits), the gradient of every param, and the final state.

    The same numbers as forward -> cross_entropy_forward -> cross_entropy_backward ->
    backward, but the output layer and the loss run fused (:meth:`charsmith.backend.Backend.head_xent`:
    compiled, one cache-sized block of positions at a time, without building the (B, T, V) logits).
    ``cond`` as for :func:`forward`.
    """
    y, final, cache = _features(params, cfg, ids, state, cond, rng, check)
    B, T = cache["shape"]
    V, dtype = cfg.vocab_size, params["W_out"].dtype
    w, safe = loss.weights_and_targets((B, T, V), dtype, targets, mask)
    w_tm = w.T.reshape(-1)  # positions in y's column order, t*B + b
    nll, dW_out, db_out, dy = backend.current().head_xent(y, params["W_out"], params["b_out"], safe.T.reshape(-1), w_tm)
    grads = {"W_out": dW_out, "b_out": db_out}
    _features_backward(params, cfg, dy, cache, None, grads)
    value = float(w_tm @ nll)
    return value, {k: np.ascontiguousarray(grads[k]) for k in params}, final


def backward(
    params: dict[str, np.ndarray],
    cfg: ModelConfig,
    dlogits: np.ndarray,
    cache: Cache,
    d_state: State | None = None,
) -> dict[str, np.ndarray]:
    """Gradients (same keys, shapes, dtype as params) given dlogits (B, T, V) and optionally
    the gradient w.r.t. the final state (None = zeros)."""
    return backward_with_state(params, cfg, dlogits, cache, d_state)[0]


def step(
    params: dict[str, np.ndarray], cfg: ModelConfig, ids: np.ndarray, state: State, *,
    cond: np.ndarray | None = None, check: bool = True,
) -> tuple[np.ndarray, State]:
    """One timestep for sampling: ids (B,) -> logits (B, V), new state. No cache, no dropout.
    ``cond``: with categories, (B,) category ids or (B, K) weights (see :func:`forward`).
    ``check=False`` skips validating ids and state (for callers that already did)."""
    if check:
        ids = _check_ids(cfg, ids, 1)
    else:
        ids = np.asarray(ids)
    B = ids.shape[0]
    if check:
        _check_state(cfg, state, B, params["W_out"].dtype)
    w = _conditions(cfg, cond, B, params["W_out"].dtype)
    mod = layer.get_cell(cfg.cell)

    p = _layer_params(params, 0)
    rows = None  # with rows, xp is a table (V+1, G) and row b's input is its row rows[b]
    if cfg.embed > 0 and cfg.vocab_size >= B:
        x = np.take(params["wte"], ids, axis=0, mode="wrap")  # (B, E)
        x[ids < 0] = 0.0  # -1 = zero input
        xp = x @ p["W_ih"]  # (B, G)
        xp += p["b"]
    else:  # every id's projected input row (bias included), read by id
        xp = _input_rows(params, cfg, p)  # (V+1, G)
        rows = np.where(ids < 0, cfg.vocab_size, ids)  # (B,)
        if w is not None:
            xp, rows = np.take(xp, rows, axis=0), None  # (B, G)
    if w is not None:
        conds, u = w
        xp += (_cat_vectors(params, conds) @ params["W_cat"])[u]  # (U, C) @ (C, G): each row's category

    be = backend.current()
    new_state: list[tuple[np.ndarray, ...]] = []
    for i in range(cfg.layers):
        if i > 0:  # the layer below's new h is this layer's input
            p = _layer_params(params, i)
            xp, rows = be.matmul(new_state[-1][0], p["W_ih"]), None  # (B, G)
            xp += p["b"]
        new_state.append(be.cell_step(mod, p, xp, tuple(state[i]), rows))
    logits = be.matmul(new_state[-1][0], params["W_out"])  # (B, V), split over threads when big enough
    logits += params["b_out"]
    return logits, tuple(new_state)
