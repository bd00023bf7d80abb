"""Items with the figures shown beside them: bits per character and novelty.

:func:`rate` scores items and says which are new to the model's data set;
:func:`sample_rated` writes new items and rates them, within one time limit. The web API
returns their ``to_json()``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from charsmith._deadline import Deadline
from charsmith.categories import Condition
from charsmith.generation import SampleResult
from charsmith.request import Generate
from charsmith.scoring import LN2, ItemScore

if TYPE_CHECKING:
    from charsmith.api import CharModel

__all__ = ["RatedItem", "RatedSample", "rate", "sample_rated"]


@dataclass(frozen=True)
class RatedItem:
    """An item's score, and whether it is new: not in the model's data set (None: the model
    keeps no record of it)."""

    score: ItemScore
    novel: bool | None

    def to_json(self, *, chars: bool = False) -> dict[str, Any]:
        """Bits per character, log-probability, novelty; with ``chars`` the surprisal of
        each character in bits, the last for the end token."""
        s = self.score
        row: dict[str, Any] = {"item": s.item, "bits_per_char": round(s.bits_per_char, 4),
                               "logprob": round(s.logprob, 4), "novel": self.novel,
                               "unknown_chars": s.unknown_chars}  # fmt: skip
        if chars:
            row["surprisal_bits"] = [round(-lp / LN2, 3) for lp in s.char_logprobs]
        return row


@dataclass(frozen=True)
class RatedSample:
    """New items (``result``), each rated, and how many fewer were found than asked for."""

    result: SampleResult
    items: list[RatedItem]
    short_by: int

    def to_json(self) -> dict[str, Any]:
        """The rated items, ``short_by``, and the counts of sampling (drawn, dropped_known,
        dropped_duplicate) where items were sampled."""
        counts = {k: v for k, v in self.result.to_json().items() if k not in ("samples", "logprobs", "method",
                                                                               "acceptance")}  # fmt: skip
        return {"items": [r.to_json() for r in self.items], "short_by": self.short_by, **counts}


def rate(model: CharModel, items: list[str], *, category: Condition | None = None,
         deadline: Deadline | None = None) -> list[RatedItem]:  # fmt: skip
    """``items`` scored (under ``category``) and checked against the model's data set, by
    ``deadline`` (default: none)."""
    deadline = deadline or Deadline.after(None)
    scores = model.score(items, timeout=deadline.remaining(), category=category)
    known = model.is_known([s.item for s in scores])
    if known is None:
        return [RatedItem(s, None) for s in scores]
    return [RatedItem(s, not k) for s, k in zip(scores, known)]


def sample_rated(model: CharModel, ask: Generate) -> RatedSample:
    """The items ``ask`` writes on ``model``, rated; ``ask.timeout`` covers both."""
    deadline = Deadline.after(ask.timeout)
    found = dataclasses.replace(ask, timeout=deadline.remaining()).run(model)
    rated = rate(model, found.samples, category=ask.category, deadline=deadline)
    return RatedSample(found, rated, found.short_by(ask.count(model.mode)))
