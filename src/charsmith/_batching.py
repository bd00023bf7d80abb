"""Batches: padded items (lines mode) and windows of parallel rows (text mode).

- lines: items are batched by similar length, padded, and masked.
- text: the stream is cut into ``B`` parallel rows read in windows of ``seq_len``
  characters, with the hidden state carried from window to window (truncated
  back-propagation through time, as char-rnn and min-char-rnn do).

Training reads batches from :class:`TrainBatches`, whose order depends only on the seed and
the epoch, so a position ``(epoch, index)`` is all a resumed run needs to continue exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from charsmith.vocab import END, Vocab

__all__ = ["Batch", "LineBatches", "TextBatches", "TrainBatches", "encode_items", "line_batch_plan", "line_batches",
           "pad_batch", "seeded_rng", "text_layout", "text_windows"]

@dataclass(frozen=True)
class Batch:
    """ids (B, T) inputs, targets (B, T), mask (B, T) float: 1 where a target is real;
    cats (B,) each row's category id, for labelled items (else None); total: when the
    batch is one process's share of a global batch (its part of ``np.array_split`` of the
    global batch's ``rows`` rows, or one masked-out row when that part is empty), the
    global batch's real targets (0: this batch's own, ``n_chars``)."""

    ids: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    cats: np.ndarray | None = None
    total: int = 0
    rows: int = 0  # with total: the global batch's rows, of which this batch holds its share

    @property
    def n_chars(self) -> int:
        return int(self.mask.sum())


def encode_items(vocab: Vocab, items: Sequence[str]) -> list[np.ndarray]:
    """Each item as ids ``[END, c1, ..., cn, END]``: input is [:-1], target is [1:].

    All items are encoded in one call, as ``END + END.join(items) + END``, and each is a
    view of that array from the END before it to the END after it (a million items take
    seconds, not minutes)."""
    if not items:
        return []
    ids = vocab.encode(END + END.join(items) + END)
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    starts = np.cumsum(lengths + 1) - (lengths + 1)
    return [ids[a : a + n + 2] for a, n in zip(starts.tolist(), lengths.tolist())]


def pad_batch(seqs: Sequence[np.ndarray], dtype: type = np.float32, cats: np.ndarray | None = None,
              width: int = 0) -> Batch:
    """Pad encoded items into one batch, ``width`` columns at least; padding targets are
    masked out. ``cats``: their categories."""
    T = max(max(len(s) for s in seqs) - 1, width)
    ids = np.zeros((len(seqs), T), dtype=np.int64)
    targets = np.zeros((len(seqs), T), dtype=np.int64)
    mask: np.ndarray = np.zeros((len(seqs), T), dtype=dtype)
    for row, s in enumerate(seqs):
        n = len(s) - 1
        ids[row, :n] = s[:-1]
        targets[row, :n] = s[1:]
        mask[row, :n] = 1
    return Batch(ids, targets, mask, cats)


def line_batch_plan(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator | None, *, bucket: int = 16
) -> list[np.ndarray]:
    """The item indices of each batch of one epoch. With ``rng``: shuffled, then grouped so
    each batch holds items of similar length (sorted inside windows of ``bucket`` batches),
    batches in random order; without: in order."""
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    if rng is not None:
        window = batch_size * bucket
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            order[start : start + window] = chunk[np.argsort(lengths[chunk], kind="stable")]
    starts = list(range(0, len(order), batch_size))
    if rng is not None:
        starts = [starts[i] for i in rng.permutation(len(starts))]
    return [order[start : start + batch_size] for start in starts]


def line_batches(
    seqs: Sequence[np.ndarray], batch_size: int, rng: np.random.Generator | None, *, bucket: int = 16,
    cats: np.ndarray | None = None,
) -> Iterator[Batch]:
    """One epoch of padded batches in the order of :func:`line_batch_plan`. ``cats`` (N,):
    each item's category, carried into the batches."""
    lengths = np.array([len(s) for s in seqs])
    for rows in line_batch_plan(lengths, batch_size, rng, bucket=bucket):
        yield pad_batch([seqs[i] for i in rows], cats=None if cats is None else cats[rows])


