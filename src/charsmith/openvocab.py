"""Open vocabulary: the probability of a character the model never saw.

A model predicts the next symbol over its vocabulary (V symbols, end token included). For
scoring, evaluation and classification it also keeps an *unknown class*: the next character
is one outside the vocabulary with probability ``mass`` (u), and that mass is spread evenly
over an assumed outside alphabet of ``OUTSIDE`` characters:

    P(ch | history) = (1 - u) * softmax(logits)[ch]     for ch in the vocabulary
    P(ch | history) = u / OUTSIDE                       for any other character

so the known symbols and the unknown class sum to one. u does not depend on the history or
the category, so in classification an unknown character adds the same log u / OUTSIDE to
every category's likelihood: categories are compared on equal terms, by the characters
around it.

u is estimated when a model is trained, from its training file, by Good-Turing: the share
of the file's characters whose character occurs only once in it (the chance that the next
character is a new one), with one pseudo-count so a file without such characters keeps some
mass:

    u = (n1 + 1) / (N + 1)

n1: distinct characters that occur exactly once; N: characters, plus one end token per item
in lines mode. The checkpoint stores it; a checkpoint saved before (the bundled models among
them) gets ``LEGACY_MASS``, 1 in 10,000 characters (what the formula gives
``names_by_language``, 15 such characters in 163,686: 9.8e-5).

The character after an unknown one is predicted from a stand-in input: the unknown
character's base letter when Unicode decomposes it into one the model knows ("ń" is read as
"n"), else a zero input. Sampling writes only known characters (its distribution is the
known symbols' renormalised, i.e. the model's own softmax).
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from collections.abc import Iterable

import numpy as np

from charsmith.vocab import Vocab

__all__ = ["LEGACY_MASS", "OUTSIDE", "estimate_mass", "unknown_logprob"]

OUTSIDE = 65_536  # assumed size of the outside alphabet: the Basic Multilingual Plane
LEGACY_MASS = 1e-4  # the mass of a checkpoint saved without one


def estimate_mass(counts: Counter[str] | dict[str, int], n: int) -> float:
    """u = (n1 + 1) / (N + 1) from character ``counts`` and ``n`` = N (see the module docstring)."""
    n1 = sum(1 for c in counts.values() if c == 1)
    return (n1 + 1) / (n + 1)


def items_mass(items: Iterable[str]) -> float:
    """The mass of a list of items: N counts each item's characters and its end token."""
    counts: Counter[str] = Counter()
    n = 0
    for s in items:
        counts.update(s)
        n += len(s) + 1
    return estimate_mass(counts, n)


def ids_mass(ids: np.ndarray, size: int) -> float:
    """The mass of a running text given as ids over a vocabulary of ``size`` symbols."""
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=size)
    return estimate_mass({str(i): int(c) for i, c in enumerate(counts) if c}, int(counts.sum()))


def check_mass(mass: object) -> float:
    """``mass`` as a float in (0, 1), or ValueError."""
    if isinstance(mass, bool) or not isinstance(mass, (int, float)) or not 0 < mass < 1:
        raise ValueError(f"the unknown-character mass must be a number in (0, 1), got {mass!r}")
    return float(mass)


def unknown_logprob(mass: float) -> float:
    """log P(one given unknown character) = log(u / OUTSIDE)."""
    return math.log(mass / OUTSIDE)


def _stand_in(ch: str, vocab: Vocab) -> int:
    """The id read in place of unknown ``ch``: its decomposed base letter's, else -1 (zero input)."""
    base = unicodedata.normalize("NFKD", ch)[:1]
    return vocab.index(base) if base and base in vocab else -1


def encode_open(vocab: Vocab, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(targets, inputs), both (len(text),) int64: targets are the ids with -1 for every
    unknown character; inputs put each unknown character's stand-in there instead."""
    targets = vocab.encode_open(text)
    inputs = targets.copy()
    for i in np.flatnonzero(targets < 0):
        inputs[i] = _stand_in(text[i], vocab)
    return targets, inputs
