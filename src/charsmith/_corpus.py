"""A training file split for training and validation: a :class:`Corpus` of one of two kinds.

- :class:`LinesCorpus` (mode "lines"): every non-blank line is one item (a name); the
  model reads ``END + item`` and predicts ``item + END``. Items are batched by similar
  length, padded and masked. Labelled items (:mod:`charsmith._labelled`) are split
  stratified: each category holds out its own share.
- :class:`TextCorpus` (mode "text"): the file is one stream, kept as ids in the smallest
  dtype that holds them (one byte a character for up to 256 symbols), not as text, and read
  in windows of parallel rows.

Each kind carries what differs between them: its training batches, its held-out
evaluation, its preview samples, its novelty record and its unknown-character mass. The
``mode`` string is what a checkpoint and the user see; :data:`KINDS` maps it to the kind.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from charsmith import habits
from charsmith._batching import LineBatches, TextBatches, TrainBatches, text_layout
from charsmith._labelled import Labelled
from charsmith._novelty import is_known, item_hashes
from charsmith._reading import fingerprint, read_chunks, read_text, scan_text, split_lines
from charsmith.categories import Categories
from charsmith.errors import DataError
from charsmith.generation import Constraints, Stepper, complete, sample_items
from charsmith.openvocab import ids_mass, items_mass
from charsmith.scoring import EVAL_ROWS, lines_loss, stream_loss
from charsmith.vocab import Vocab

if TYPE_CHECKING:
    from charsmith.engines import Engine
    from charsmith.kinds import AnyConfig

__all__ = ["KINDS", "Corpus", "HeldOut", "LinesCorpus", "TextCorpus", "load_corpus", "make_corpus",
           "make_labelled_corpus", "split_items"]

PREVIEW_ITEMS = 5  # items a list's preview writes
PREVIEW_CHARS = 160  # characters a text's preview writes


class HeldOut:
    """The held-out data scored at each evaluation: all of it, or a fixed subset.
    ``chars``: (characters scored at each evaluation, characters a full evaluation scores)."""

    chars: tuple[int, int]

    def loss(self, params: dict[str, np.ndarray], model_cfg: AnyConfig, engine: Engine) -> float:
        """Mean loss per character of the subset under ``params``."""
        raise NotImplementedError


class Corpus:
    """A training file split for training and validation: :class:`LinesCorpus` or
    :class:`TextCorpus`. ``overlap``: validation items that also occur in training (lines;
    for labelled items, in training under the same category). Labelled items also have
    ``categories`` (names and training counts), each item's category id
    (``train_cats``/``val_cats``) and ``overlaps``, the overlap per category."""

    mode: ClassVar[Literal["lines", "text"]]  # as checkpoints and users name the kind (TrainConfig.mode)
    vocab: Vocab
    fingerprint: str
    train: list[str] | np.ndarray
    val: list[str] | np.ndarray
    overlap: int
    categories: Categories | None
    train_cats: np.ndarray | None
    val_cats: np.ndarray | None
    overlaps: tuple[int, ...]

    @property
    def train_chars(self) -> int:
        """Prediction targets in the training split."""
        raise NotImplementedError

    @property
    def train_items(self) -> int | None:
        """Training items (lines), None for a text."""
        return None

    @property
    def val_counts(self) -> tuple[int, ...]:
        """Held-out items per category (labelled items; () otherwise), beside ``categories.counts``."""
        if self.categories is None or self.val_cats is None:
            return ()
        return tuple(int(k) for k in np.bincount(np.asarray(self.val_cats, dtype=np.int64),
                                                 minlength=self.categories.size))

    def with_vocab(self, vocab: Vocab) -> Corpus:
        """This corpus read with ``vocab``, a vocabulary holding all its characters (e.g. a
        base model's, extended)."""
        raise NotImplementedError

    def batches(self, batch_size: int, seq_len: int, seed: int, *, position: tuple[int, int] = (0, 0),
                part: tuple[int, int] = (0, 1), balance: float = 0.0) -> TrainBatches:  # fmt: skip
        """The training batches (see :class:`~charsmith._batching.TrainBatches`)."""
        raise NotImplementedError

    def longest(self, seq_len: int) -> int:
        """The longest sequence a training batch holds."""
        raise NotImplementedError

    def held_out(self, eval_chars: int, seq_len: int) -> HeldOut:
        """The held-out data an evaluation scores: about ``eval_chars`` characters (0: all)."""
        raise NotImplementedError

    def known(self) -> np.ndarray | None:
        """What a checkpoint keeps to tell novel samples: the items' hashes (None: a text)."""
        return None

    def habits(self, *, alphabet: bool) -> dict[str, Any] | None:
        """What samples keep to (:mod:`charsmith.habits`; None: a text)."""
        return None

    def unknown_mass(self) -> float:
        """The unknown-character mass of the file (training and validation parts,
        :mod:`charsmith.openvocab`)."""
        raise NotImplementedError

    def preview(self, params: dict[str, np.ndarray], model_cfg: AnyConfig, rng: np.random.Generator,
                keep: dict[str, Any] | None) -> list[str]:  # fmt: skip
        """A few samples from ``params``, as the notebooks print while training (``keep``:
        the :meth:`habits` they keep to)."""
        raise NotImplementedError


@dataclass(frozen=True)
class LinesCorpus(Corpus):
    """A list of items: ``train``/``val`` are lists of strings."""

    mode: ClassVar[Literal["lines", "text"]] = "lines"
    vocab: Vocab
    train: list[str]
    val: list[str]
    overlap: int
    fingerprint: str
    categories: Categories | None = None
    train_cats: np.ndarray | None = None
    val_cats: np.ndarray | None = None
    overlaps: tuple[int, ...] = ()

    @classmethod
    def from_text(cls, text: str, *, lowercase: bool, val_fraction: float, rng: np.random.Generator,
                  source: str = "input") -> LinesCorpus:  # fmt: skip
        items = split_lines(text, lowercase=lowercase, source=source)
        train, val = split_items(items, val_fraction, rng)
        overlap = int(np.count_nonzero(is_known(val, item_hashes(train))))
        return cls(Vocab.from_texts(items), train, val, overlap, fingerprint(text))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, lowercase: bool, val_fraction: float,
                  rng: np.random.Generator, cache_dir: str | os.PathLike[str] | None = None) -> LinesCorpus:  # fmt: skip
        return cls.from_text(read_text(path), lowercase=lowercase, val_fraction=val_fraction, rng=rng,
                             source=str(path))

    @property
    def train_chars(self) -> int:
        """An item's letters plus its end token, summed over the training items."""
        return sum(len(s) + 1 for s in self.train)

    @property
    def train_items(self) -> int:
        return len(self.train)

    def with_vocab(self, vocab: Vocab) -> LinesCorpus:
        return dataclasses.replace(self, vocab=vocab)

    def batches(self, batch_size: int, seq_len: int, seed: int, *, position: tuple[int, int] = (0, 0),
                part: tuple[int, int] = (0, 1), balance: float = 0.0) -> TrainBatches:  # fmt: skip
        return LineBatches(self.vocab, self.train, self.train_cats, batch_size, seed, position=position, part=part,
                           balance=balance)

    def longest(self, seq_len: int) -> int:
        return max((len(s) for s in self.train), default=0) + 1

    def held_out(self, eval_chars: int, seq_len: int) -> HeldOut:
        return _HeldItems(self, eval_chars)

    def known(self) -> np.ndarray:
        return item_hashes([*self.train, *self.val])  # novelty means "not in the user's file": held-out items too

    def habits(self, *, alphabet: bool) -> dict[str, Any]:
        return habits.of_items([*self.train, *self.val], alphabet=alphabet)

    def unknown_mass(self) -> float:
        return items_mass([*self.train, *self.val])

    def preview(self, params: dict[str, np.ndarray], model_cfg: AnyConfig, rng: np.random.Generator,
                keep: dict[str, Any] | None) -> list[str]:  # fmt: skip
        cats = self.categories  # labelled: each preview item's category drawn from the priors
        priors = None if cats is None else np.exp(cats.log_priors())
        allowed = habits.allowed_next(self.vocab, keep)  # as the saved model will sample
        return sample_items(Stepper(params, model_cfg, priors=priors, rng=rng, allowed=allowed), self.vocab,
                            PREVIEW_ITEMS, rng)


