"""How many threads run a split call: all of its blocks' threads, or the caller alone.

Two threads are faster than one only while both have a core. When another process holds one
of them, a thread can be taken off its core in the middle of a block, and the others wait for
it (a training step of GRU H128 B32 ran at 0.29x its single-thread speed). So each call site
(a kernel at a size) keeps the recent time per unit of work of both ways, runs the faster,
and now and then tries the other again: soon after a change of mind, rarely once the same
answer keeps coming back (the interval doubles up to a limit).

Only who runs the blocks changes, never the blocks themselves, so the numbers a call returns
do not depend on what was measured (see run_split in kernels.c).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

__all__ = ["Pace"]

FIRST_PROBE = 4  # calls before the first try of the other way
MAX_INTERVAL = 256  # calls between tries at most
ALPHA = 0.3  # weight of a new time in a way's running estimate


class _Site:
    __slots__ = ("best", "countdown", "interval", "time", "warm")

    def __init__(self) -> None:
        self.time = [math.nan, math.nan]  # per unit of work: [all threads, the caller alone]
        self.best = 0  # the way to use: 0 all, 1 alone
        self.countdown = FIRST_PROBE
        self.interval = FIRST_PROBE
        self.warm = False  # the first call (waking threads, first touches) is not timed


class Pace:
    """Per-site choice between ``n`` threads and one; ``clock`` is replaceable for tests."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._sites: dict[Hashable, _Site] = {}
        self.clock = clock

    def threads(self, site: Hashable, n: int) -> int:
        """How many threads (``n`` or 1) the next call at ``site`` should use."""
        s = self._sites.get(site)
        if s is None:
            s = self._sites[site] = _Site()
        if s.countdown > 0:
            return n if s.best == 0 else 1
        return 1 if s.best == 0 else n  # a try of the other way

    def record(self, site: Hashable, n: int, used: int, seconds: float, work: float) -> None:
        """Note that a call at ``site`` (budget ``n``) ran on ``used`` threads in ``seconds``."""
        s = self._sites[site]
        if not s.warm:
            s.warm = True
            return
        way, new = (0 if used == n else 1), seconds / work
        tried = s.countdown <= 0
        old = s.time[way]
        s.time[way] = new if tried or math.isnan(old) else old + ALPHA * (new - old)  # a try replaces a stale time
        best = 1 if s.time[1] < s.time[0] else 0  # nan compares false: all threads until measured
        if tried:  # try again soon after a change of mind, else later
            s.interval = FIRST_PROBE if best != s.best else min(2 * s.interval, MAX_INTERVAL)
            s.countdown = s.interval
        else:
            s.countdown -= 1
        s.best = best
