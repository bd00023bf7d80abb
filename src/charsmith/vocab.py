"""The vocabulary: the training data's characters plus the end token.

Index 0 is always the end token ``"\\n"``: in lines mode it ends an item (and, fed as
input, starts the next one); in text mode it is the ordinary newline character. The
other symbols follow in sorted order, so a names file over ``a``-``z`` gets the same
indices as the seed notebooks' ``char_to_ix``.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["END", "Vocab"]

END = "\n"
_CHUNK = 1 << 22  # characters encoded at a time


def readable(chars: str, most: int = 40) -> str:
    """``chars`` as a person reads them in a one-line message: each visible character in
    quotes, any other (spaces, controls, marks) by its code point and Unicode name, e.g.
    ``'ä', U+00A0 NO-BREAK SPACE``; past ``most`` characters, how many more."""
    shown = [repr(ch) if ch.isprintable() and not ch.isspace() and unicodedata.category(ch)[0] != "M"
             else f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character' if ord(ch) < 32 else 'unnamed')}"
             for ch in chars[:most]]
    more = f" and {len(chars) - most} more" if len(chars) > most else ""
    return ", ".join(shown) + more


@dataclass(frozen=True)
class Vocab:
    """An ordered set of characters; ``chars[0]`` is the end token."""

    chars: str
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _lut: np.ndarray = field(init=False, repr=False, compare=False)  # code point -> id, -1 unknown (last entry)

    def __post_init__(self) -> None:
        if not isinstance(self.chars, str):
            raise TypeError(f"Vocab chars must be a str, got {type(self.chars).__name__}")
        if not self.chars.startswith(END):
            raise ValueError("Vocab chars must start with the end token '\\n'")
        if len(set(self.chars)) != len(self.chars):
            raise ValueError("Vocab chars must not repeat a character")
        object.__setattr__(self, "_index", {ch: i for i, ch in enumerate(self.chars)})
        codes = np.fromiter(map(ord, self.chars), dtype=np.int64, count=len(self.chars))
        lut = np.full(int(codes.max()) + 2, -1, dtype=np.int32)  # the last entry catches larger code points
        lut[codes] = np.arange(len(codes), dtype=np.int32)
        object.__setattr__(self, "_lut", lut)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocab:
        """The sorted characters of ``texts``, with the end token first."""
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        seen.discard(END)
        return cls(END + "".join(sorted(seen)))

    @property
    def size(self) -> int:
        return len(self.chars)

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, ch: object) -> bool:
        return ch in self._index

    def index(self, ch: str) -> int:
        return self._index[ch]

    def unknown(self, text: str) -> str:
        """The characters of ``text`` that are not in the vocabulary, in order of first use."""
        return "".join(dict.fromkeys(ch for ch in text if ch not in self._index))

    @property
    def id_dtype(self) -> np.dtype:
        """The smallest unsigned dtype holding every id (uint8 for up to 256 symbols)."""
        return np.dtype(np.uint8 if self.size <= 1 << 8 else np.uint16 if self.size <= 1 << 16 else np.uint32)

    def encode(self, text: str, dtype: Any = np.int64) -> np.ndarray:
        """Ids of ``text`` as an array of ``dtype``; unknown characters raise ValueError naming them.

        Looks the code points up in a table, a few million characters at a time, so a long
        text costs little more memory than its ids.
        """
        out = np.empty(len(text), dtype=dtype)
        top = len(self._lut) - 1
        for start in range(0, len(text), _CHUNK):
            chunk = text[start : start + _CHUNK]
            if chunk.isascii():  # a byte a character: a quarter of the copying
                codes = np.frombuffer(chunk.encode("ascii"), dtype=np.uint8)
            else:
                codes = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            ids = self._lut[np.minimum(codes, top) if top < np.iinfo(codes.dtype).max else codes]
            if ids.size and ids.min() < 0:
                raise ValueError(f"characters not in the vocabulary: {self.unknown(chunk)!r}")
            out[start : start + len(chunk)] = ids
        return out

    def encode_open(self, text: str) -> np.ndarray:
        """Ids of ``text`` as int64, with -1 for every character not in the vocabulary."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return self._lut[np.minimum(codes, len(self._lut) - 1)].astype(np.int64)

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def decode_rows(self, ids: np.ndarray, lengths: np.ndarray) -> list[str]:
        """Decode row ``i`` of ``ids`` (N, L) up to ``lengths[i]``, all rows at once.

        Builds an (N, L) array of code points and reads it as N fixed-width strings;
        NumPy drops the zero padding. (A NUL character at the end of an item would be
        dropped too; names and texts do not end in NUL.)
        """
        N, L = ids.shape
        if L == 0:
            return [""] * N
        codes = np.fromiter(map(ord, self.chars), dtype=np.uint32, count=len(self.chars))[ids]  # (N, L)
        codes[np.arange(L) >= lengths[:, None]] = 0
        return np.ascontiguousarray(codes).view(f"<U{L}").ravel().tolist()
