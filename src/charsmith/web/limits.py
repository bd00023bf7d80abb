"""What one request may ask of the server.

A request over a limit is refused with a 4xx that names the limit; nothing is silently
clamped. The time limit covers the computing a request does once it has a worker.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from charsmith.errors import InputError
from charsmith.request import LENGTH, Generate

if TYPE_CHECKING:
    from charsmith.api import CharModel

__all__ = ["LimitError", "Limits"]


class LimitError(InputError):
    """A request over one of the server's limits: ``limit`` names it (a field of
    :class:`Limits`), ``param`` the request's parameter it bounds."""

    def __init__(self, message: str, *, limit: str, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.limit = limit

    def __reduce__(self) -> tuple[object, ...]:  # the limit survives pickling too
        return (_limit_error, (str(self), self.limit, self.param))


def _limit_error(message: str, limit: str, param: str | None) -> LimitError:
    return LimitError(message, limit=limit, param=param)


@dataclass(frozen=True)
class Limits:
    """Per-request limits of the web API (and how many requests compute at once)."""

    max_n: int = 100  # items per /api/sample
    max_len: int = 64  # longest item (max_len) per /api/sample
    max_beam: int = 32  # beam width per /api/sample
    max_items: int = 100  # items per /api/score
    max_item_chars: int = 200  # characters per scored item
    max_length: int = 2000  # characters added per /api/complete
    max_prompt: int = 2000  # characters of a prompt
    seconds: float = 10.0  # computing time per request
    max_body: int = 65536  # bytes per request body
    workers: int = 4  # requests computing at once; the others wait for a worker
    max_train_items: int = 5000  # items of a list pasted to train on (/api/train)
    max_trainings: int = 1  # trainings at once
    train_seconds: float = 60.0  # a training's time for choosing its model (past 3/4 of it, the n-gram model)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = float if f.name in ("seconds", "train_seconds") else int
            if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
                raise TypeError(f"Limits.{f.name} must be {'a number' if kind is float else 'an integer'}, got {value!r}")
            if not 0 < value < math.inf:
                raise ValueError(f"Limits.{f.name} must be positive and finite, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check(self, limit: str, value: int, what: str, param: str | None = None) -> None:
        """Refuse ``value`` (``what`` it is, the request's ``param``) if it is over ``self.<limit>``."""
        cap = getattr(self, limit)
        if value > cap:
            raise LimitError(f"{what} is {value}, over this server's limit of {cap} ({limit})", limit=limit,
                             param=param)

    def check_generate(self, ask: Generate, model: CharModel) -> None:
        """A request for new items within ``max_n``, ``max_len`` and ``max_beam``."""
        self.check("max_n", ask.count(model.mode), "n", "n")
        if ask.max_len is not None:
            self.check("max_len", ask.max_len, "max_len", "max_len")
        if ask.beam is not None:
            self.check("max_beam", ask.beam, "beam", "beam")

    def check_completion(self, prompt: str, length: int | None) -> None:
        """A text's continuation within ``max_length`` (``length``, None: the library's
        default) and ``max_prompt``."""
        self.check("max_length", LENGTH if length is None else length, "length", "length")
        self.check("max_prompt", len(prompt), "the prompt's length", "prompt")

    def check_items(self, items: list[str], what: str) -> None:
        """Items to score or classify (``what``): some, within ``max_items`` and ``max_item_chars``."""
        if not items:
            raise InputError(f"nothing to {what}: 'items' is empty")
        self.check("max_items", len(items), "the number of items", "items")
        self.check("max_item_chars", max(map(len, items)), "the longest item's length", "items")
