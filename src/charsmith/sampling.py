"""Writing new items: batched sampling with temperature, top-k and top-p, greedy and
beam decoding, prefixes and prompts, and the novelty filter.

All randomness comes from the ``numpy.random.Generator`` passed in, so a seed gives the
same output every time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from charsmith import model as M
from charsmith.config import ModelConfig
from charsmith.data import is_known
from charsmith.vocab import END, Vocab

__all__ = ["SampleResult", "beam_search", "complete", "draw", "generate", "next_probs", "sample_items"]

Params = dict[str, np.ndarray]


def _check_controls(temperature: float, top_k: int, top_p: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 1 (or 0 for no limit), got {top_k}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")


def next_probs(logits: np.ndarray, *, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """Next-character distribution (B, V) from logits (B, V) after temperature, then top-k,
    then top-p (nucleus) filtering. ``top_k=0`` and ``top_p=1`` disable the filters."""
    z = logits.astype(np.float64) / temperature
    if 0 < top_k < z.shape[1]:
        kth = np.partition(z, -top_k, axis=1)[:, -top_k, None]  # (B, 1) k-th largest logit
        z = np.where(z >= kth, z, -np.inf)
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-p, axis=1)
        sorted_p = np.take_along_axis(p, order, axis=1)
        drop_sorted = np.cumsum(sorted_p, axis=1) - sorted_p >= top_p - 1e-9  # mass before it covers top_p
        drop = np.zeros_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=1)
        p[drop] = 0.0
        p /= p.sum(axis=1, keepdims=True)
    return p


def draw(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One index per row of the distributions ``p`` (B, V), by inverting the CDF."""
    cdf = np.cumsum(p, axis=1)
    u = rng.random((p.shape[0], 1)) * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), p.shape[1] - 1)


def _select(state: M.State, rows: np.ndarray) -> M.State:
    return tuple(tuple(s[rows] for s in layer) for layer in state)


def _prime(params: Params, cfg: ModelConfig, ids: np.ndarray, batch: int) -> tuple[np.ndarray, M.State]:
    """Feed ``ids`` (all but the last) to a zero state; return the last id repeated and the
    state, both for ``batch`` rows."""
    dtype = next(iter(params.values())).dtype
    state = M.init_state(cfg, 1, dtype)
    for i in ids[:-1]:
        _, state = M.step(params, cfg, np.array([i]), state)
    state = tuple(tuple(np.repeat(s, batch, axis=0) for s in layer) for layer in state)
    return np.full(batch, ids[-1], dtype=np.int64), state


def _encode_prefix(vocab: Vocab, prefix: str) -> np.ndarray:
    missing = vocab.unknown(prefix)
    if missing:
        raise ValueError(f"the prefix has characters the model never saw: {missing!r}; use only {vocab.chars[1:]!r}")
    return vocab.encode(prefix)


def sample_items(
    params: Params, cfg: ModelConfig, vocab: Vocab, n: int, rng: np.random.Generator | None, *,
    temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, prefix: str = "", max_len: int = 50,
    min_len: int = 0,
) -> list[str]:
    """``n`` items drawn together, each ending at its end token or at ``max_len`` characters
    (prefix included). ``rng=None`` decodes greedily. ``min_len`` forbids ending sooner;
    an item is never empty."""
    _check_controls(temperature, top_k, top_p)
    min_len = max(min_len, 1)
    if max_len < max(len(prefix), 1):
        raise ValueError(f"max_len must be at least the prefix length and >= 1, got {max_len}")
    end = vocab.index(END)
    x, state = _prime(params, cfg, np.concatenate(([end], _encode_prefix(vocab, prefix))), n)
    out = np.full((n, max_len - len(prefix)), end, dtype=np.int64)  # generated ids after the prefix
    rows = np.arange(n)  # which output row each live batch row writes to
    for t in range(out.shape[1]):
        logits, state = M.step(params, cfg, x, state, check=t == 0)  # (b, V); validate once
        if len(prefix) + t < min_len:
            logits[:, end] = -np.inf
        if rng is None:
            x = logits.argmax(axis=1)
        else:
            x = draw(next_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p), rng)
        out[rows, t] = x
        live = x != end
        if not live.all():
            rows, x, state = rows[live], x[live], _select(state, np.flatnonzero(live))
            if rows.size == 0:
                break
    is_end = out == end
    lengths = np.where(is_end.any(axis=1), is_end.argmax(axis=1), out.shape[1])  # (n,) ids before the end
    return [prefix + s for s in vocab.decode_rows(out, lengths)]


