"""A time limit for work done in steps: compiling constraints, sampling, completion, scoring
and classification check it as they go.

    >>> d = Deadline.after(2.0)     # two seconds from now; Deadline.after(None) never expires
    >>> d.check()                   # raises TimeLimitError once the time is up

A caller that may give up early (a web request whose client left, a server shutting down)
runs the work inside ``with stop_on(event):``; every deadline made there also ends when the
event is set, so the work stops at its next check. ``with time_limit(seconds):`` bounds all
the work of a block (the CLI's ``--timeout``) in the same way.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from charsmith import _checks
from charsmith.errors import TimeLimitError

__all__ = ["NEVER", "Deadline", "stop_on", "time_limit"]


class Stop(Protocol):
    def is_set(self) -> bool: ...


class _At:
    """A stop that sets itself at ``end`` on the ``time.monotonic`` clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.end = seconds, time.monotonic() + seconds

    def is_set(self) -> bool:
        return time.monotonic() > self.end


_STOPS: contextvars.ContextVar[tuple[Stop, ...]] = contextvars.ContextVar("charsmith_stops", default=())


@contextlib.contextmanager
def stop_on(*events: Stop) -> Iterator[None]:
    """Deadlines made inside the block (in this thread or task) also end once any of
    ``events`` (a ``threading.Event``, say) is set."""
    token = _STOPS.set(_STOPS.get() + events)
    try:
        yield
    finally:
        _STOPS.reset(token)


def time_limit(seconds: float | None) -> contextlib.AbstractContextManager[None]:
    """A block whose deadlines all end ``seconds`` from now (None: no limit of its own)."""
    if seconds is None:
        return contextlib.nullcontext()
    Deadline.after(seconds)  # the same check of the value
    return stop_on(_At(seconds))


@dataclass(frozen=True)
class Deadline:
    """Work must stop ``seconds`` after it started, at ``end`` on the ``time.monotonic`` clock,
    or once one of ``stops`` is set."""

    seconds: float
    end: float
    stops: tuple[Stop, ...] = field(default=(), compare=False)

    @classmethod
    def after(cls, seconds: float | None) -> Deadline:
        """A deadline ``seconds`` from now; None gives one that never expires (but for the
        events of an enclosing :func:`stop_on`)."""
        stops = _STOPS.get()
        seconds = _checks.timeout(seconds)
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
            raise _over(self.seconds)
        for stop in self.stops:
            if stop.is_set():
                raise _over(stop.seconds) if isinstance(stop, _At) else TimeLimitError("stopped: the work was cancelled")


def _over(seconds: float) -> TimeLimitError:
    return TimeLimitError(f"stopped at the time limit of {seconds:g} s (`timeout`); ask for fewer or shorter items, "
                          "or allow more time", param="timeout")


NEVER = Deadline(math.inf, math.inf)
