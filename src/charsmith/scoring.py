"""Log-likelihood of items and texts under a model: scoring and held-out evaluation.

Every character is scored given all the ones before it; in lines mode an item's score
includes its end token, so ``n_chars = len(item) + 1``. For a model with categories, an
item is scored given a condition (``cond``: its category id or weights), or under each
category (:func:`category_logliks`), or under the mixture of categories weighted by their
priors (:func:`mixture_scores`).

Given an ``unknown_mass`` u > 0, characters the model never saw are scored too (see
:mod:`charsmith.openvocab`): each costs log(u / OUTSIDE), every known symbol log(1 - u) on
top of its softmax term, and the next character is read from a stand-in. With u = 0 (the
trainer's validation) an unknown character is an InputError.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from charsmith import kinds
from charsmith._batching import pad_batch, text_windows
from charsmith._deadline import NEVER, Deadline
from charsmith.errors import InputError
from charsmith.kinds import AnyConfig as ModelConfig
from charsmith.limits import SCORE_POSITIONS, STEP_POSITIONS
from charsmith.openvocab import encode_open, unknown_logprob
from charsmith.vocab import END, Vocab

__all__ = ["EvalResult", "ItemScore", "score_items", "stream_loss", "summarize"]

LN2 = math.log(2)


@dataclass(frozen=True)
class ItemScore:
    """``logprob``: natural-log probability of the item and its end token; ``char_logprobs``:
    its ``n_chars`` terms, one per character and the last for the end token;
    ``unknown_chars``: how many of its characters the model never saw."""

    item: str
    logprob: float
    n_chars: int
    char_logprobs: tuple[float, ...] = ()
    unknown_chars: int = 0

    @property
    def nats_per_char(self) -> float:
        return -self.logprob / self.n_chars

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / LN2

    def to_json(self) -> dict[str, Any]:
        """The score as a JSON object (``charsmith score --json``), without the per-character terms."""
        return {"item": self.item, "logprob": self.logprob, "nats_per_char": self.nats_per_char,
                "bits_per_char": self.bits_per_char, "n_chars": self.n_chars, "unknown_chars": self.unknown_chars}


@dataclass(frozen=True)
class EvalResult:
    """Mean negative log-likelihood per character over ``n_chars`` predictions of ``n_items``
    items (lines) or a stream (text, ``n_items`` = 1) whose characters the model all knows,
    comparable with other models' figures. What holds characters it never saw is reported
    apart: ``unknown_chars`` counts them; in lines mode ``unknown`` is the EvalResult of the
    items holding them (every character counted, the unknown ones at log(u / OUTSIDE)), None
    when there are none; in text mode the predictions of unknown characters are left out of
    ``loss`` (each would cost the same log(u / OUTSIDE))."""

    loss: float
    n_chars: int
    n_items: int
    unknown: EvalResult | None = None
    unknown_chars: int = 0

    @property
    def bits_per_char(self) -> float:
        return self.loss / LN2

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (``charsmith eval --json``); ``with_unknown``: the
        figures of the items holding unknown characters (null if none)."""
        apart = self.unknown
        return {"loss": self.loss, "bits_per_char": self.bits_per_char, "n_chars": self.n_chars, "n_items": self.n_items,
                "unknown_chars": self.unknown_chars,
                "with_unknown": None if apart is None else {"loss": apart.loss, "bits_per_char": apart.bits_per_char,
                                                            "n_chars": apart.n_chars, "n_items": apart.n_items}}


def log_softmax_at(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """log softmax(logits)[..., target] for logits (..., V) and integer targets (...)."""
    z = logits.astype(np.float64)
    zmax = z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z - zmax).sum(axis=-1)) + zmax[..., 0]  # (...)
    return np.take_along_axis(z, targets[..., None], axis=-1)[..., 0] - lse