class _HeldItems(HeldOut):
    """The first held-out items holding about ``eval_chars`` characters (at least one item)."""

    def __init__(self, corpus: LinesCorpus, eval_chars: int) -> None:
        sizes = np.cumsum([len(s) + 1 for s in corpus.val], dtype=np.int64)
        total = int(sizes[-1]) if len(sizes) else 0
        n = len(sizes) if not eval_chars else max(int(np.searchsorted(sizes, eval_chars, side="right")),
                                                  min(len(sizes), 1))  # fmt: skip
        self.vocab, self.items = corpus.vocab, list(corpus.val[:n])
        self.cats = None if corpus.val_cats is None else corpus.val_cats[:n]
        self.chars = (int(sizes[n - 1]) if n else 0, total)

    def loss(self, params: dict[str, np.ndarray], model_cfg: AnyConfig, engine: Engine) -> float:
        return lines_loss(params, model_cfg, self.vocab, self.items, cond=self.cats).loss


@dataclass(frozen=True)
class TextCorpus(Corpus):
    """A running text: ``train``/``val`` are the ids of its head and tail (views of one
    array of ``vocab.id_dtype``)."""

    mode: ClassVar[Literal["lines", "text"]] = "text"
    vocab: Vocab
    train: np.ndarray
    val: np.ndarray
    fingerprint: str
    overlap: int = field(default=0, init=False)  # a text has no items, categories or overlap
    categories: Categories | None = field(default=None, init=False)
    train_cats: np.ndarray | None = field(default=None, init=False)
    val_cats: np.ndarray | None = field(default=None, init=False)
    overlaps: tuple[int, ...] = field(default=(), init=False)

    @classmethod
    def from_text(cls, text: str, *, lowercase: bool, val_fraction: float, rng: np.random.Generator,
                  source: str = "input") -> TextCorpus:  # fmt: skip
        if lowercase:
            text = text.lower()
        n_val = int(len(text) * val_fraction)
        if len(text) - n_val < 2:
            raise DataError(f"{source} has {len(text)} characters; text mode needs at least 2 for training")
        vocab = Vocab.from_texts([text])
        ids = vocab.encode(text, vocab.id_dtype)
        n_train = len(ids) - n_val
        return cls(vocab, ids[:n_train], ids[n_train:], fingerprint(text))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, lowercase: bool, val_fraction: float,
                  rng: np.random.Generator, cache_dir: str | os.PathLike[str] | None = None) -> TextCorpus:  # fmt: skip
        """Read twice a piece at a time (its characters, then its ids), so memory never holds
        the whole text; with ``cache_dir``, a text of at least
        :data:`charsmith._idcache.MIN_BYTES` is encoded there once and its ids memory-mapped
        (:mod:`charsmith._idcache`), so memory does not hold its ids either."""
        from charsmith import _idcache

        if cache_dir is not None and Path(path).is_file() and Path(path).stat().st_size >= _idcache.MIN_BYTES:
            vocab, ids, digest = _idcache.text_ids(path, lowercase=lowercase, cache_dir=cache_dir)
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
        return cls(vocab, ids[: n - n_val], ids[n - n_val :], digest)

    @property
    def train_chars(self) -> int:
        """Every character but the first is a target."""
        return max(len(self.train) - 1, 0)

    def with_vocab(self, vocab: Vocab) -> TextCorpus:
        """The text's ids mapped to ``vocab``'s."""
        lut = np.array([vocab.index(ch) for ch in self.vocab.chars], dtype=vocab.id_dtype)  # old id -> new id
        return dataclasses.replace(self, vocab=vocab, train=lut[self.train], val=lut[self.val])

    def batches(self, batch_size: int, seq_len: int, seed: int, *, position: tuple[int, int] = (0, 0),
                part: tuple[int, int] = (0, 1), balance: float = 0.0) -> TrainBatches:  # fmt: skip
        return TextBatches(self.train, batch_size, seq_len, seed, position=position, part=part)

    def longest(self, seq_len: int) -> int:
        return seq_len

    def held_out(self, eval_chars: int, seq_len: int) -> HeldOut:
        return _HeldText(self.val, eval_chars, seq_len)

    def unknown_mass(self) -> float:
        return ids_mass(np.concatenate((np.asarray(self.train), np.asarray(self.val))), self.vocab.size)

    def preview(self, params: dict[str, np.ndarray], model_cfg: AnyConfig, rng: np.random.Generator,
                keep: dict[str, Any] | None) -> list[str]:  # fmt: skip
        plan = Constraints().plan(self.vocab, text_length=PREVIEW_CHARS)
        return complete(Stepper(params, model_cfg), self.vocab, plan, rng)


