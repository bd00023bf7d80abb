"""A training file split for training and validation: the :class:`Corpus`.

Two modes:
- ``lines``: every non-blank line is one item (a name); the model reads ``END + item``
  and predicts ``item + END``.
- ``text``: the file is one stream; the corpus keeps it as ids in the smallest dtype that
  holds them (one byte a character for up to 256 symbols), not as text.

Labelled items (lines mode, :mod:`charsmith._labelled`) are split stratified: each category
holds out its own share.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charsmith._labelled import Labelled
from charsmith._novelty import is_known, item_hashes
from charsmith._reading import fingerprint, read_chunks, read_text, scan_text, split_lines
from charsmith.categories import Categories
from charsmith.errors import DataError
from charsmith.vocab import Vocab

__all__ = ["Corpus", "load_corpus", "make_corpus", "make_labelled_corpus", "split_items", "with_vocab"]

def split_items(items: Sequence[str], val_fraction: float, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Shuffle ``items`` and hold out ``val_fraction`` of them (at least one when any is asked)."""
    order = rng.permutation(len(items))
    n_val = round(len(items) * val_fraction)
    if val_fraction > 0 and len(items) > 1:
        n_val = min(max(n_val, 1), len(items) - 1)
    else:
        n_val = 0
    shuffled = [items[i] for i in order]
    return shuffled[n_val:], shuffled[:n_val]


@dataclass(frozen=True)
class Corpus:
    """A training file split for training and validation.

    lines mode: ``train``/``val`` are lists of items. text mode: they are the ids of the
    text's head and tail (views of one array of ``vocab.id_dtype``).
    ``overlap``: validation items that also occur in training (lines mode; for labelled
    items, in training under the same category).
    Labelled items also have ``categories`` (names and training counts), each item's
    category id (``train_cats``/``val_cats``) and ``overlaps``, the overlap per category.
    """

    mode: str
    vocab: Vocab
    train: list[str] | np.ndarray
    val: list[str] | np.ndarray
    overlap: int
    fingerprint: str
    categories: Categories | None = None
    train_cats: np.ndarray | None = None
    val_cats: np.ndarray | None = None
    overlaps: tuple[int, ...] = ()

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
    vocab = Vocab.from_texts([text])
    ids = vocab.encode(text, vocab.id_dtype)
    n_train = len(ids) - n_val
    return Corpus("text", vocab, ids[:n_train], ids[n_train:], 0, fingerprint(text))


def load_corpus(
    path: str | os.PathLike[str], *, mode: str, lowercase: bool, val_fraction: float, rng: np.random.Generator,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Corpus:
    """:func:`make_corpus` of a file. A text-mode file is read twice a piece at a time (its
    characters, then its ids), so memory never holds the whole text; with ``cache_dir``, a
    text of at least :data:`charsmith.idcache.MIN_BYTES` is encoded there once and its ids
    memory-mapped (:mod:`charsmith.idcache`), so memory does not hold its ids either."""
    if mode == "lines":
        return make_corpus(read_text(path), mode=mode, lowercase=lowercase, val_fraction=val_fraction, rng=rng,
                           source=str(path))
    from charsmith import idcache

    if cache_dir is not None and Path(path).is_file() and Path(path).stat().st_size >= idcache.MIN_BYTES:
        vocab, ids, digest = idcache.text_ids(path, lowercase=lowercase, cache_dir=cache_dir)
    else:
        vocab, n, digest = scan_text(path, lowercase)
        ids, at = np.empty(n, dtype=vocab.id_dtype), 0
        for chunk in read_chunks(path, lowercase=lowercase):
            ids[at : at + len(chunk)] = vocab.encode(chunk, vocab.id_dtype)
            at += len(chunk)
    n = len(ids)
    n_val = int(n * val_fraction)
    if n - n_val < 2:
        raise DataError(f"{path} has {n} characters; text mode needs at least 2 for training")
    return Corpus("text", vocab, ids[: n - n_val], ids[n - n_val :], 0, digest)


def with_vocab(corpus: Corpus, vocab: Vocab) -> Corpus:
    """``corpus`` read with ``vocab``, a vocabulary holding all its characters (e.g. a base
    model's, extended): the text's ids are mapped to the new ones."""
    if corpus.mode == "lines":
        return dataclasses.replace(corpus, vocab=vocab)
    lut = np.array([vocab.index(ch) for ch in corpus.vocab.chars], dtype=vocab.id_dtype)  # old id -> new id
    return dataclasses.replace(corpus, vocab=vocab, train=lut[corpus.train], val=lut[corpus.val])


def make_labelled_corpus(data: Labelled, *, val_fraction: float, rng: np.random.Generator) -> Corpus:
    """Split labelled items, each category on its own (stratified); the priors are the
    training counts. The vocabulary covers every item."""
    train: list[str] = []
    val: list[str] = []
    train_cats: list[int] = []
    val_cats: list[int] = []
    counts, overlaps = [], []
    for k in range(len(data.names)):
        tr, va = split_items([data.items[i] for i in np.flatnonzero(data.cats == k)], val_fraction, rng)
        train += tr
        val += va
        train_cats += [k] * len(tr)
        val_cats += [k] * len(va)
        counts.append(len(tr))
        overlaps.append(int(np.count_nonzero(is_known(va, item_hashes(tr)))))
    mix = rng.permutation(len(val))  # held-out items in random order: any prefix samples every category
    return Corpus("lines", Vocab.from_texts(data.items), train, [val[i] for i in mix], sum(overlaps),
                  data.fingerprint, Categories(data.names, tuple(counts)), np.array(train_cats, dtype=np.int64),
                  np.array(val_cats, dtype=np.int64)[mix], tuple(overlaps))
