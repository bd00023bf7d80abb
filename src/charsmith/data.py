"""Reading training files and turning them into batches.

Two modes:
- ``lines``: every non-blank line is one item (a name); the model reads ``END + item``
  and predicts ``item + END``. Items are batched by similar length, padded, and masked.
- ``text``: the file is one stream, cut into ``B`` parallel rows that are read in windows
  of ``seq_len`` characters, with the hidden state carried from window to window
  (truncated back-propagation through time, as char-rnn and min-char-rnn do). The corpus
  keeps the stream as ids in the smallest dtype that holds them (one byte a character
  for up to 256 symbols), not as text.

Training reads batches from :class:`TrainBatches`, whose order depends only on the seed and
the epoch, so a position ``(epoch, index)`` is all a resumed run needs to continue exactly.

Labelled items (lines mode) come as a folder with one file per category (the category is
the file's stem; hidden files are skipped) or as a file of ``category<TAB>item`` lines
(recognised by a TAB in its first non-blank line). Their split is stratified: each
category holds out its own share.
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from charsmith.categories import Categories, check_name
from charsmith.errors import CategoryError, DataError
from charsmith.limits import MAX_CATEGORIES, MAX_FILE_BYTES
from charsmith.vocab import END, Vocab

__all__ = [
    "MAX_ITEM_CHARS",
    "Batch",
    "Corpus",
    "Labelled",
    "TrainBatches",
    "detect_mode",
    "encode_items",
    "fingerprint",
    "is_known",
    "is_near_known",
    "is_labelled",
    "item_hashes",
    "line_batch_plan",
    "line_batches",
    "load_corpus",
    "make_corpus",
    "make_labelled_corpus",
    "read_chunks",
    "read_labelled",
    "read_text",
    "seeded_rng",
    "split_items",
    "text_layout",
    "text_windows",
    "with_vocab",
]

MAX_ITEM_CHARS = 500  # a longer "line" is surely running text: suggest mode="text"
_CHUNK = 1 << 22  # characters handled at a time when scanning a long text
_CHUNK_BYTES = 1 << 20  # bytes read at a time


def read_chunks(path: str | os.PathLike[str], *, lowercase: bool = False) -> Iterator[str]:
    """The UTF-8 text of ``path`` in pieces of about a megabyte: the byte-order mark dropped,
    CRLF and CR made LF, lower-cased if asked. A missing or undecodable file, one with NUL
    bytes (binary, or ``/dev/zero``) or one over MAX_FILE_BYTES (an endless stream) raises
    DataError. A long text is read this way without ever holding all of it at once."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass a text file with one item per line")
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    lines_before, started, carry = 0, False, ""
    size = 0
    with open(path, "rb") as f:
        while True:
            data = f.read(_CHUNK_BYTES)
            size += len(data)
            if size > MAX_FILE_BYTES:
                raise DataError(f"{path} is over the limit of {MAX_FILE_BYTES:,} bytes (MAX_FILE_BYTES); "
                                "give a smaller file")
            if b"\0" in data:
                line = lines_before + data[: data.index(b"\0")].count(b"\n") + 1
                raise DataError(f"{path}: line {line} has a NUL byte, so this is not a text file; give a UTF-8 text file")
            held = len(decoder.getstate()[0])  # bytes of a character split by the previous read
            try:
                text = carry + decoder.decode(data, final=not data)
            except UnicodeDecodeError as e:
                line = lines_before + data[: max(e.start - held, 0)].count(b"\n") + 1
                raise DataError(f"{path}: line {line} is not valid UTF-8; save the file as UTF-8") from None
            lines_before += data.count(b"\n")
            if not started and text:
                text, started = text.removeprefix("\ufeff"), True
            carry = text[-1:] if data and text.endswith("\r") else ""  # a CR whose LF may come next
            text = text[: len(text) - len(carry)].replace("\r\n", "\n").replace("\r", "\n")
            if text:
                yield text.lower() if lowercase else text
            if not data:
                return


