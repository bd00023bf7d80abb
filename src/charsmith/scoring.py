"""Log-likelihood of items and texts under a model: scoring and held-out evaluation.

Every character is scored given all the ones before it; in lines mode an item's score
includes its end token, so ``n_chars = len(item) + 1``. For a model with categories, an
item is scored given a condition (``cond``: its category id or weights), or under each
category (:func:`category_logliks`), or under the mixture of categories weighted by their
priors (:func:`mixture_scores`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from charsmith import kinds
from charsmith.data import encode_items, line_batches, text_windows
from charsmith.deadline import NEVER, Deadline
from charsmith.errors import InputError
from charsmith.kinds import AnyConfig as ModelConfig
from charsmith.limits import SCORE_POSITIONS, STEP_POSITIONS
from charsmith.vocab import Vocab

__all__ = ["EvalResult", "ItemScore", "category_logliks", "category_scores", "log_softmax_at", "mixture_scores",
           "score_items", "stream_loss", "summarize"]

LN2 = math.log(2)


@dataclass(frozen=True)
class ItemScore:
    """``logprob``: natural-log probability of the item and its end token; ``char_logprobs``:
    its ``n_chars`` terms, one per character and the last for the end token."""

    item: str
    logprob: float
    n_chars: int
    char_logprobs: tuple[float, ...] = ()

    @property
    def nats_per_char(self) -> float:
        return -self.logprob / self.n_chars

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / LN2


@dataclass(frozen=True)
class EvalResult:
    """Mean negative log-likelihood per character over ``n_chars`` predictions."""

    loss: float
    n_chars: int
    n_items: int

    @property
    def bits_per_char(self) -> float:
        return self.loss / LN2


def log_softmax_at(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log softmax(logits)[..., target] for logits (..., V) and integer targets (...)."""
    z = logits.astype(np.float64)
    zmax = z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z - zmax).sum(axis=-1)) + zmax[..., 0]  # (...)
    return np.take_along_axis(z, targets[..., None], axis=-1)[..., 0] - lse


