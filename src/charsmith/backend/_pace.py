"""How many threads run a split call: all of its blocks' threads, or the caller alone.

Two threads are faster than one only while both have a core. When another process holds one
of them, a thread can be taken off its core in the middle of a block, and the others wait for
it. So each call site (a kernel at a size) keeps the recent time per unit of work of both ways
and runs the faster. The way in use is timed on every call (a running average, each time
counted at most three times the average, so one hiccup does not decide); the other way is
tried now and then, for a few calls whose mean replaces its time. A try that changes the
choice is followed by the next soon; otherwise, and when the way in use turns out slower
after all, the interval between tries doubles, up to a limit, and is long enough in any case
for the tries to cost at most a small share of the time. A mean over a few calls, not one
call, since on a busy core two threads are fast or very slow by luck; and a way must be
faster by a margin to be chosen.

Only who runs the blocks changes, never the blocks themselves, so the numbers a call returns
do not depend on what was measured (see run_split in kernels.c).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

__all__ = ["Pace"]

FIRST_TRY = 4  # calls before the first try of the other way, and after a change of mind
MAX_INTERVAL = 512  # calls between tries at most
TRY_CALLS = 3  # calls in a try
ALPHA = 0.3  # weight of a new time in the running average
CLIP = 3.0  # a time counts at most this many times the running average
MARGIN = 0.95  # after a try, the way tried is chosen when its time is below this share of the other's
DROP = 0.6  # between tries, the way in use is dropped when the other's time is below this share of its
BUDGET = 0.02  # the share of the time that tries of a slower way may cost


class _Site:
    __slots__ = ("best", "countdown", "interval", "sum", "time", "tried", "warm")

    def __init__(self) -> None:
        self.time = [math.nan, math.nan]  # per unit of work: [all threads, the caller alone]
        self.best = 0  # the way in use: 0 all threads, 1 alone
        self.countdown = self.interval = FIRST_TRY  # calls until the next try
        self.tried, self.sum = 0, 0.0  # calls and time of the try under way
        self.warm = False  # the first call (waking threads, first touches) is not timed

    def choose(self, way: int, *, tried: bool) -> None:
        """Use ``way`` from now on; ``tried``: the choice follows a try."""
        if way != self.best and tried:
            self.interval = FIRST_TRY
        else:
            self.interval = min(2 * self.interval, MAX_INTERVAL)
        self.best = way
        ours, other = self.time[way], self.time[1 - way]
        cost = TRY_CALLS * (other / ours - 1) if ours > 0 else 0.0  # of a try, in calls of the way in use
        spacing = int(cost / BUDGET) if cost > 0 else 0  # (nan: the other way is not timed yet)
        self.countdown = max(self.interval, min(spacing, MAX_INTERVAL))


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
        way = s.best if s.countdown > 0 else 1 - s.best
        return n if way == 0 else 1

    def record(self, site: Hashable, n: int, used: int, seconds: float, work: float) -> None:
        """Note that a call at ``site`` (budget ``n``) ran on ``used`` threads in ``seconds``."""
        s = self._sites[site]
        if not s.warm:
            s.warm = True
            return
        way, t = (0 if used == n else 1), seconds / work
        if way == s.best:
            old = s.time[way]
            s.time[way] = t if math.isnan(old) else old + ALPHA * (min(t, CLIP * old) - old)
            s.countdown -= 1
            if s.time[1 - way] < DROP * s.time[way]:  # the way in use got much slower (nan: never tried)
                s.choose(1 - way, tried=False)
            return
        s.tried, s.sum = s.tried + 1, s.sum + t  # a call of a try
        if s.tried < TRY_CALLS:
            return
        s.time[way] = s.sum / s.tried
        s.tried, s.sum = 0, 0.0
        s.choose(way if s.time[way] < MARGIN * s.time[s.best] else s.best, tried=True)
