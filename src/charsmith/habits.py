"""What a list's items habitually look like, kept by the samples: its alphabet and its casing.

At training time :func:`of_items` notes the characters the items use and three casing habits:
whether a capital follows a letter inside an item ("McDonald" yes; "Dublin", "Jean-Luc"
and "O'Neil" no), whether an item starts with a small letter, and whether one starts with a
capital, each in at least ``SHARE`` (1%) of the items: a stray "StrakaO" among 500 Czech
names, or dinosaur names run together ("DidanodonDilong", 10 of 1,536), is a slip of the
data, not a habit (samples of a mixture's small categories copied such slips 4 times as often
as the network alone). Generation then leaves out (through the
:class:`~charsmith.generation.Stepper`'s ``allowed`` mask, for every model kind) a character
the list never uses (a start from a broad base knows more), a capital right after a letter,
or a first letter of a case no item starts with, when the list shows none. Only letters are
ever left out for their case, and the end token never is. Scoring is untouched: these rules
shape what is written, not the model's probabilities.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from charsmith.vocab import END, Vocab

__all__ = ["SHARE", "allowed_next", "of_items"]

SHARE = 0.01  # the share of the items that makes a casing a habit


def capital_after_letter(s: str) -> bool:
    """Whether ``s`` has a capital right after a letter ("McDonald", not "Jean-Luc")."""
    return any(b.isupper() and a.isalpha() for a, b in itertools.pairwise(s))


def of_items(items: Sequence[str], *, alphabet: bool = True) -> dict[str, Any]:
    """The habits of ``items`` (JSON, kept in a checkpoint's info); without ``alphabet``,
    the casing habits only (a run asked to keep a base's other characters)."""
    def habit(shows: Any) -> bool:
        n = sum(map(shows, items))
        return n > 0 and n >= SHARE * len(items)

    found: dict[str, Any] = {
        "capital_inside": habit(capital_after_letter),
        "small_start": habit(lambda s: s[:1].islower()),
        "capital_start": habit(lambda s: s[:1].isupper()),
    }
    if alphabet:
        found["alphabet"] = "".join(sorted(set().union(*map(set, items)))) if items else ""
    return found


def unseen_casing(s: str, habits: dict[str, Any]) -> bool:
    """Whether ``s`` shows a casing that the items of ``habits`` (see :func:`of_items`) never
    do: what :func:`allowed_next` keeps samples from."""
    return ((not habits["capital_inside"] and capital_after_letter(s))
            or (not habits["small_start"] and s[:1].islower())
            or (not habits["capital_start"] and s[:1].isupper()))


def allowed_next(vocab: Vocab, habits: Any) -> np.ndarray | None:
    """(V, V) bool: may character id c follow id p (END: the start)? None without habits
    (an older checkpoint) or when they forbid nothing. The end token is always allowed.
    A habit missing from ``habits`` (recorded by an older charsmith) forbids nothing."""
    if not isinstance(habits, dict):
        return None
    chars = vocab.chars
    V = len(chars)
    ok = np.ones((V, V), dtype=bool)
    if isinstance(habits.get("alphabet"), str):
        ok[:, np.array([c not in habits["alphabet"] for c in chars])] = False
    upper = np.array([c.isupper() for c in chars])
    lower = np.array([c.islower() for c in chars])
    if not habits.get("capital_inside", True):
        ok[np.ix_(np.array([c.isalpha() for c in chars]), upper)] = False
    if not habits.get("small_start", True):
        ok[chars.index(END), lower] = False
    if not habits.get("capital_start", True):
        ok[chars.index(END), upper] = False
    ok[:, chars.index(END)] = True
    return None if ok.all() else ok
