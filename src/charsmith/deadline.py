"""A time limit for work done in steps: compiling constraints, sampling, completion, scoring
and classification check it as they go.

    >>> d = Deadline.after(2.0)     # two seconds from now; Deadline.after(None) never expires
    >>> d.check()                   # raises TimeLimitError once the time is up

A caller that may give up early (a web request whose client left, a server shutting down)
runs the work inside ``with stop_on(event):``; every deadline made there also ends when the
event is set, so the work stops at its next check.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from charsmith import checks
from charsmith.errors import TimeLimitError

__all__ = ["NEVER", "Deadline", "stop_on"]

_STOPS: contextvars.ContextVar[tuple[threading.Event, ...]] = contextvars.ContextVar("charsmith_stops", default=())


@contextlib.contextmanager
def stop_on(*events: threading.Event) -> Iterator[None]:
    """Deadlines made inside the block (in this thread or task) also end once any of
    ``events`` is set."""
    token = _STOPS.set(_STOPS.get() + events)
    try:
        yield
    finally:
        _STOPS.reset(token)


@dataclass(frozen=True)
class Deadline:
    """Work must stop ``seconds`` after it started, at ``end`` on the ``time.monotonic`` clock,
    or once one of ``stops`` is set."""

    seconds: float
    end: float
    stops: tuple[threading.Event, ...] = field(default=(), compare=False)

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        """A deadline ``seconds`` from now; None gives one that never expires (but for the
        events of an enclosing :func:`stop_on`)."""
        stops = _STOPS.get()
        seconds = checks.timeout(seconds)
        if seconds is None:
            return cls(math.inf, math.inf, stops) if stops else NEVER
        return cls(seconds, time.monotonic() + seconds, stops)

    def remaining(self) -> float | None:
        """Seconds left, to pass on as a ``timeout`` (None if it never expires). Once the time
        is up this is a nanosecond, so the next check fails."""
        return None if self.end == math.inf else max(self.end - time.monotonic(), 1e-9)

    def check(self) -> None:
        """Raise TimeLimitError if the time is up."""
        if time.monotonic() > self.end:
            raise TimeLimitError(f"stopped at the time limit of {self.seconds:g} s; ask for fewer or shorter items")
        if any(e.is_set() for e in self.stops):
            raise TimeLimitError("stopped: the work was cancelled")


NEVER = Deadline(math.inf, math.inf)
