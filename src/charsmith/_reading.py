"""Reading a training file: UTF-8 text in pieces, its lines, its kind (a list or running text).

A file is read a piece at a time (:func:`read_chunks`): the byte-order mark dropped, CRLF and
CR made LF, a NUL byte or a byte that is not UTF-8 refused with the line it is on. A long
text is never held whole to find its vocabulary, length and fingerprint (:func:`scan_text`).
"""

from __future__ import annotations

import codecs
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from charsmith.errors import DataError
from charsmith.limits import MAX_FILE_BYTES
from charsmith.vocab import Vocab

__all__ = ["MAX_ITEM_CHARS", "check_lengths", "detect_mode", "fingerprint", "read_chunks", "read_items", "read_text", "scan_text", "split_lines"]

MAX_ITEM_CHARS = 500  # a longer "line" is surely running text: suggest mode="text"
_CHUNK = 1 << 22  # characters handled at a time when scanning a long text
_CHUNK_BYTES = 1 << 20  # bytes read at a time
_DETECT_CHARS = 1 << 23  # characters detect_mode reads at most (a huge file is judged by its head)


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
    :func:`read_chunks` yields: a long text is read a piece at a time, and only its first
    ``_DETECT_CHARS`` characters are looked at."""
    lines = words = longest = seen = 0
    for chunk in _line_chunks(text):
        seen += len(chunk)
        if seen > _DETECT_CHARS + _CHUNK:
            break
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
    items = _nonblank(text.lower() if lowercase else text)
    check_lengths(items, source)
    return items


def _nonblank(text: str) -> list[str]:
    """The stripped non-blank lines of ``text``."""
    return [s for s in (ln.strip() for ln in text.split("\n")) if s]


def read_items(path: str | os.PathLike[str], text: str | None = None) -> list[str]:
    """The items to score or classify in the file at ``path`` (or its ``text``, already
    read), one a line, as written (a model lower-cases them if it learned so); their length
    is the scorer's to check (``limits.MAX_SCORE_CHARS``), not a training list's."""
    return _nonblank(read_text(path) if text is None else text)


def check_lengths(items: Sequence[str], source: str, numbers: Sequence[int] | None = None) -> None:
    for k, item in enumerate(items):
        if len(item) > MAX_ITEM_CHARS:
            where = f"line {numbers[k]}" if numbers is not None else f"item {k + 1}"
            raise DataError(
                f"{source}: {where} is {len(item)} characters long (lines mode allows "
                f"{MAX_ITEM_CHARS}); for running text use `mode=text`"
            )


def fingerprint(text: str) -> str:
    """Short sha256 of the training text, saved so ``--resume`` can tell the data changed."""
    h = hashlib.sha256()
    for start in range(0, len(text), _CHUNK):
        h.update(text[start : start + _CHUNK].encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:16]


def scan_text(path: str | os.PathLike[str], lowercase: bool) -> tuple[Vocab, int, str]:
    """One pass over a text file, a piece at a time: its vocabulary, its number of
    characters and its fingerprint. An empty or blank file raises DataError."""
    n, digest, blank = 0, hashlib.sha256(), True
    seen: set[str] = set()
    ascii_seen = np.zeros(128, dtype=bool)
    for chunk in read_chunks(path, lowercase=lowercase):
        n += len(chunk)
        data = chunk.encode("utf-8", "surrogatepass")
        if len(data) == len(chunk):  # ASCII: count the bytes, far quicker than a set of characters
            ascii_seen |= np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=128).astype(bool)
        else:
            seen.update(chunk)
        digest.update(data)
        blank = blank and chunk.isspace()
    if blank:
        raise _empty_file(path)
    seen.update(chr(c) for c in np.flatnonzero(ascii_seen))
    return Vocab.from_texts(["".join(seen)]), n, digest.hexdigest()[:16]
