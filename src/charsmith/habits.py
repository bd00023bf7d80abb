"""A list's casing habits, and the mask that keeps samples to them.

A list of names has habits that a model started from a broad base (or a small model that
saw few items) may break now and then: every item starts with a capital, or none does;
no item has a capital after a letter ("McDonald" has one, "Jean-Luc" and "O'Neil" do
not). :func:`casing_of` reads them from the training items; the trainer records them in
the checkpoint (``info["casing"]``) and sampling honours them through :func:`casing_bias`,
a table of logit offsets by previous character that a :class:`~charsmith.generation.stepper.Stepper`
adds to every step's logits: ``logits += bias[x]`` for the previous id ``x`` (the end
token before the first character), 0 where a character may follow, -inf where it may not:

- after the end token (the first character): a letter of a case that no item starts with;
- after a letter: a capital, when no item has a capital after a letter.

Only letters are ever masked (the end token and other symbols never are), so every row
keeps an allowed character.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from charsmith.vocab import END, Vocab

__all__ = ["capital_after_letter", "case_of", "casing_bias", "casing_of"]


def case_of(ch: str) -> str:
    """"upper", "lower" or "other" (not a cased letter, or the empty string)."""
    return "upper" if ch.isupper() else "lower" if ch.islower() else "other"


def capital_after_letter(s: str) -> bool:
    """Whether ``s`` has a capital right after a letter ("McDonald", not "Jean-Luc")."""
    return any(b.isupper() and a.isalpha() for a, b in itertools.pairwise(s))


def casing_of(items: Iterable[str]) -> dict[str, Any]:
    """The casing habits of ``items``: ``first``, the cases ("upper", "lower", "other") their
    first characters have, sorted; ``capital_after_letter``, whether any has a capital right
    after a letter."""
    first: set[str] = set()
    after = False
    for s in items:
        if s:
            first.add(case_of(s[0]))
            after = after or capital_after_letter(s)
    return {"first": sorted(first), "capital_after_letter": after}


def casing_bias(vocab: Vocab, casing: Mapping[str, Any] | None) -> np.ndarray | None:
    """The (V, V) logit offsets, row = previous id, that keep samples to ``casing`` (see the
    module docstring); None when nothing is masked (or no habits were recorded)."""
    if not casing:
        return None
    case = np.array([case_of(ch) if ch != END else "end" for ch in vocab.chars])
    letter = np.isin(case, ("upper", "lower"))
    bias = np.zeros((vocab.size, vocab.size), dtype=np.float32)
    first = set(casing["first"])
    if first:  # a list whose items all start with a capital (or none does)
        bias[0, letter & ~np.isin(case, sorted(first))] = -np.inf
    if not casing["capital_after_letter"]:
        bias[np.ix_(letter, case == "upper")] = -np.inf
    return bias if np.isinf(bias).any() else None
