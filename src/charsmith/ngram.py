"""Character n-gram model: interpolated modified Kneser-Ney (Chen & Goodman 1998), a model kind.

An item is read as ids ``[END] * (N-1) + chars + [END]`` (N = cfg.order): each character and
the end token is predicted from the N-1 ids before it, the item's start padded with END
(END never occurs inside an item, so a context holding END is a start-of-item context).

Counts. For an m-gram g = (h, w), m = 1..N: ``a(g)`` is its count when m = N or when g
begins with END (nothing can precede it), else the number of distinct ids v seen before it
(its continuation count, N1+(. g)). Per m, the discounts D1, D2, D3+ come from the
count-of-counts n_r of a at that m: Y = n1 / (n1 + 2 n2), D_r = r - (r+1) Y n_{r+1} / n_r,
Y itself when a count-of-counts is missing (as in a list of 5 items) or D_r falls outside (0, r].

Estimate, for a context h of length k = m-1 seen in training (A(h) > 0):

    A(h)     = sum_w a(h, w)
    gamma(h) = (D1 N1(h) + D2 N2(h) + D3+ N3+(h)) / A(h)     N_r(h): w with a(h, w) = r (>= 3)
    P(w | h) = (a(h, w) - D(a(h, w)))+ / A(h) + gamma(h) P(w | h')    h' = h without its first id

below the unigram, P(w) = 1/V. A context never seen backs off whole to its longest seen
suffix. With categories, every context also holds its category: each category is its own
n-gram model (a blend of categories mixes their distributions, sum_c w_c P(w | h, c)).

Parameters (saved to .npz as they are), for k = 0..N-1:

    "keys{k}"  (M_k,) int64      the seen contexts (c, x_1..x_k), sorted, as c V^k + sum_i x_i V^(k-i)
    "probs{k}" (M_k, V) float64  P(. | context): each row sums to 1

The state of a row is ((window,),): window (B, N-1) int64, the last N-1 ids fed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from charsmith.errors import InputError

__all__ = ["MAX_ORDER", "NgramConfig", "check_params", "cond_probs", "fit", "forward", "init_state", "item_grams",
           "lookup", "param_count", "param_shapes", "shift", "step", "windows_of"]

MAX_ORDER = 10
END_ID = 0
_KEY_LIMIT = 2**62  # keys are int64: c V^N + ... must stay below this

State = tuple[tuple[np.ndarray, ...], ...]


@dataclass(frozen=True)
class NgramConfig:
    """Shape of an n-gram model: ``order`` N (a character is predicted from the N-1 before
    it), ``contexts`` M_k (seen contexts of each length k = 0..N-1), ``discounts`` (D1, D2,
    D3+) of each n-gram length 1..N, K ``categories`` (0: none)."""

    vocab_size: int
    order: int
    contexts: tuple[int, ...]
    discounts: tuple[tuple[float, float, float], ...]
    categories: int = 0
    kind: Literal["ngram"] = "ngram"

    def __post_init__(self) -> None:
        object.__setattr__(self, "contexts", tuple(self.contexts))
        object.__setattr__(self, "discounts", tuple(tuple(float(d) for d in ds) for ds in self.discounts))
        for name in ("vocab_size", "order"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InputError(f"{name} must be a positive integer, got {v!r}")
        if self.order > MAX_ORDER:
            raise InputError(f"order must be at most {MAX_ORDER}, got {self.order}")
        if not isinstance(self.categories, int) or self.categories < 0:
            raise InputError(f"categories must be a non-negative integer, got {self.categories!r}")
        if self.kind != "ngram":
            raise InputError(f"kind must be 'ngram', got {self.kind!r}")
        if len(self.contexts) != self.order or any(not isinstance(m, int) or m < 0 for m in self.contexts):
            raise InputError(f"contexts must be {self.order} non-negative counts, got {self.contexts!r}")
        if len(self.discounts) != self.order or any(len(ds) != 3 for ds in self.discounts):
            raise InputError(f"discounts must be {self.order} triples (D1, D2, D3+), got {self.discounts!r}")
        if max(self.categories, 1) * self.vocab_size ** self.order >= _KEY_LIMIT:
            raise InputError(f"order {self.order} is too high for {self.vocab_size} symbols; choose a lower order")


def param_shapes(cfg: NgramConfig) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for k, m in enumerate(cfg.contexts):
        shapes[f"keys{k}"] = (m,)
        shapes[f"probs{k}"] = (m, cfg.vocab_size)
    return shapes


def array_kinds(cfg: NgramConfig) -> dict[str, str]:
    """The dtype kind of each parameter: "i" for the keys, "f" for the probabilities."""
    return {name: ("i" if name.startswith("keys") else "f") for name in param_shapes(cfg)}


def param_count(cfg: NgramConfig) -> tuple[int, int]:
    return 2 * cfg.order, sum(m * (cfg.vocab_size + 1) for m in cfg.contexts)


def check_params(params: dict[str, np.ndarray], cfg: NgramConfig, *, finite: bool = False) -> None:
    """Raise InputError unless ``params`` fits ``cfg``; with ``finite``, also unless the keys
    are sorted, distinct and in range and every row is a distribution (a checkpoint's check)."""
    shapes = param_shapes(cfg)
    if params.keys() != shapes.keys():
        raise InputError(f"n-gram tables do not fit the model config: expected {sorted(shapes)}, got {sorted(params)}")
    for name, shape in shapes.items():
        value = params[name]
        kind = "i" if name.startswith("keys") else "f"
        if not isinstance(value, np.ndarray) or value.shape != shape or value.dtype.kind != kind:
            raise InputError(f"n-gram table {name} is {getattr(value, 'dtype', '?')} {getattr(value, 'shape', '?')}, "
                             f"expected {'int' if kind == 'i' else 'float'} {shape}")
    if not finite:
        return
    V, K = cfg.vocab_size, max(cfg.categories, 1)
    for k in range(cfg.order):
        keys, probs = params[f"keys{k}"], params[f"probs{k}"]
        if keys.size and (keys[0] < 0 or keys[-1] >= K * V**k or np.any(np.diff(keys) <= 0)):
            raise InputError(f"n-gram table keys{k} is not a sorted set of contexts; the file is corrupt")
        if not np.isfinite(probs).all() or (probs < 0).any() or not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
            raise InputError(f"n-gram table probs{k} holds rows that are not distributions; the file is corrupt")


# ----- training ------------------------------------------------------------------------------
def item_grams(seqs: Sequence[np.ndarray], cats: np.ndarray, N: int) -> tuple[np.ndarray, np.ndarray]:
    """Every prediction of every item as an N-gram: (P, N) ids (the N-1 before, then the
    target) and (P,) each one's category. ``seqs``: each item's ids, without END."""
    padded = [np.concatenate((np.full(N - 1, END_ID), s, [END_ID])) for s in seqs]
    flat = np.concatenate(padded).astype(np.int64) if padded else np.zeros(N, np.int64)
    starts = np.concatenate([np.arange(len(s) + 1) for s in seqs]) if seqs else np.zeros(0, np.int64)
    offsets = np.repeat(np.cumsum([0] + [len(p) for p in padded[:-1]]), [len(s) + 1 for s in seqs])
    grams = np.lib.stride_tricks.sliding_window_view(flat, N)[offsets + starts]
    return grams, np.repeat(cats, [len(s) + 1 for s in seqs]).astype(np.int64)


def _encode(cats: np.ndarray, ids: np.ndarray, V: int) -> np.ndarray:
    """(P,) keys of (category, ids (P, m)): c V^m + sum_i x_i V^(m-i)."""
    key = cats.astype(np.int64).copy()
    for j in range(ids.shape[1]):
        key = key * V + ids[:, j]
    return key


def _discounts(a: np.ndarray) -> tuple[float, float, float]:
    """(D1, D2, D3+) from the count-of-counts of ``a`` (each D_r in (0, r])."""
    n = [np.count_nonzero(a == r) for r in range(1, 5)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] + n[1] else 0.5
    y = min(max(y, 0.05), 0.95)
    out = []
    for r in (1, 2, 3):
        d = r - (r + 1) * y * n[r] / n[r - 1] if n[r - 1] and n[r] else y
        out.append(float(d if 0 < d <= r else y))
    return out[0], out[1], out[2]


def _counts(grams: np.ndarray, gcats: np.ndarray, V: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each n-gram length m = 1..N: the distinct m-grams' keys and their counts a (see the
    module docstring)."""
    N = grams.shape[1]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    longer: np.ndarray | None = None  # the distinct (m+1)-grams' keys
    for m in range(N, 0, -1):
        keys, raw = np.unique(_encode(gcats, grams[:, N - m :], V), return_counts=True)
        if m < N:
            assert longer is not None
            mod = V**m  # drop the first id of each (m+1)-gram, keep its category
            suffix = (longer // (mod * V)) * mod + longer % mod
            cont = np.searchsorted(keys, suffix)
            left = np.bincount(cont, minlength=len(keys))  # distinct ids seen before each m-gram
            first = (keys // V ** (m - 1)) % V
            raw = np.where(first == END_ID, raw, left)
        out.append((keys, raw))
        longer = keys
    return out[::-1]


def fit(
    seqs: Sequence[np.ndarray], vocab_size: int, order: int, *, cats: np.ndarray | None = None, categories: int = 0,
) -> tuple[NgramConfig, dict[str, np.ndarray]]:
    """The model of order ``order`` of the items ``seqs`` (each item's ids, without END;
    ``cats`` (N,) their category ids when the model has ``categories``)."""
    V = vocab_size
    cat_ids = np.zeros(len(seqs), dtype=np.int64) if cats is None else np.asarray(cats, dtype=np.int64)
    grams, gcats = item_grams(seqs, cat_ids, order)
    counts = _counts(grams, gcats, V)
    cfg_discounts = [_discounts(a) for _, a in counts]
    params: dict[str, np.ndarray] = {}
    for m, ((keys, a), D) in enumerate(zip(counts, cfg_discounts, strict=True), start=1):
        k = m - 1  # context length
        ctx, inv = np.unique(keys // V, return_inverse=True)
        w = keys % V
        d = np.take(np.array((0.0, *D)), np.minimum(a, 3))  # D(a)
        total = np.bincount(inv, weights=a, minlength=len(ctx))  # A(h)
        gamma = np.bincount(inv, weights=d, minlength=len(ctx)) / total
        probs = np.zeros((len(ctx), V))
        probs[inv, w] = (a - d) / total[inv]
        if k == 0:
            lower = np.full((len(ctx), V), 1.0 / V)
        else:
            mod = V ** (k - 1)
            parent = (ctx // (mod * V)) * mod + ctx % mod
            prev = params[f"keys{k - 1}"]
            lower = params[f"probs{k - 1}"][np.searchsorted(prev, parent)]
        params[f"keys{k}"] = ctx.astype(np.int64)
        params[f"probs{k}"] = probs + gamma[:, None] * lower
    cfg = NgramConfig(V, order, tuple(len(params[f"keys{k}"]) for k in range(order)), tuple(cfg_discounts),
                      categories)
    return cfg, params


# ----- using it ------------------------------------------------------------------------------
def init_state(cfg: NgramConfig, batch: int, dtype: Any = None) -> State:
    """The state before an item: a window of N-1 END ids per row."""
    return ((np.full((batch, cfg.order - 1), END_ID, dtype=np.int64),),)


def lookup(
    params: dict[str, np.ndarray], cfg: NgramConfig, window: np.ndarray, cat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P(. | window, category): (P, V) for windows (P, N-1) and categories (P,), and the
    length of the context each row's estimate came from (P,) (-1: none seen, uniform)."""
    V, N = cfg.vocab_size, cfg.order
    P = len(window)
    probs = np.full((P, V), 1.0 / V)
    used = np.full(P, -1, dtype=np.int64)
    for k in range(N - 1, -1, -1):
        keys = params[f"keys{k}"]
        todo = np.flatnonzero(used < 0)
        if todo.size == 0 or keys.size == 0:
            continue
        q = _encode(cat[todo], window[todo, N - 1 - k :], V)
        idx = np.minimum(np.searchsorted(keys, q), keys.size - 1)
        hit = keys[idx] == q
        probs[todo[hit]] = params[f"probs{k}"][idx[hit]]
        used[todo[hit]] = k
    return probs, used


def cond_probs(
    params: dict[str, np.ndarray], cfg: NgramConfig, window: np.ndarray, cond: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lookup` under each row's condition: None (no categories), (P,) ids or (P, K) weights."""
    P = len(window)
    if cfg.categories == 0:
        if cond is not None:
            raise ValueError("this model has no categories; pass cond=None")
        return lookup(params, cfg, window, np.zeros(P, dtype=np.int64))
    if cond is None:
        raise ValueError(f"the model is conditioned on {cfg.categories} categories; pass cond")
    cond = np.asarray(cond)
    if cond.dtype.kind in "iu":
        return lookup(params, cfg, window, cond.astype(np.int64))
    probs, used = np.zeros((P, cfg.vocab_size)), np.full(P, -1, dtype=np.int64)
    for c in np.flatnonzero((cond > 0).any(axis=0)):
        p, u = lookup(params, cfg, window, np.full(P, c, dtype=np.int64))
        probs += cond[:, c, None] * p
        used = np.maximum(used, u)
    return probs / probs.sum(axis=1, keepdims=True), used


def shift(window: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The windows after feeding ids (B,) (-1, a zero input, is read as END)."""
    ids = np.where(np.asarray(ids) < 0, END_ID, ids).astype(np.int64)
    return np.concatenate((window[:, 1:], ids[:, None]), axis=1) if window.shape[1] else window


def step(
    params: dict[str, np.ndarray], cfg: NgramConfig, ids: np.ndarray, state: State, *,
    cond: np.ndarray | None = None, check: bool = True,
) -> tuple[np.ndarray, State]:
    """One timestep: ids (B,) -> logits (B, V) (log-probabilities) and the new state."""
    window = shift(state[0][0], ids)
    probs, _ = cond_probs(params, cfg, window, cond)
    return np.log(probs), ((window,),)


def windows_of(cfg: NgramConfig, ids: np.ndarray, state: State) -> tuple[np.ndarray, State]:
    """The window after each input of ids (B, T): (B, T, N-1), and the final state."""
    B, T = ids.shape
    ext = np.concatenate((state[0][0], np.where(ids < 0, END_ID, ids).astype(np.int64)), axis=1)  # (B, N-1+T)
    view = np.lib.stride_tricks.sliding_window_view(ext, cfg.order - 1, axis=1)[:, 1:]  # (B, T, N-1)
    return view, ((ext[:, T:].copy(),),)


def forward(
    params: dict[str, np.ndarray], cfg: NgramConfig, ids: np.ndarray, state: State, *,
    cond: np.ndarray | None = None, rng: Any = None, check: bool = True,
) -> tuple[np.ndarray, State, None]:
    """ids (B, T) -> logits (B, T, V) (log-probabilities), the final state, no cache."""
    ids = np.asarray(ids)
    B, T = ids.shape
    win, final = windows_of(cfg, ids, state)
    c = None if cond is None else np.repeat(np.asarray(cond), T, axis=0)
    probs, _ = cond_probs(params, cfg, win.reshape(B * T, -1), c)
    return np.log(probs).reshape(B, T, -1), final, None


def describe(cfg: NgramConfig) -> str:
    cats = f", {cfg.categories} categories" if cfg.categories else ""
    return f"Kneser-Ney {cfg.order}-gram, {sum(cfg.contexts):,} contexts{cats}"