def score_items(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], *,
    cond: np.ndarray | None = None, batch_size: int = 512, deadline: Deadline = NEVER, unknown_mass: float = 0.0,
) -> list[ItemScore]:
    """Score each item. ``cond``: with categories, each item's condition, (N,) ids or (N, K)
    weights. ``unknown_mass``: u of the unknown class (module docstring); with 0, characters
    outside the vocabulary raise InputError naming them. The items are batched shortest
    first (batches of like lengths pad less: half the time on makemore's names), and the
    scores come back in the items' order."""
    if not unknown_mass:
        for item in items:
            missing = vocab.unknown(item)
            if missing:
                raise InputError(f"item {item!r} has characters the model never saw: {missing!r}", param="items")
    known_lp = math.log1p(-unknown_mass)  # log(1 - u), added to every known symbol's term
    unknown_lp = unknown_logprob(unknown_mass) if unknown_mass else 0.0
    kind = kinds.of(cfg)
    end = np.array([vocab.index(END)])
    order = sorted(range(len(items)), key=lambda i: len(items[i]))
    items = [items[i] for i in order]
    coded = [encode_open(vocab, s) for s in items]  # (targets, inputs) per item
    conds = None if cond is None else np.asarray(cond)[order]
    scores: list[ItemScore] = []
    for start, stop in _spans([len(t) + 2 for t, _ in coded], batch_size):
        deadline.check()
        part = coded[start:stop]
        batch = pad_batch([np.concatenate((end, t, end)) for t, _ in part])  # targets: -1 for unknown characters
        ids = pad_batch([np.concatenate((end, x, end)) for _, x in part]).ids  # inputs: their stand-ins
        c = None if conds is None else conds[start:stop]
        B, T = ids.shape
        lp = np.zeros((B, T))
        state = kind.new_state(params, cfg, B)
        width = max(STEP_POSITIONS // B, 1)  # columns per forward call, the state carried: the time limit is
        for t in range(0, T, width):  # checked within a long item too
            deadline.check()
            logits, state, _ = kind.forward(params, cfg, ids[:, t:t + width], state, cond=c)
            lp[:, t:t + width] = log_softmax_at(logits, np.maximum(batch.targets[:, t:t + width], 0))
        unknown = batch.targets < 0  # (B, T)
        lp = np.where(unknown, unknown_lp, lp + known_lp) * batch.mask
        for s, row, u in zip(items[start:stop], lp, unknown.sum(axis=1)):
            scores.append(ItemScore(s, float(row.sum()), len(s) + 1, tuple(row[: len(s) + 1].tolist()), int(u)))
    return [score for _, score in sorted(zip(order, scores), key=lambda pair: pair[0])]


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
    deadline: Deadline = NEVER, unknown_mass: float = 0.0,
) -> list[list[ItemScore]]:
    """Each item scored under each of the model's K categories: N lists of K scores."""
    K = cfg.categories
    repeated = [s for s in items for _ in range(K)]  # each item K times, once under each category
    scores = score_items(params, cfg, vocab, repeated, cond=np.tile(np.arange(K), len(items)), deadline=deadline,
                         unknown_mass=unknown_mass)
    return [scores[i * K : (i + 1) * K] for i in range(len(items))]


def category_logliks(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], *,
    deadline: Deadline = NEVER, unknown_mass: float = 0.0,
) -> np.ndarray:
    """(N, K) log P(item | category k) under a model with K categories. An unknown character
    adds the same log(u / OUTSIDE) to every category's."""
    per_item = category_scores(params, cfg, vocab, items, deadline=deadline, unknown_mass=unknown_mass)
    return np.array([[s.logprob for s in row] for row in per_item]).reshape(len(items), cfg.categories)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    """log sum exp over axis 0."""
    zmax = z.max(axis=0)
    return np.log(np.exp(z - zmax).sum(axis=0)) + zmax


