"""What a list's items habitually look like, kept by the samples: its alphabet and its casing.

At training time :func:`of_items` notes the characters the items use and two casing habits:
whether a capital ever follows a letter inside an item ("McDonald" yes, "Dublin" no), and
whether an item ever starts with a small letter. Generation then leaves out (through the
:class:`~charsmith.generation.Stepper`, for every model kind) a character the list never uses
(a start from a broad base knows more), a capital right after a letter, or a small first
letter, when the list shows none. Scoring is untouched: these rules shape what is written,
not the model's probabilities.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from charsmith.vocab import END, Vocab

__all__ = ["allowed_next", "of_items"]


def of_items(items: Sequence[str]) -> dict[str, Any]:
    """The habits of ``items`` (JSON, kept in a checkpoint's info)."""
    return {
        "alphabet": "".join(sorted(set().union(*map(set, items)))) if items else "",
        "capital_inside": any(b.isupper() and a.isalpha() for s in items for a, b in itertools.pairwise(s)),
        "small_start": any(s[:1].islower() for s in items),
    }


def allowed_next(vocab: Vocab, habits: Any) -> np.ndarray | None:
    """(V, V) bool: may character id c follow id p (END: the start)? None without habits
    (an older checkpoint) or when they forbid nothing. The end token is always allowed."""
    if not isinstance(habits, dict) or not isinstance(habits.get("alphabet"), str):
        return None
    chars = vocab.chars
    V = len(chars)
    ok = np.ones((V, V), dtype=bool)
    ok[:, np.array([c not in habits["alphabet"] for c in chars])] = False
    upper = np.array([c.isupper() for c in chars])
    lower = np.array([c.islower() for c in chars])
    if not habits.get("capital_inside", True):
        ok[np.ix_(np.array([c.isalpha() for c in chars]), upper)] = False
    if not habits.get("small_start", True):
        ok[chars.index(END), lower] = False
    ok[:, chars.index(END)] = True
    return None if ok.all() else ok