@dataclass(frozen=True)
class SampleResult:
    """Accepted samples and what was dropped on the way.

    drawn: items generated in all; dropped_known: in the training set; dropped_duplicate:
    repeats (with ``unique``); short: fewer than asked could be found within the attempts.
    """

    samples: list[str]
    drawn: int
    dropped_known: int
    dropped_duplicate: int

    def short_by(self, n: int) -> int:
        return max(n - len(self.samples), 0)


def generate(
    params: Params, cfg: ModelConfig, vocab: Vocab, n: int, rng: np.random.Generator, *,
    known: np.ndarray | None = None, unique: bool = False, max_draws: int | None = None, **controls: object,
) -> SampleResult:
    """``n`` novel items (not in ``known``, the training set's hashes), drawn in batches until
    found or ``max_draws`` (default 50 n) have been tried. Other keywords go to ``sample_items``."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    max_draws = max_draws or 50 * n + 100
    samples: list[str] = []
    seen: set[str] = set()
    drawn = dropped_known = dropped_dup = 0
    while len(samples) < n and drawn < max_draws:
        want = n - len(samples)
        batch = sample_items(params, cfg, vocab, min(max(2 * want, 16), max_draws - drawn), rng, **controls)  # type: ignore[arg-type]
        drawn += len(batch)
        old = is_known(batch, known) if known is not None else np.zeros(len(batch), dtype=bool)
        for item, is_old in zip(batch, old):
            if is_old:
                dropped_known += 1
            elif unique and item in seen:
                dropped_dup += 1
            elif len(samples) < n:
                samples.append(item)
                seen.add(item)
    return SampleResult(samples, drawn, dropped_known, dropped_dup)


def complete(
    params: Params, cfg: ModelConfig, vocab: Vocab, prompt: str, length: int, rng: np.random.Generator | None, *,
    n: int = 1, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
) -> list[str]:
    """Text mode: ``n`` continuations of ``prompt``, each ``length`` new characters long
    (the prompt is included in the result). ``rng=None`` decodes greedily."""
    _check_controls(temperature, top_k, top_p)
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    x, state = _prime(params, cfg, np.concatenate(([vocab.index(END)], _encode_prefix(vocab, prompt))), n)
    out = np.empty((n, length), dtype=np.int64)
    for t in range(length):
        logits, state = M.step(params, cfg, x, state, check=t == 0)
        x = logits.argmax(axis=1) if rng is None else draw(next_probs(logits, temperature=temperature, top_k=top_k, top_p=top_p), rng)
        out[:, t] = x
    return [prompt + s for s in vocab.decode_rows(out, np.full(n, length))]


def beam_search(
    params: Params, cfg: ModelConfig, vocab: Vocab, beam: int, *, prefix: str = "", max_len: int = 50,
    min_len: int = 0, n: int | None = None, exclude: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> list[tuple[str, float]]:
    """The ``n`` (default ``beam``) most likely complete items found by beam search of width
    ``beam``, as (item, log-probability including the end token), best first.

    ``exclude(items) -> bool array`` rejects finished items (e.g. the training set), so the
    search returns the most likely items that pass it.
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    n = n or beam
    min_len = max(min_len, 1)
    end = vocab.index(END)
    x, state = _prime(params, cfg, np.concatenate(([end], _encode_prefix(vocab, prefix))), 1)
    alive_ids = np.zeros((1, 0), dtype=np.int64)  # (K, t) ids generated so far per beam
    alive_lp = np.zeros(1)
    finished: list[tuple[str, float]] = []
    for t in range(max_len - len(prefix)):
        logits, state = M.step(params, cfg, x, state)
        z = logits.astype(np.float64)
        logp = z - (np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1))[:, None]  # (K, V)
        cand = alive_lp[:, None] + logp
        if len(prefix) + t >= min_len:
            texts = [prefix + vocab.decode(ids) for ids in alive_ids]
            ok = ~exclude(texts) if exclude is not None else np.ones(len(texts), dtype=bool)
            finished += [(s, float(lp)) for s, lp, good in zip(texts, cand[:, end], ok) if good]
        cand[:, end] = -np.inf
        flat = np.argsort(-cand, axis=None)[:beam]
        k, v = np.unravel_index(flat, cand.shape)
        keep = np.isfinite(cand[k, v])
        k, v = k[keep], v[keep]
        if k.size == 0:
            break
        alive_ids = np.concatenate([alive_ids[k], v[:, None]], axis=1)
        alive_lp, x, state = cand[k, v], v, _select(state, k)
        finished.sort(key=lambda f: -f[1])
        if len(finished) >= n and finished[n - 1][1] >= alive_lp.max():
            break  # log-probabilities only fall as items grow: nothing alive can overtake
    finished.sort(key=lambda f: -f[1])
    return finished[:n]