def _empty_file(path: str | os.PathLike[str]) -> DataError:
    return DataError(f"{path} is empty or holds only blank lines; give it at least one item")


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of ``path`` (see :func:`read_chunks`); an empty file raises DataError too."""
    text = "".join(read_chunks(path))
    if not text or text.isspace():
        raise _empty_file(path)
    return text


def _line_chunks(chunks: str | Iterable[str]) -> Iterator[str]:
    """Pieces of about ``_CHUNK`` characters, each ending at a line end, from one string or
    from pieces cut anywhere."""
    if isinstance(chunks, str):
        text = chunks
        chunks = (text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK))
    rest = ""
    for chunk in chunks:
        cut = chunk.rfind("\n") + 1
        if cut:
            yield rest + chunk[:cut]
            rest = chunk[cut:]
        else:
            rest += chunk
        if len(rest) > _CHUNK:  # one very long line: no need to hold all of it
            yield rest
            rest = ""
    if rest:
        yield rest


def detect_mode(text: str | Iterable[str]) -> str:
    """"lines" when the file looks like a list of short items (at most 3 words a line on
    average, no line over 100 characters), else "text". ``text`` may be the pieces
    :func:`read_chunks` yields: a long text is read a piece at a time."""
    lines = words = longest = 0
    for chunk in _line_chunks(text):
        kept = [ln for ln in chunk.split("\n") if ln.strip()]
        if not kept:
            continue
        lines += len(kept)
        words += len(chunk.split())
        longest = max(longest, max(map(len, kept)))
        if longest > 100:
            return "text"
    return "lines" if lines and words <= 3 * lines else "text"


def split_lines(text: str, *, lowercase: bool, source: str = "input") -> list[str]:
    """Stripped non-blank lines of ``text``; an over-long line raises DataError."""
    if lowercase:
        text = text.lower()
    items = [s for s in (ln.strip() for ln in text.split("\n")) if s]
    _check_lengths(items, source)
    return items


def _check_lengths(items: Sequence[str], source: str, numbers: Sequence[int] | None = None) -> None:
    for k, item in enumerate(items):
        if len(item) > MAX_ITEM_CHARS:
            where = f"line {numbers[k]}" if numbers is not None else f"item {k + 1}"
            raise DataError(
                f"{source}: {where} is {len(item)} characters long (lines mode allows "
                f"{MAX_ITEM_CHARS}); for running text use `mode=text`"
            )


@dataclass(frozen=True)
class Labelled:
    """Items with a category each. names: the categories, sorted; cats (N,): each item's id."""

    names: tuple[str, ...]
    items: list[str]
    cats: np.ndarray
    fingerprint: str


def is_labelled(path: str | os.PathLike[str], text: str | None = None) -> bool:
    """A folder, or a file whose first non-blank line has a TAB (read from ``text`` when
    given, else from the file's first piece)."""
    if Path(path).is_dir():
        return True
    if text is None:
        text = next(read_chunks(path), "")
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    return "\t" in first


def read_labelled(path: str | os.PathLike[str], *, lowercase: bool, text: str | None = None) -> Labelled:
    """Read a folder of category files or a ``category<TAB>item`` file (whose ``text`` may be
    passed when already read). Bad input raises DataError naming the file or line."""
    path = Path(path)
    pairs = _read_folder(path) if path.is_dir() else _read_tsv(path, text if text is not None else read_text(path))
    names = tuple(sorted({c for c, _ in pairs}))
    if len(names) > MAX_CATEGORIES:
        raise DataError(f"{path} has {len(names):,} categories, over the limit of {MAX_CATEGORIES:,} (MAX_CATEGORIES); "
                        "merge some of them")
    index = {c: k for k, c in enumerate(names)}
    items = [s.lower() if lowercase else s for _, s in pairs]
    cats = np.array([index[c] for c, _ in pairs], dtype=np.int64)
    canonical = "".join(f"{c}\t{s}\n" for c, s in pairs)
    return Labelled(names, items, cats, fingerprint(canonical))


