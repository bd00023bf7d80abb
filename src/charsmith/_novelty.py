"""Novelty: whether an item is one of the training items, told by 64-bit hashes.

A checkpoint keeps the sorted hashes of its training items (:func:`item_hashes`), not the
items, and tells known items from novel ones (:func:`is_known`), or from near ones, one
edit away (:func:`is_near_known`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["is_known", "is_near_known", "item_hashes"]

def item_hashes(items: Sequence[str]) -> np.ndarray:
    """Sorted unique 64-bit hashes of ``items``: lets a checkpoint tell known items from novel
    ones without storing the training data itself."""
    return np.unique(_hashes(items))


def _hashes(items: Sequence[str]) -> np.ndarray:
    """(N,) uint64: each item's 8-byte BLAKE2b digest, little-endian."""
    digests = (hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest() for s in items)
    return np.fromiter((int.from_bytes(d, "little") for d in digests), dtype=np.uint64, count=len(items))


def is_known(items: Sequence[str], known: np.ndarray) -> np.ndarray:
    """Boolean (N,): which ``items`` have their hash in the sorted ``known`` array."""
    if len(items) == 0 or known.size == 0:
        return np.zeros(len(items), dtype=bool)
    h = _hashes(items)
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
