"""Reading training files and turning them into batches.

Two modes:
- ``lines``: every non-blank line is one item (a name); the model reads ``END + item``
  and predicts ``item + END``. Items are batched by similar length, padded, and masked.
- ``text``: the file is one stream, cut into ``B`` parallel rows that are read in windows
  of ``seq_len`` characters, with the hidden state carried from window to window
  (truncated back-propagation through time, as char-rnn and min-char-rnn do).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charsmith.errors import DataError
from charsmith.vocab import END, Vocab

__all__ = [
    "Batch",
    "Corpus",
    "MAX_ITEM_CHARS",
    "detect_mode",
    "encode_items",
    "fingerprint",
    "item_hashes",
    "is_known",
    "line_batches",
    "make_corpus",
    "read_text",
    "split_items",
    "text_windows",
]

MAX_ITEM_CHARS = 500  # a longer "line" is surely running text: suggest --mode text


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of ``path``; a missing, empty or undecodable file raises DataError."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a text file with one item per line")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not valid UTF-8; save the file as UTF-8") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise DataError(f"{path} is empty or holds only blank lines; give it at least one item")
    return text


def detect_mode(text: str) -> str:
    """"lines" when the file looks like a list of short items, else "text"."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    words = sum(len(ln.split()) for ln in lines) / len(lines)
    longest = max(len(ln) for ln in lines)
    return "lines" if words <= 3 and longest <= 100 else "text"


def split_lines(text: str, *, lowercase: bool, source: str = "input") -> list[str]:
    """Stripped non-blank lines of ``text``; an over-long line raises DataError."""
    if lowercase:
        text = text.lower()
    items = [s for s in (ln.strip() for ln in text.split("\n")) if s]
    for number, item in enumerate(items, 1):
        if len(item) > MAX_ITEM_CHARS:
            raise DataError(
                f"{source}: item {number} is {len(item)} characters long (lines mode allows "
                f"{MAX_ITEM_CHARS}); for running text use --mode text"
            )
    return items


