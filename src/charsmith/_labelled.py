"""Labelled items: a folder with one file per category, or a file of ``category<TAB>item`` lines.

In a folder the category is the file's stem (hidden files are skipped); a file is labelled
when at least half of its first lines have a TAB.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charsmith._reading import check_lengths, fingerprint, read_chunks, read_items, read_text, split_lines
from charsmith.categories import check_name, nfc
from charsmith.errors import CategoryError, DataError
from charsmith.limits import MAX_CATEGORIES

__all__ = ["Labelled", "is_labelled", "read_file_items", "read_labelled"]

SNIFF_LINES = 100  # the first lines that tell a labelled file from a plain list

@dataclass(frozen=True)
class Labelled:
    """Items with a category each. names: the categories, sorted; cats (N,): each item's id."""

    names: tuple[str, ...]
    items: list[str]
    cats: np.ndarray
    fingerprint: str


def is_labelled(path: str | os.PathLike[str], text: str | None = None) -> bool:
    """A folder, or a file at least half of whose first ``SNIFF_LINES`` non-blank lines have a TAB
    (read from ``text`` when given, else from the file's first piece): a header or a comment
    on the first line does not make a labelled file a plain list (reading it then names
    that line)."""
    if Path(path).is_dir():
        return True
    if text is None:
        text = next(read_chunks(path), "")
    lines = list(itertools.islice((ln for ln in text.split("\n") if ln.strip()), SNIFF_LINES))
    return bool(lines) and 2 * sum("\t" in ln for ln in lines) >= len(lines)


def read_file_items(path: str | os.PathLike[str]) -> tuple[list[str], list[str] | None]:
    """The items of a file (or folder) to score or classify, as written: one a line, and
    their categories when it is labelled (``category<TAB>item`` lines or a folder of
    category files), else None."""
    text = None if Path(path).is_dir() else read_text(path)
    if not is_labelled(path, text):
        return read_items(path, text), None
    lab = read_labelled(path, lowercase=False, text=text)
    return lab.items, [lab.names[k] for k in lab.cats]


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
        name = nfc(f.stem)  # as typed, not as the file system may spell it
        if name in seen:
            raise DataError(f"{seen[name].name} and {f.name} in {folder} name the same category; "
                            "keep one file per category")
        seen[name] = f
        try:
            check_name(name, str(f))
        except CategoryError as e:
            raise DataError(str(e)) from None
        items = split_lines(read_text(f), lowercase=False, source=str(f))
        pairs += [(name, s) for s in items]
    return pairs


def _read_tsv(path: Path, text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    numbers: list[int] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        cat, tab, item = line.partition("\t")
        cat, item = nfc(cat.strip()), item.strip()
        if not tab or not cat or not item or "\t" in item:
            raise DataError(f"{path}: line {number} is not category<TAB>item: {line[:60]!r}; write each line as a "
                            "category, one TAB, then the item (or pass `mode=text` to read running text)")
        try:
            check_name(cat, f"{path}: line {number}")
        except CategoryError as e:
            raise DataError(str(e)) from None
        pairs.append((cat, item))
        numbers.append(number)
    check_lengths([s for _, s in pairs], str(path), numbers)
    return pairs
