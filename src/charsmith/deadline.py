"""A time limit for work done in steps: sampling, completion and scoring check it as they go.

    >>> d = Deadline.after(2.0)     # two seconds from now; Deadline.after(None) never expires
    >>> d.check()                   # raises TimeLimitError once the time is up
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from charsmith import checks
from charsmith.errors import TimeLimitError

__all__ = ["NEVER", "Deadline"]


@dataclass(frozen=True)
class Deadline:
    """Work must stop ``seconds`` after it started, at ``end`` on the ``time.monotonic`` clock."""

    seconds: float
    end: float

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        """A deadline ``seconds`` from now; None gives one that never expires."""
        seconds = checks.timeout(seconds)
        return NEVER if seconds is None else cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float | None:
        """Seconds left, to pass on as a ``timeout`` (None if it never expires). Once the time
        is up this is a nanosecond, so the next check fails."""
        return None if self.end == math.inf else max(self.end - time.monotonic(), 1e-9)

    def check(self) -> None:
        """Raise TimeLimitError if the time is up."""
        if time.monotonic() > self.end:
            raise TimeLimitError(f"stopped at the time limit of {self.seconds:g} s; ask for fewer or shorter items")


NEVER = Deadline(math.inf, math.inf)