def split_items(items: Sequence[str], val_fraction: float, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Shuffle ``items`` and hold out ``val_fraction`` of them (at least one when any is asked)."""
    order = rng.permutation(len(items))
    n_val = int(round(len(items) * val_fraction))
    if val_fraction > 0 and len(items) > 1:
        n_val = min(max(n_val, 1), len(items) - 1)
    else:
        n_val = 0
    shuffled = [items[i] for i in order]
    return shuffled[n_val:], shuffled[:n_val]


def item_hashes(items: Sequence[str]) -> np.ndarray:
    """Sorted unique 64-bit hashes of ``items``: lets a checkpoint tell known items from novel
    ones without storing the training data itself."""
    digests = (hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest() for s in items)
    h = np.fromiter((int.from_bytes(d, "little") for d in digests), dtype=np.uint64, count=len(items))
    return np.unique(h)


def is_known(items: Sequence[str], known: np.ndarray) -> np.ndarray:
    """Boolean (N,): which ``items`` have their hash in the sorted ``known`` array."""
    if len(items) == 0 or known.size == 0:
        return np.zeros(len(items), dtype=bool)
    h = np.fromiter(
        (int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little") for s in items),
        dtype=np.uint64,
        count=len(items),
    )
    pos = np.minimum(np.searchsorted(known, h), known.size - 1)
    return known[pos] == h


def fingerprint(text: str) -> str:
    """Short sha256 of the training text, saved so ``--resume`` can tell the data changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Corpus:
    """A training file split for training and validation.

    lines mode: ``train``/``val`` are lists of items. text mode: they are strings.
    ``overlap``: validation items that also occur in training (lines mode).
    """

    mode: str
    vocab: Vocab
    train: list[str] | str
    val: list[str] | str
    overlap: int
    fingerprint: str

    @property
    def train_chars(self) -> int:
        """Prediction targets in the training split (an item's letters plus its end token)."""
        if self.mode == "lines":
            return sum(len(s) + 1 for s in self.train)
        return max(len(self.train) - 1, 0)


def make_corpus(
    text: str, *, mode: str, lowercase: bool, val_fraction: float, rng: np.random.Generator, source: str = "input"
) -> Corpus:
    """Split ``text`` for training; the vocabulary covers train and validation alike."""
    if mode == "lines":
        items = split_lines(text, lowercase=lowercase, source=source)
        train, val = split_items(items, val_fraction, rng)
        vocab = Vocab.from_texts(items)
        overlap = int(np.count_nonzero(is_known(val, item_hashes(train))))
        return Corpus("lines", vocab, train, val, overlap, fingerprint(text))
    if lowercase:
        text = text.lower()
    n_val = int(len(text) * val_fraction)
    if len(text) - n_val < 2:
        raise DataError(f"{source} has {len(text)} characters; text mode needs at least 2 for training")
    return Corpus("text", Vocab.from_texts([text]), text[: len(text) - n_val], text[len(text) - n_val :], 0, fingerprint(text))


@dataclass(frozen=True)
class Batch:
    """ids (B, T) inputs, targets (B, T), mask (B, T) float: 1 where a target is real."""

    ids: np.ndarray
    targets: np.ndarray
    mask: np.ndarray

    @property
    def n_chars(self) -> int:
        return int(self.mask.sum())


def encode_items(vocab: Vocab, items: Sequence[str]) -> list[np.ndarray]:
    """Each item as ids ``[END, c1, ..., cn, END]``: input is [:-1], target is [1:]."""
    end = vocab.index(END)
    return [np.concatenate(([end], vocab.encode(s), [end])) for s in items]


def pad_batch(seqs: Sequence[np.ndarray], dtype: type = np.float32) -> Batch:
    """Pad encoded items into one batch; padding targets are masked out."""
    T = max(len(s) for s in seqs) - 1
    ids = np.zeros((len(seqs), T), dtype=np.int64)
    targets = np.zeros((len(seqs), T), dtype=np.int64)
    mask = np.zeros((len(seqs), T), dtype=dtype)
    for row, s in enumerate(seqs):
        n = len(s) - 1
        ids[row, :n] = s[:-1]
        targets[row, :n] = s[1:]
        mask[row, :n] = 1
    return Batch(ids, targets, mask)


def line_batches(
    seqs: Sequence[np.ndarray], batch_size: int, rng: np.random.Generator | None, *, bucket: int = 16
) -> Iterator[Batch]:
    """One epoch of padded batches. With ``rng``: shuffled, then grouped so each batch holds
    items of similar length (sorted inside windows of ``bucket`` batches); without: in order."""
    order = np.arange(len(seqs)) if rng is None else rng.permutation(len(seqs))
    if rng is not None:
        window = batch_size * bucket
        lengths = np.array([len(s) for s in seqs])
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            order[start : start + window] = chunk[np.argsort(lengths[chunk], kind="stable")]
    starts = list(range(0, len(order), batch_size))
    if rng is not None:
        starts = [starts[i] for i in rng.permutation(len(starts))]
    for start in starts:
        yield pad_batch([seqs[i] for i in order[start : start + batch_size]])


def text_windows(ids: np.ndarray, batch_size: int, seq_len: int, *, offset: int = 0) -> Iterator[Batch]:
    """One pass over a stream as ``batch_size`` parallel rows in windows of ``seq_len``.

    Row b reads a contiguous slice of the stream, so the state a window ends with is the
    right start for the same row of the next window. ``offset`` shifts where rows start
    (vary it per epoch so windows do not always cut at the same places).
    """
    ids = ids[offset:]
    rows = min(batch_size, max((len(ids) - 1) // max(seq_len, 1), 1))
    per_row = (len(ids) - 1) // rows
    if per_row < 1:
        return
    x = ids[: rows * per_row].reshape(rows, per_row)  # (B, L)
    y = ids[1 : rows * per_row + 1].reshape(rows, per_row)
    for p in range(0, per_row, seq_len):
        xs, ys = x[:, p : p + seq_len], y[:, p : p + seq_len]
        yield Batch(np.ascontiguousarray(xs), np.ascontiguousarray(ys), np.ones(xs.shape, dtype=np.float32))