def mixture_scores(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], log_prior: np.ndarray, *,
    deadline: Deadline = NEVER, unknown_mass: float = 0.0,
) -> list[ItemScore]:
    """Each item under the mixture of the categories weighted by their priors pi (summing to
    1), the model's likelihood when the category is not known: log P(item) = log sum_k pi_k
    P(item | k). The per-character terms are exact too: character t's is log P(x_1..x_t) -
    log P(x_1..x_t-1) under the mixture (the categories reweighed by the prefix so far)."""
    out = []
    per_item = category_scores(params, cfg, vocab, items, deadline=deadline, unknown_mass=unknown_mass)
    for item, row in zip(items, per_item, strict=True):
        joint = np.cumsum([s.char_logprobs for s in row], axis=1) + log_prior[:, None]  # (K, n) log P(x_<=t, k)
        prefix = _logsumexp(joint)  # (n,) log P(x_<=t)
        terms = np.diff(prefix, prepend=0.0)  # log P(x_<=0) = log sum pi = 0
        out.append(ItemScore(item, float(prefix[-1]), len(item) + 1, tuple(terms.tolist()), row[0].unknown_chars))
    return out


def lines_loss(
    params: dict[str, np.ndarray], cfg: ModelConfig, vocab: Vocab, items: Sequence[str], *,
    cond: np.ndarray | None = None,
) -> EvalResult:
    """Mean NLL per character (end tokens included) over ``items`` (``cond`` as for :func:`score_items`)."""
    return summarize(score_items(params, cfg, vocab, items, cond=cond))


def summarize(scores: Sequence[ItemScore]) -> EvalResult:
    """The mean NLL per character of scored items: of those the model knows every character
    of, and apart (``unknown``) of those holding characters it never saw."""
    known = [s for s in scores if not s.unknown_chars]
    others = [s for s in scores if s.unknown_chars]
    return dataclasses.replace(_mean(known), unknown=_mean(others) if others else None,
                               unknown_chars=sum(s.unknown_chars for s in others))


def _mean(scores: Sequence[ItemScore]) -> EvalResult:
    n = sum(s.n_chars for s in scores)
    return EvalResult(-sum(s.logprob for s in scores) / max(n, 1), n, len(scores))


EVAL_ROWS = 32  # rows a stream is read in when scored


def stream_loss(
    params: dict[str, np.ndarray], cfg: ModelConfig, ids: np.ndarray, *, batch_size: int = EVAL_ROWS, seq_len: int = 256,
    max_chars: int = 0, deadline: Deadline = NEVER, inputs: np.ndarray | None = None, unknown_mass: float = 0.0,
) -> EvalResult:
    """Mean NLL per character of a stream read as ``batch_size`` rows with the state carried
    across windows (each row starts from a zero state). ``max_chars`` (0: all) reads only
    the head of each row, about that many characters in all: a fixed sample of the stream.
    A stream with unknown characters (-1 in ``ids``, their stand-ins in ``inputs``, see
    :func:`charsmith.openvocab.encode_open`) needs ``unknown_mass``: the known predictions
    are scored with log(1 - u) added, the unknown ones counted apart."""
    kind = kinds.of(cfg)
    known_lp = math.log1p(-unknown_mass)
    total, count, unknown, state = 0.0, 0, 0, None
    windows = text_windows(ids, batch_size, seq_len, max_chars=max_chars)
    reads = text_windows(ids if inputs is None else inputs, batch_size, seq_len, max_chars=max_chars)
    for batch, read in zip(windows, reads, strict=True):
        deadline.check()
        if state is None:
            state = kind.new_state(params, cfg, len(batch.ids))
        logits, state, _ = kind.forward(params, cfg, read.ids, state)
        known = batch.targets >= 0
        total -= float((log_softmax_at(logits, np.maximum(batch.targets, 0)) + known_lp)[known].sum())
        count += int(known.sum())
        unknown += batch.targets.size - int(known.sum())
    return EvalResult(total / max(count, 1), count, 1, unknown_chars=unknown)
