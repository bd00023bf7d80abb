"""The stratified split of ``names_by_language`` that every language benchmark shares.

    from lang_split import split, write_tsv
    train, test = split(data_dir)            # lists of (category, name), 10% of each file held out
    write_tsv(train, "train.tsv")            # category<TAB>name lines, charsmith's labelled format

Each category's non-blank lines are shuffled with a generator seeded by ``seed`` and the
category's position in sorted order, and ``round(fraction * n)`` of them (at least one) are
held out. Lines are split as they come: the files repeat many names, so held-out names also
occur in training (``overlap`` counts them per category). Names are kept as written.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["SEED", "categories", "overlap", "split", "write_tsv"]

SEED = 20261126
Pair = tuple[str, str]  # (category, name)


def categories(data_dir: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Category (file stem) -> its non-blank, stripped lines, in file order."""
    folder = Path(data_dir) / "names_by_language"
    out = {}
    for path in sorted(folder.glob("*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        out[path.stem] = [s for s in (ln.strip() for ln in lines) if s]
    if not out:
        raise FileNotFoundError(f"no *.txt files in {folder}")
    return out


def split(data_dir: str | os.PathLike[str], *, seed: int = SEED, fraction: float = 0.1) -> tuple[list[Pair], list[Pair]]:
    """(train, test) pairs; ``fraction`` of every category held out, reproducibly by ``seed``."""
    train: list[Pair] = []
    test: list[Pair] = []
    for k, (cat, names) in enumerate(categories(data_dir).items()):
        order = np.random.default_rng([seed, k]).permutation(len(names))
        n_test = min(max(round(fraction * len(names)), 1), len(names) - 1)
        test += [(cat, names[i]) for i in order[:n_test]]
        train += [(cat, names[i]) for i in order[n_test:]]
    return train, test


def overlap(train: list[Pair], test: list[Pair]) -> dict[str, tuple[int, int]]:
    """Category -> (held-out names that also occur in that category's training names, held-out names)."""
    seen: dict[str, set[str]] = {}
    for cat, name in train:
        seen.setdefault(cat, set()).add(name)
    counts: dict[str, list[int]] = {}
    for cat, name in test:
        c = counts.setdefault(cat, [0, 0])
        c[0] += name in seen.get(cat, set())
        c[1] += 1
    return {cat: (a, b) for cat, (a, b) in sorted(counts.items())}


def write_tsv(pairs: list[Pair], path: str | os.PathLike[str]) -> None:
    """``category<TAB>name`` lines, charsmith's labelled-file format."""
    Path(path).write_text("".join(f"{c}\t{n}\n" for c, n in pairs), encoding="utf-8")


if __name__ == "__main__":
    import sys

    here = Path(__file__).resolve().parents[2] / "shared" / "data"
    tr, te = split(sys.argv[1] if len(sys.argv) > 1 else here)
    ov = overlap(tr, te)
    print(f"{len(tr)} training names, {len(te)} held out; "
          f"{sum(a for a, _ in ov.values())} held-out names also in training")
    for cat, (a, b) in ov.items():
        print(f"  {cat:<12} {a:>4} of {b:>4} held-out names also in training")
