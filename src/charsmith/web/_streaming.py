"""A text continuation streamed from a worker thread to the event loop.

The whole continuation runs as one job on the worker pool (it queues once, like any other
request, and keeps its worker until done); each piece is handed to the event loop as it is
drawn. If the client goes away, the job stops at the next character.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from typing import Any

from charsmith._deadline import stop_on
from charsmith.errors import TimeLimitError

__all__ = ["TextStream"]

PIECE_CHARS = 64  # a piece is at most this many characters ...
PIECE_SECONDS = 0.05  # ... or what this much time gives


class TextStream:
    """Runs ``start()`` (which checks the request and returns an iterator of characters) and
    then the iterator on ``pool``; :meth:`begin` waits for ``start`` (raising what it
    raised), :meth:`messages` gives {"text": piece} ... then {"done": true, "length": n},
    or {"error": ..., "limit": "seconds"} when the time limit ends it."""

    def __init__(self, pool: Executor, start: Callable[[], Iterator[str]], over_time: str,
                 *stops: threading.Event) -> None:  # fmt: skip
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._stop = threading.Event()
        self._stops = (self._stop, *stops)  # any of them ends the work (the deadlines made in it)
        self._over_time = over_time
        self._future = pool.submit(self._run, start)

    def _put(self, kind: str, value: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # the event loop has closed: nobody is listening
            self._stop.set()

    def _run(self, start: Callable[[], Iterator[str]]) -> None:
        with stop_on(*self._stops):
            self._work(start)

    def _work(self, start: Callable[[], Iterator[str]]) -> None:
        if self._stop.is_set():
            return
        try:
            chars = start()
        except BaseException as e:  # noqa: BLE001 (re-raised on the event loop)
            self._put("raise", e)
            return
        self._put("started", None)
        sent = 0
        try:
            for piece in self._pieces(chars):
                sent += len(piece)
                self._put("message", {"text": piece})
        except TimeLimitError:
            self._put("message", {"error": self._over_time, "limit": "seconds"})
        except BaseException as e:  # noqa: BLE001
            self._put("raise", e)
        else:
            self._put("message", {"done": True, "length": sent})

    def _pieces(self, chars: Iterator[str]) -> Iterator[str]:
        piece: list[str] = []
        until = time.monotonic() + PIECE_SECONDS
        for ch in chars:
            if self._stop.is_set():
                return
            piece.append(ch)
            if len(piece) >= PIECE_CHARS or time.monotonic() > until:
                yield "".join(piece)
                piece, until = [], time.monotonic() + PIECE_SECONDS
        if piece:
            yield "".join(piece)

    async def begin(self) -> None:
        """Wait until the continuation has started; raise what ``start`` raised."""
        try:
            kind, value = await self._queue.get()
        except BaseException:
            self.close()
            raise
        if kind == "raise":
            raise value

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                kind, value = await self._queue.get()
                if kind == "raise":
                    raise value
                yield value
                if "text" not in value:
                    return
        finally:
            self.close()

    def close(self) -> None:
        """Stop the job (at its next character) or drop it if it has not started."""
        self._stop.set()
        self._future.cancel()