def text_layout(n: int, batch_size: int, seq_len: int, max_chars: int = 0) -> tuple[int, int]:
    """(rows, characters read per row) when :func:`text_windows` reads a stream of ``n`` ids,
    all of it or (``max_chars`` > 0) about ``max_chars`` characters in all."""
    rows = min(batch_size, max((n - 1) // max(seq_len, 1), 1))
    per_row = max(n - 1, 0) // rows
    return rows, min(per_row, max(max_chars // rows, 1)) if max_chars else per_row


def _rows(ids: np.ndarray, batch_size: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of a stream as parallel rows: views x, y (B, L) with y = x shifted by one."""
    rows, per_row = text_layout(len(ids), batch_size, seq_len)
    return ids[: rows * per_row].reshape(rows, per_row), ids[1 : rows * per_row + 1].reshape(rows, per_row)


def _window(x: np.ndarray, y: np.ndarray, start: int, stop: int) -> Batch:
    xs = np.ascontiguousarray(x[:, start:stop], dtype=np.int64)
    return Batch(xs, np.ascontiguousarray(y[:, start:stop], dtype=np.int64), np.ones(xs.shape, dtype=np.float32))


def text_windows(
    ids: np.ndarray, batch_size: int, seq_len: int, *, offset: int = 0, max_chars: int = 0
) -> Iterator[Batch]:
    """One pass over a stream as ``batch_size`` parallel rows in windows of ``seq_len``.

    Row b reads a contiguous slice of the stream, so the state a window ends with is the
    right start for the same row of the next window. ``offset`` shifts where rows start
    (vary it per epoch so windows do not always cut at the same places). ``max_chars``
    (0: no limit) reads only the head of each row, about that many characters in all: a
    fixed sample spread over the stream.
    """
    ids = ids[offset:]
    x, y = _rows(ids, batch_size, seq_len)
    _, span = text_layout(len(ids), batch_size, seq_len, max_chars)
    for p in range(0, span, seq_len):
        yield _window(x, y, p, min(p + seq_len, span))


def _empty_share(rows: int, total: int, labelled: bool, width: int = 1) -> Batch:
    """A process's share of a global batch too small to give it a row: one masked-out row."""
    ids = np.full((1, width), -1, dtype=np.int64)
    cats = np.zeros(1, dtype=np.int64) if labelled else None
    return Batch(ids, np.zeros((1, width), dtype=np.int64), np.zeros((1, width), dtype=np.float32), cats, total, rows)


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``key``: a run draws each of its random
    streams (data order, dropout, previews) this way, so no generator state need be saved."""
    return np.random.default_rng((seed, *key))


class TrainBatches:
    """Endless training batches, in an order fixed by the seed alone: :class:`LineBatches`
    or :class:`TextBatches` (a corpus makes its own, ``Corpus.batches``).

    Epoch ``e`` is shuffled (lines) or offset (text) by ``seeded_rng(seed, DATA_STREAM, e)``,
    so ``position`` = (epoch, index of the next batch) is all a resumed run needs. ``next``
    returns (batch, fresh): fresh is True where the hidden state must start from zero
    (every lines batch; the first window of each text epoch). ``part`` = (rank, world):
    each batch is process ``rank``'s share of the global batch (see :class:`Batch`), and
    only its rows are read.
    """

    DATA_STREAM = 0

    def __init__(self, batch_size: int, seed: int, *, position: tuple[int, int] = (0, 0),
                 part: tuple[int, int] = (0, 1)) -> None:  # fmt: skip
        self.batch_size, self.seed, self.part = batch_size, seed, part
        self.epoch, self.index = position
        self._plan_epoch = -1
        self._plan: list[Any] = []

    @property
    def position(self) -> tuple[int, int]:
        return self.epoch, self.index

    @position.setter
    def position(self, position: tuple[int, int]) -> None:  # where a resumed run continues
        self.epoch, self.index = position

    def __iter__(self) -> TrainBatches:
        return self

    def __next__(self) -> tuple[Batch, bool]:
        while self.index >= len(self._epoch_plan()):
            self.epoch, self.index = self.epoch + 1, 0
        step, first = self._plan[self.index], self.index == 0
        self.index += 1
        return self._batch(step, first)

    def _epoch_plan(self) -> list[Any]:
        if self._plan_epoch != self.epoch:
            self._plan = self._new_plan(seeded_rng(self.seed, self.DATA_STREAM, self.epoch))
            self._plan_epoch = self.epoch
        return self._plan

    def _new_plan(self, rng: np.random.Generator) -> list[Any]:
        """An epoch's batches, drawn with ``rng``."""
        raise NotImplementedError

    def _batch(self, step: Any, first: bool) -> tuple[Batch, bool]:
        """The batch ``step`` of the plan (``first``: of its epoch), and whether it is fresh."""
        raise NotImplementedError


class LineBatches(TrainBatches):
    """Padded items of similar length (:func:`line_batch_plan`); ``cats`` (N,): each item's
    category, carried into the batches.

    ``balance`` > 0 (labelled items): an epoch is as many items drawn with replacement, item
    i of category c with probability prop. to n_c ** -balance, so category c's share of the
    batches is prop. to n_c ** (1 - balance) (1: every category equally often).
    """

    def __init__(self, vocab: Vocab, items: Sequence[str], cats: np.ndarray | None, batch_size: int, seed: int, *,
                 position: tuple[int, int] = (0, 0), part: tuple[int, int] = (0, 1),
                 balance: float = 0.0) -> None:  # fmt: skip
        super().__init__(batch_size, seed, position=position, part=part)
        self.cats = cats
        self._draw: np.ndarray | None = None  # per-item draw probabilities of a balanced epoch
        if balance and cats is not None:
            n_c = np.bincount(cats).astype(np.float64)
            w = n_c[cats] ** -balance
            self._draw = w / w.sum()
        self._seqs = encode_items(vocab, items)
        self._lengths = np.array([len(s) for s in self._seqs])

    def _new_plan(self, rng: np.random.Generator) -> list[Any]:
        """Item indices, each batch's."""
        if self._draw is None:
            return line_batch_plan(self._lengths, self.batch_size, rng)
        drawn = rng.choice(len(self._draw), size=len(self._draw), p=self._draw)
        return [drawn[b] for b in line_batch_plan(self._lengths[drawn], self.batch_size, rng)]

    def _batch(self, step: Any, first: bool) -> tuple[Batch, bool]:
        rank, world = self.part
        cats = self.cats
        if world == 1:
            return pad_batch([self._seqs[i] for i in step], cats=None if cats is None else cats[step]), True
        mine = np.array_split(step, world)[rank]
        total = int(self._lengths[step].sum()) - len(step)  # targets: an item's letters and its end
        if not len(mine):
            return _empty_share(len(step), total, cats is not None, int(self._lengths[step].max()) - 1), True
        share = pad_batch([self._seqs[i] for i in mine], cats=None if cats is None else cats[mine],
                          width=int(self._lengths[step].max()) - 1)  # as wide as the global batch
        return dataclasses.replace(share, total=total, rows=len(step)), True


class TextBatches(TrainBatches):
    """Windows of ``seq_len`` over parallel rows of the stream ``ids`` (:func:`text_windows`),
    the rows' start offset drawn anew each epoch."""

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, seed: int, *,
                 position: tuple[int, int] = (0, 0), part: tuple[int, int] = (0, 1)) -> None:  # fmt: skip
        super().__init__(batch_size, seed, position=position, part=part)
        self.ids, self.seq_len = ids, seq_len
        self._rows = (np.empty((0, 0)), np.empty((0, 0)))  # this epoch's x, y as parallel rows

    def _new_plan(self, rng: np.random.Generator) -> list[Any]:
        """Window start columns in ``_rows``."""
        offset = int(rng.integers(0, min(self.seq_len, max(len(self.ids) - 2, 1))))
        self._rows = _rows(self.ids[offset:], self.batch_size, self.seq_len)
        return list(range(0, self._rows[0].shape[1], self.seq_len))

    def _batch(self, step: Any, first: bool) -> tuple[Batch, bool]:
        rank, world = self.part
        x, y = self._rows
        if world == 1:
            return _window(x, y, step, step + self.seq_len), first
        mine = np.array_split(np.arange(len(x)), world)[rank]
        width = min(step + self.seq_len, x.shape[1]) - step
        if not len(mine):
            return _empty_share(len(x), len(x) * width, False, width), first
        share = _window(x[mine[0] : mine[-1] + 1], y[mine[0] : mine[-1] + 1], step, step + self.seq_len)
        return dataclasses.replace(share, total=len(x) * width, rows=len(x)), first