class _HeldText(HeldOut):
    """The head of each of ``EVAL_ROWS`` rows of the held-out stream, about ``eval_chars``
    characters in all (:func:`~charsmith.scoring.stream_loss` reads it so)."""

    def __init__(self, ids: np.ndarray, eval_chars: int, seq_len: int) -> None:
        self.ids, self.eval_chars, self.seq_len = ids, eval_chars, seq_len
        rows, span = text_layout(len(ids), EVAL_ROWS, seq_len, eval_chars)
        self.chars = (rows * span, rows * text_layout(len(ids), EVAL_ROWS, seq_len)[1])

    def loss(self, params: dict[str, np.ndarray], model_cfg: AnyConfig, engine: Engine) -> float:
        on_device = getattr(engine, "stream_loss", None)  # the torch engine scores a text where it trains
        if on_device is not None:
            return float(on_device(self.ids, seq_len=self.seq_len, max_chars=self.eval_chars))
        return stream_loss(params, model_cfg, self.ids, seq_len=self.seq_len, max_chars=self.eval_chars).loss


KINDS: dict[str, type[LinesCorpus] | type[TextCorpus]] = {"lines": LinesCorpus, "text": TextCorpus}


def make_corpus(
    text: str, *, mode: str, lowercase: bool, val_fraction: float, rng: np.random.Generator, source: str = "input"
) -> Corpus:
    """Split ``text`` for training; the vocabulary covers train and validation alike."""
    return KINDS[mode].from_text(text, lowercase=lowercase, val_fraction=val_fraction, rng=rng, source=source)


def load_corpus(
    path: str | os.PathLike[str], *, mode: str, lowercase: bool, val_fraction: float, rng: np.random.Generator,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Corpus:
    """:func:`make_corpus` of a file (a text is never held whole: :meth:`TextCorpus.from_file`)."""
    return KINDS[mode].from_file(path, lowercase=lowercase, val_fraction=val_fraction, rng=rng, cache_dir=cache_dir)


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


def make_labelled_corpus(data: Labelled, *, val_fraction: float, rng: np.random.Generator) -> LinesCorpus:
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
    return LinesCorpus(Vocab.from_texts(data.items), train, [val[i] for i in mix], sum(overlaps), data.fingerprint,
                       Categories(data.names, tuple(counts)), np.array(train_cats, dtype=np.int64),
                       np.array(val_cats, dtype=np.int64)[mix], tuple(overlaps))
