"""The sampling specification every export target follows, as a Python reference.

docs/export.md states it in words; this module is the same thing in code, written to be
read next to the JavaScript (``_runtime.js``) and C# runtimes. Same seed, same items:

- PRNG: xoshiro128** (32-bit words), seeded by :func:`seed_state` (splitmix-style mixing
  of ``seed + i * 0x9E3779B9``); a uniform double is ``(next() >>> 5) * 2**26 + (next() >>> 6)``
  over 2**53 (:meth:`Xoshiro128.uniform`).
- Arithmetic: float64 throughout (weights widened from float32 or float16). A matrix-vector
  product ``y = b + x @ W`` (W (in, out)) is, for every output j, a running sum that starts
  at ``b[j]`` (0 without a bias) and adds ``x[i] * W[i, j]`` for i ascending, each product
  rounded before the addition (no fused multiply-add). With categories, layer 0's input
  is (b + x @ W_ih) + (e @ W_cat), two such sums added (as :mod:`charsmith.model` does).
- Cells as :mod:`charsmith.nn` (PyTorch gate order), sigmoid(x) = 1 / (1 + exp(-x)).
- The draw (:func:`draw`): one uniform u per character, inverse CDF over the weights in
  ascending id order.

The network runs one row at a time (the targets' loops), so the reference is slow: it is
for checking the targets, not for use (``charsmith sample`` is the fast path).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from charsmith import kinds
from charsmith.config import ModelConfig
from charsmith.errors import CategoryError, InputError
from charsmith.generation.sampling import default_max_draws

__all__ = ["network", "DTYPES", "DEFAULT_MAX_LEN", "DEFAULT_MIN_LEN", "Generator", "Net", "check_dtype", "Xoshiro128", "draw", "fnv1a32", "known_hashes",
           "max_tries", "normalise_blend", "seed_state", "spec_params", "weight_arrays"]


def network(model: Any) -> ModelConfig:
    """The recurrent network's config of ``model``; InputError for another kind of model (an
    n-gram or a mixture: the exports write networks, step by step as the spec says)."""
    cfg = model.ckpt.model
    if not isinstance(cfg, ModelConfig):
        raise InputError(f"the exports write recurrent networks (rnn, gru, lstm), and this model is a "
                         f"{kinds.of(cfg).describe(cfg)} model; train a network on the same data to export it")
    return cfg

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9
DTYPES = ("float32", "float16")
DEFAULT_MIN_LEN = 1  # charsmith's defaults (generation.constraints), prefix included
DEFAULT_MAX_LEN = 50
KNOWN_INFO_KEY = "export_known_fnv1a32"  # where with_known_items() leaves the hashes on a model


# ----- PRNG --------------------------------------------------------------------------------
def seed_state(seed: int) -> list[int]:
    """The four 32-bit words of xoshiro128** for an integer 0 <= seed < 2**32."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed <= MASK32:
        raise InputError(f"`seed` must be an integer in [0, 2**32), got {seed!r}", param="seed")
    x, s = int(seed), []
    for _ in range(4):
        x = (x + GOLDEN) & MASK32
        z = x
        z = ((z ^ (z >> 16)) * 0x85EBCA6B) & MASK32
        z = ((z ^ (z >> 13)) * 0xC2B2AE35) & MASK32
        s.append(z ^ (z >> 16))
    return s


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & MASK32


class Xoshiro128:
    """xoshiro128** by Blackman and Vigna: 32-bit outputs, period 2**128 - 1."""

    def __init__(self, seed: int) -> None:
        self.s = seed_state(seed)

    def next(self) -> int:
        s = self.s
        result = (_rotl((s[1] * 5) & MASK32, 7) * 9) & MASK32
        t = (s[1] << 9) & MASK32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def uniform(self) -> float:
        """A double in [0, 1) from 53 random bits: two outputs, 27 and 26 bits."""
        a = self.next() >> 5
        b = self.next() >> 6
        return (a * 67108864 + b) / 9007199254740992