def _read_folder(folder: Path) -> list[tuple[str, str]]:
    files = sorted(f for f in folder.iterdir() if not f.name.startswith(".") and f.is_file())
    if not files:
        raise DataError(f"{folder} holds no files; put one file of items per category in it, named after the category")
    pairs: list[tuple[str, str]] = []
    seen: dict[str, Path] = {}
    for f in files:
        if f.stem in seen:
            raise DataError(f"{seen[f.stem].name} and {f.name} in {folder} name the same category; "
                            "keep one file per category")
        seen[f.stem] = f
        try:
            check_name(f.stem, str(f))
        except CategoryError as e:
            raise DataError(str(e)) from None
        items = split_lines(read_text(f), lowercase=False, source=str(f))
        pairs += [(f.stem, s) for s in items]
    return pairs


def _read_tsv(path: Path, text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    numbers: list[int] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        cat, tab, item = line.partition("\t")
        cat, item = cat.strip(), item.strip()
        if not tab or not cat or not item or "\t" in item:
            raise DataError(f"{path}: line {number} is not category<TAB>item: {line[:60]!r}; write each line as a "
                            "category, one TAB, then the item (or pass `mode=text` to read running text)")
        try:
            check_name(cat, f"{path}: line {number}")
        except CategoryError as e:
            raise DataError(str(e)) from None
        pairs.append((cat, item))
        numbers.append(number)
    _check_lengths([s for _, s in pairs], str(path), numbers)
    return pairs


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


def is_near_known(items: Sequence[str], known: np.ndarray, alphabet: str) -> np.ndarray:
    """Boolean (N,): which ``items`` are known or one edit (a character deleted, inserted or
    replaced by one of ``alphabet``) from an item whose hash is in ``known``: every
    neighbour's hash is looked up, so no item need be stored."""
    out = is_known(items, known)
    for i in np.flatnonzero(~out).tolist():
        s = items[i]
        near = {s[:j] + s[j + 1:] for j in range(len(s))}
        near |= {s[:j] + c + s[j + k:] for j in range(len(s) + 1) for c in alphabet for k in (0, 1)}
        near.discard(s)
        out[i] = bool(is_known(sorted(near), known).any())
    return out


def fingerprint(text: str) -> str:
    """Short sha256 of the training text, saved so ``--resume`` can tell the data changed."""
    h = hashlib.sha256()
    for start in range(0, len(text), _CHUNK):
        h.update(text[start : start + _CHUNK].encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


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
    path: str | os.PathLike[str], *, mode: str, lowercase: bool, val_fraction: float, rng: np.random.Generator
) -> Corpus:
    """:func:`make_corpus` of a file. A text-mode file is read twice a piece at a time (its
    characters, then its ids), so memory holds its ids and never the whole text."""
    if mode == "lines":
        return make_corpus(read_text(path), mode=mode, lowercase=lowercase, val_fraction=val_fraction, rng=rng,
                           source=str(path))
    n, digest, blank = 0, hashlib.sha256(), True
    seen: set[str] = set()
    for chunk in read_chunks(path, lowercase=lowercase):
        n += len(chunk)
        seen.update(chunk)
        digest.update(chunk.encode("utf-8", "surrogatepass"))
        blank = blank and chunk.isspace()
    if blank:
        raise _empty_file(path)
    n_val = int(n * val_fraction)
    if n - n_val < 2:
        raise DataError(f"{path} has {n} characters; text mode needs at least 2 for training")
    vocab = Vocab.from_texts(["".join(seen)])
    ids, at = np.empty(n, dtype=vocab.id_dtype), 0
    for chunk in read_chunks(path, lowercase=lowercase):
        ids[at : at + len(chunk)] = vocab.encode(chunk, vocab.id_dtype)
        at += len(chunk)
    return Corpus("text", vocab, ids[: n - n_val], ids[n - n_val :], 0, digest.hexdigest()[:16])


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


@dataclass(frozen=True)
class Batch:
    """ids (B, T) inputs, targets (B, T), mask (B, T) float: 1 where a target is real;
    cats (B,) each row's category id, for labelled items (else None)."""

    ids: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    cats: np.ndarray | None = None

    @property
    def n_chars(self) -> int:
        return int(self.mask.sum())


def encode_items(vocab: Vocab, items: Sequence[str]) -> list[np.ndarray]:
    """Each item as ids ``[END, c1, ..., cn, END]``: input is [:-1], target is [1:]."""
    end = vocab.index(END)
    return [np.concatenate(([end], vocab.encode(s), [end])) for s in items]


def pad_batch(seqs: Sequence[np.ndarray], dtype: type = np.float32, cats: np.ndarray | None = None) -> Batch:
    """Pad encoded items into one batch; padding targets are masked out. ``cats``: their categories."""
    T = max(len(s) for s in seqs) - 1
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


def seeded_rng(seed: int, *key: int) -> np.random.Generator:
    """A generator that depends only on ``seed`` and ``key``: a run draws each of its random
    streams (data order, dropout, previews) this way, so no generator state need be saved."""
    return np.random.default_rng((seed, *key))


class TrainBatches:
    """Endless training batches, in an order fixed by the seed alone.

    Epoch ``e`` is shuffled (lines) or offset (text) by ``seeded_rng(seed, DATA_STREAM, e)``,
    so ``position`` = (epoch, index of the next batch) is all a resumed run needs. ``next``
    returns (batch, fresh): fresh is True where the hidden state must start from zero
    (every lines batch; the first window of each text epoch).

    ``balance`` > 0 (labelled items): an epoch is as many items drawn with replacement, item
    i of category c with probability prop. to n_c ** -balance, so category c's share of the
    batches is prop. to n_c ** (1 - balance) (1: every category equally often).
    """

    DATA_STREAM = 0

    def __init__(self, corpus: Corpus, batch_size: int, seq_len: int, seed: int, *,
                 position: tuple[int, int] = (0, 0), balance: float = 0.0) -> None:
        self.corpus, self.batch_size, self.seq_len, self.seed = corpus, batch_size, seq_len, seed
        self._draw: np.ndarray | None = None  # per-item draw probabilities of a balanced epoch
        if balance and corpus.train_cats is not None:
            n_c = np.bincount(corpus.train_cats).astype(np.float64)
            w = n_c[corpus.train_cats] ** -balance
            self._draw = w / w.sum()
        self.epoch, self.index = position
        if corpus.mode == "lines":
            self._seqs = encode_items(corpus.vocab, corpus.train)  # type: ignore[arg-type]
            self._lengths = np.array([len(s) for s in self._seqs])
        self._plan_epoch = -1
        self._plan: list[Any] = []
        self._rows = (np.empty((0, 0)), np.empty((0, 0)))  # text: this epoch's x, y as parallel rows

    @property
    def position(self) -> tuple[int, int]:
        return self.epoch, self.index

    def __iter__(self) -> TrainBatches:
        return self

    def __next__(self) -> tuple[Batch, bool]:
        while self.index >= len(self._epoch_plan()):
            self.epoch, self.index = self.epoch + 1, 0
        step, fresh = self._plan[self.index], self.corpus.mode == "lines" or self.index == 0
        self.index += 1
        if self.corpus.mode == "lines":
            cats = self.corpus.train_cats
            return pad_batch([self._seqs[i] for i in step], cats=None if cats is None else cats[step]), fresh
        return _window(*self._rows, step, step + self.seq_len), fresh

    def _epoch_plan(self) -> list[Any]:
        """This epoch's batches: item indices (lines), or window start columns in ``_rows`` (text)."""
        if self._plan_epoch != self.epoch:
            rng = seeded_rng(self.seed, self.DATA_STREAM, self.epoch)
            if self.corpus.mode == "lines" and self._draw is not None:
                drawn = rng.choice(len(self._draw), size=len(self._draw), p=self._draw)
                self._plan = [drawn[b] for b in line_batch_plan(self._lengths[drawn], self.batch_size, rng)]
            elif self.corpus.mode == "lines":
                self._plan = line_batch_plan(self._lengths, self.batch_size, rng)
            else:
                ids = self.corpus.train
                assert isinstance(ids, np.ndarray)  # text mode: the training ids
                offset = int(rng.integers(0, min(self.seq_len, max(len(ids) - 2, 1))))
                self._rows = _rows(ids[offset:], self.batch_size, self.seq_len)
                self._plan = list(range(0, self._rows[0].shape[1], self.seq_len))
            self._plan_epoch = self.epoch
        return self._plan