def score_items(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], *,
    cond: np.ndarray | None = None, batch_size: int = 512, deadline: Deadline = NEVER,
) -> list[ItemScore]:
    """Score each item; characters outside the vocabulary raise InputError naming them.
    ``cond``: with categories, each item's condition, (N,) ids or (N, K) weights."""
    for item in items:
        missing = vocab.unknown(item)
        if missing:
            raise InputError(f"item {item!r} has characters the model never saw: {missing!r}", param="items")
    kind = kinds.of(cfg)
    seqs = encode_items(vocab, items)
    conds = None if cond is None else np.asarray(cond)
    scores: list[ItemScore] = []
    for start, stop in _spans([len(q) for q in seqs], batch_size):
        deadline.check()
        batch = next(line_batches(seqs[start:stop], stop - start, None))
        c = None if conds is None else conds[start:stop]
        B, T = batch.ids.shape
        lp = np.zeros((B, T))
        state = kind.new_state(params, cfg, B)
        width = max(STEP_POSITIONS // B, 1)  # columns per forward call, the state carried: the time limit is
        for t in range(0, T, width):  # checked within a long item too
            deadline.check()
            logits, state, _ = kind.forward(params, cfg, batch.ids[:, t:t + width], state, cond=c)
            lp[:, t:t + width] = log_softmax_at(logits, batch.targets[:, t:t + width]) * batch.mask[:, t:t + width]
        for s, row in zip(items[start:stop], lp):
            scores.append(ItemScore(s, float(row.sum()), len(s) + 1, tuple(row[: len(s) + 1].tolist())))
    return scores


def _spans(lengths: Sequence[int], batch_size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive batches of at most ``batch_size`` items whose padded size
    (rows x longest) stays within SCORE_POSITIONS, so that a long item gets a small batch
    (at least one item a batch)."""
    start = 0
    while start < len(lengths):
        stop, longest = start, 0
        while stop < len(lengths) and stop - start < batch_size:
            longest_next = max(longest, lengths[stop])
            if stop > start and (stop - start + 1) * longest_next > SCORE_POSITIONS:
                break
            longest, stop = longest_next, stop + 1
        yield start, stop
        start = stop


def category_scores(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], *,
    deadline: Deadline = NEVER,
) -> list[list[ItemScore]]:
    """Each item scored under each of the model's K categories: N lists of K scores."""
    K = cfg.categories
    repeated = [s for s in items for _ in range(K)]  # each item K times, once under each category
    scores = score_items(params, cfg, vocab, repeated, cond=np.tile(np.arange(K), len(items)), deadline=deadline)
    return [scores[i * K : (i + 1) * K] for i in range(len(items))]


def category_logliks(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], *,
    deadline: Deadline = NEVER,
) -> np.ndarray:
    """(N, K) log P(item | category k) under a model with K categories."""
    per_item = category_scores(params, cfg, vocab, items, deadline=deadline)
    return np.array([[s.logprob for s in row] for row in per_item]).reshape(len(items), cfg.categories)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    """log sum exp over axis 0."""
    zmax = z.max(axis=0)
    return np.log(np.exp(z - zmax).sum(axis=0)) + zmax


def mixture_scores(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], log_prior: np.ndarray, *,
    deadline: Deadline = NEVER,
) -> list[ItemScore]:
    """Each item under the mixture of the categories weighted by their priors pi (summing to
    1), the model's likelihood when the category is not known: log P(item) = log sum_k pi_k
    P(item | k). The per-character terms are exact too: character t's is log P(x_1..x_t) -
    log P(x_1..x_t-1) under the mixture (the categories reweighed by the prefix so far)."""
    out = []
    for item, row in zip(items, category_scores(params, cfg, vocab, items, deadline=deadline), strict=True):
        joint = np.cumsum([s.char_logprobs for s in row], axis=1) + log_prior[:, None]  # (K, n) log P(x_<=t, k)
        prefix = _logsumexp(joint)  # (n,) log P(x_<=t)
        terms = np.diff(prefix, prepend=0.0)  # log P(x_<=0) = log sum pi = 0
        out.append(ItemScore(item, float(prefix[-1]), len(item) + 1, tuple(terms.tolist())))
    return out


def lines_loss(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], *,
    cond: np.ndarray | None = None,
) -> EvalResult:
    """Mean NLL per character (end tokens included) over ``items`` (``cond`` as for :func:`score_items`)."""
    return summarize(score_items(params, cfg, vocab, items, cond=cond))


def summarize(scores: Sequence[ItemScore]) -> EvalResult:
    """The mean NLL per character of scored items."""
    n = sum(s.n_chars for s in scores)
    return EvalResult(-sum(s.logprob for s in scores) / max(n, 1), n, len(scores))


EVAL_ROWS = 32  # rows a stream is read in when scored


def stream_loss(
    params: dict[str, np.ndarray], cfg: ModelConfig, ids: np.ndarray, *, batch_size: int = EVAL_ROWS, seq_len: int = 256,
    max_chars: int = 0, deadline: Deadline = NEVER,
) -> EvalResult:
    """Mean NLL per character of a stream read as ``batch_size`` rows with the state carried
    across windows (each row starts from a zero state). ``max_chars`` (0: all) reads only
    the head of each row, about that many characters in all: a fixed sample of the stream."""
    kind = kinds.of(cfg)
    total, count, state = 0.0, 0, None
    for batch in text_windows(ids, batch_size, seq_len, max_chars=max_chars):
        deadline.check()
        if state is None:
            state = kind.new_state(params, cfg, len(batch.ids))
        logits, state, _ = kind.forward(params, cfg, batch.ids, state)
        total -= float(log_softmax_at(logits, batch.targets).sum())
        count += batch.targets.size
    return EvalResult(total / max(count, 1), count, 1)