# ----- the draw ----------------------------------------------------------------------------
def draw(logits: np.ndarray, u: float, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> int:
    """The next id for float64 logits (V,) and a uniform u in [0, 1).

    z = logits / temperature; w = exp(z - max z); top-k keeps the k largest w (ties: the
    lower id), then top-p keeps the shortest run of the largest w (same ties) whose sum
    reaches top_p * (the kept total); the others get w = 0. Then total = sum of w in id
    order, and the draw is the first id whose running sum exceeds u * total (if rounding
    leaves none, the last id with w > 0).
    """
    z = [float(v) / temperature for v in logits]
    m = max(z)
    w = [math.exp(v - m) for v in z]
    V = len(w)
    if 0 < top_k < V or top_p < 1.0:
        order = sorted(range(V), key=lambda i: (-w[i], i))
        if 0 < top_k < V:
            for i in order[top_k:]:
                w[i] = 0.0
            order = order[:top_k]
        if top_p < 1.0:
            total = 0.0
            for i in range(V):
                total += w[i]
            run, keep = 0.0, 0
            while keep < len(order):
                run += w[order[keep]]
                keep += 1
                if run >= top_p * total:
                    break
            for i in order[keep:]:
                w[i] = 0.0
    total = 0.0
    for i in range(V):
        total += w[i]
    target = u * total
    run, last = 0.0, 0
    for i in range(V):
        if w[i] > 0.0:
            run += w[i]
            last = i
            if run > target:
                return i
    return last


def max_tries(n: int) -> int:
    """How many items a sample of ``n`` may start before it gives up: charsmith's own bound."""
    return default_max_draws(n)


def normalise_blend(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Category weights as the targets use them: divided by the largest, then by the sum."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any() or w.max() <= 0:
        raise CategoryError(f"category weights must be finite, >= 0, with a positive one; got {list(weights)}")
    w = w / w.max()
    return w / sum(float(v) for v in w)


# ----- the network, one row at a time --------------------------------------------------------
def check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise InputError(f"`dtype` must be one of {', '.join(DTYPES)}, got {dtype!r}", param="dtype")


def weight_arrays(model: Any, dtype: str) -> dict[str, np.ndarray]:
    """The model's parameters as an export ships them: float32 or float16 (rounded to nearest)."""
    check_dtype(dtype)
    return {k: np.ascontiguousarray(v, dtype=np.dtype(dtype)) for k, v in model.ckpt.params.items()}


def spec_params(model: Any, dtype: str = "float32") -> dict[str, np.ndarray]:
    """The shipped parameters widened to float64: what every target computes with."""
    return {k: v.astype(np.float64) for k, v in weight_arrays(model, dtype).items()}


def _matvec(acc: np.ndarray, x: np.ndarray, W: np.ndarray) -> np.ndarray:
    """acc += x @ W in the spec's order: for i ascending, acc += x[i] * W[i] (in place)."""
    for i in range(len(x)):
        acc += x[i] * W[i]
    return acc


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


@dataclass
class Net:
    """A model's network in float64, stepped one row at a time in the spec's order."""

    p: dict[str, np.ndarray]
    cell: str
    layers: int
    hidden: int
    embed: int

    @classmethod
    def of(cls, model: Any, dtype: str = "float32") -> Net:
        cfg = model.ckpt.model
        return cls(spec_params(model, dtype), cfg.cell, cfg.layers, cfg.hidden, cfg.embed)

    def category_vector(self, weights: np.ndarray | None) -> np.ndarray | None:
        """e = weights @ cat (sum from 0, k ascending), or None without categories."""
        if weights is None:
            return None
        return _matvec(np.zeros(self.p["cat"].shape[1]), weights, self.p["cat"])

    def zero_state(self) -> list[list[np.ndarray]]:
        n = 2 if self.cell == "lstm" else 1
        return [[np.zeros(self.hidden) for _ in range(n)] for _ in range(self.layers)]

    def step(self, x_id: int, state: list[list[np.ndarray]], e: np.ndarray | None) -> np.ndarray:
        """Feed id ``x_id``; update ``state`` in place; return the logits (V,)."""
        p = self.p
        for i in range(self.layers):
            pre = f"l{i}."
            xp = p[pre + "b"].copy()
            if i == 0:
                if self.embed > 0:
                    _matvec(xp, p["wte"][x_id], p[pre + "W_ih"])
                else:  # one-hot input: the only nonzero term
                    xp += p[pre + "W_ih"][x_id]
                if e is not None:  # the category's part, summed on its own and added (as charsmith.model)
                    xp = xp + _matvec(np.zeros(xp.shape[0]), e, p["W_cat"])
            else:
                _matvec(xp, state[i - 1][0], p[pre + "W_ih"])
            state[i] = self._cell(p, pre, xp, state[i])
        return _matvec(p["b_out"].copy(), state[-1][0], p["W_out"])

    def _cell(self, p: dict[str, np.ndarray], pre: str, xp: np.ndarray, st: list[np.ndarray]) -> list[np.ndarray]:
        H = self.hidden
        gh = _matvec(np.zeros(xp.shape[0]), st[0], p[pre + "W_hh"])
        h = st[0]
        if self.cell == "rnn":
            return [np.tanh(xp + gh)]
        if self.cell == "gru":
            r = _sigmoid(xp[:H] + gh[:H])
            z = _sigmoid(xp[H : 2 * H] + gh[H : 2 * H])
            n = np.tanh(xp[2 * H :] + r * (gh[2 * H :] + p[pre + "b_hn"]))
            return [n + z * (h - n)]
        a = xp + gh  # lstm: [i | f | g | o]
        i_, f, o = _sigmoid(a[:H]), _sigmoid(a[H : 2 * H]), _sigmoid(a[3 * H :])
        g = np.tanh(a[2 * H : 3 * H])
        c = f * st[1] + i_ * g
        return [o * np.tanh(c), c]


# ----- novelty: the known set ----------------------------------------------------------------
def fnv1a32(text: str) -> int:
    """FNV-1a, 32 bits, of the UTF-8 bytes of ``text``."""
    h = 2166136261
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 16777619) & MASK32
    return h


def known_hashes(model: Any) -> np.ndarray:
    """The sorted, distinct uint32 FNV-1a hashes of the model's data set, as an export ships
    them. A checkpoint keeps only 64-bit BLAKE2b hashes of its items, not the items, so the
    items come from :func:`charsmith.export.with_known_items`; InputError if they did not."""
    hashes = model.ckpt.info.get(KNOWN_INFO_KEY)
    if hashes is None:
        raise InputError("`known` needs the training items: a checkpoint keeps only 64-bit BLAKE2b hashes of its "
                         "items, not the items; pass the training file as `known=FILE`", param="known")
    return np.asarray(hashes, dtype=np.uint32)


# ----- the generator: sample, score, complete -------------------------------------------------
class Generator:
    """What an exported generator offers, by the spec: the reference the targets are checked
    against. ``model`` is a :class:`charsmith.CharModel`; ``known`` the shipped hash set (or None)."""

    def __init__(self, model: Any, dtype: str = "float32", known: np.ndarray | None = None) -> None:
        self.net = Net.of(model, dtype)
        self.chars = model.ckpt.vocab.chars
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.lowercase = model.lowercase
        cats = model.ckpt.categories
        self.categories = [] if cats is None else list(cats.names)
        self.counts = [] if cats is None else list(cats.counts)
        self.known = None if known is None else np.asarray(known, dtype=np.uint32)

    def _ids(self, text: str, what: str) -> list[int]:
        text = text.lower() if self.lowercase else text
        missing = "".join(dict.fromkeys(c for c in text if c not in self.index or c == "\n"))
        if missing:
            raise InputError(f"{what} {text!r} has characters the model never saw: {missing!r}")
        return [self.index[c] for c in text]

    def condition(self, category: str | dict[str, float] | None) -> np.ndarray | None:
        """A category name or {name: weight} as normalised weights (K,); None for None."""
        if category is None:
            return None
        if not self.categories:
            raise CategoryError("this model has no categories")
        spec = {category: 1.0} if isinstance(category, str) else dict(category)
        w = np.zeros(len(self.categories))
        for name, weight in spec.items():
            if name not in self.categories:
                raise CategoryError(f"unknown category {name!r}")
            w[self.categories.index(name)] = weight
        return normalise_blend(w)

    def _prior(self, u: float) -> np.ndarray:
        """A one-hot category drawn from the training counts with u (inverse CDF, id order)."""
        total = float(sum(self.counts))
        target, run, k = u * total, 0.0, len(self.counts) - 1
        for i, c in enumerate(self.counts):
            run += c
            if c > 0 and run > target:
                k = i
                break
        w = np.zeros(len(self.counts))
        w[k] = 1.0
        return w

    def sample(self, n: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, prefix: str = "",
               min_len: int = DEFAULT_MIN_LEN, max_len: int = DEFAULT_MAX_LEN, category: Any = None,
               seed: int = 0, allow_known: bool = False, unique: bool = False) -> list[str]:
        """Up to ``n`` items, one at a time from one PRNG stream: for each try, (with categories
        and no ``category``, a category drawn from the priors with one u,) the end token and the
        prefix are fed, then one u per character until the end token. A try is abandoned past
        ``max_len`` characters, rejected below ``min_len``, when its hash is known, or (``unique``)
        when it was written before."""
        rng = Xoshiro128(seed)
        pre = self._ids(prefix, "prefix")
        prefix = "".join(self.chars[i] for i in pre)
        fixed = self.condition(category)
        out: list[str] = []
        for _ in range(max_tries(n)):
            if len(out) == n:
                break
            w = fixed if fixed is not None or not self.categories else self._prior(rng.uniform())
            e = self.net.category_vector(w)
            state = self.net.zero_state()
            for x in [0, *pre]:
                logits = self.net.step(x, state, e)
            ids: list[int] = []
            while True:
                x = draw(logits, rng.uniform(), temperature, top_k, top_p)
                if x == 0 or len(pre) + len(ids) >= max_len:
                    break
                ids.append(x)
                logits = self.net.step(x, state, e)
            if x != 0 or len(pre) + len(ids) < min_len:
                continue
            item = prefix + "".join(self.chars[i] for i in ids)
            if self.known is not None and not allow_known and _contains(self.known, fnv1a32(item)):
                continue
            if unique and item in out:
                continue
            out.append(item)
        return out

    def complete(self, prompt: str, length: int, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                 seed: int = 0) -> str:
        """Text models: ``prompt`` and ``length`` characters drawn after it (the end token is a newline)."""
        rng = Xoshiro128(seed)
        ids = self._ids(prompt, "prompt")
        state = self.net.zero_state()
        for x in [0, *ids]:
            logits = self.net.step(x, state, None)
        text = "".join(self.chars[i] for i in ids)
        for _ in range(length):
            x = draw(logits, rng.uniform(), temperature, top_k, top_p)
            text += self.chars[x]
            logits = self.net.step(x, state, None)
        return text

    def score(self, item: str, category: Any = None) -> float:
        """log P(item and its end token), natural log; with categories and no ``category``,
        under the mixture of the categories weighted by their training counts."""
        ids = self._ids(item, "item") + [0]
        if self.categories and category is None:
            logs = np.array([self._logprob(ids, np.eye(len(self.counts))[k]) for k in range(len(self.counts))])
            logs += np.log(np.asarray(self.counts, dtype=np.float64) / sum(self.counts))
            m = logs.max()
            return float(m + math.log(sum(math.exp(v - m) for v in logs)))
        return self._logprob(ids, self.condition(category))

    def _logprob(self, ids: list[int], w: np.ndarray | None) -> float:
        e = self.net.category_vector(w)
        state = self.net.zero_state()
        total, x = 0.0, 0
        for y in ids:
            logits = self.net.step(x, state, e)
            m = float(logits.max())
            total += float(logits[y]) - m - math.log(sum(math.exp(float(v) - m) for v in logits))
            x = y
        return total


def _contains(sorted_hashes: np.ndarray, h: int) -> bool:
    i = int(np.searchsorted(sorted_hashes, h))
    return i < sorted_hashes.size and int(sorted_hashes[i]) == h
