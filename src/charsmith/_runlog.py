"""A run's log, ``metrics.jsonl``: what it records, when, and reading it back.

One JSON object a line, of two kinds, told apart by ``"kind"``:

- ``"eval"``, an evaluation: ``step``, ``elapsed`` (seconds of training so far, evaluations
  included), ``train_loss`` (the smoothed training loss), ``val_loss`` (held-out nats/char;
  null without held-out data), ``val_chars`` (characters scored), ``lr``, ``chars_per_s``,
  ``eval_seconds`` (what the scoring and the previews took);
- ``"train"``, the training loss at a steady interval: ``step``, ``elapsed``, ``train_loss``
  (the mean over the ``steps`` steps since the previous such record), ``steps``, ``lr``,
  ``chars_per_s``.

Lines without ``kind`` (written by an older charsmith) are evaluations.

When (:class:`Clock`, whose state the resume state keeps):

- an evaluation every ``eval_every`` steps (steps alone decide in a run with a step limit
  or no limit, so that a resumed run evaluates at the same steps); with a time budget alone, also once
  ``EVAL_EVERY`` of it has passed since the last one, whichever comes first (so the first
  held-out loss comes at 5% of the budget), but never sooner than ``1 / MAX_EVAL_SHARE``
  times what the last evaluation took after its start, so that evaluations take at most a
  twentieth of the budget (but for the first and the last);
- a training record each time the run passes another ``1 / TRAIN_RECORDS`` of its limit
  (steps or time, whichever is nearer: with a step limit alone the records fall on the
  same steps in a resumed run), or every ``TRAIN_RECORD_SECONDS`` without a limit.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charsmith._fileio import atomic_write_text
from charsmith._rundir import METRICS_FILE
from charsmith._safeload import read_regular

__all__ = ["EVAL", "EVAL_EVERY", "MAX_EVAL_SHARE", "METRICS_FILE", "NOT_YET", "NOW", "ON_STEP", "TRAIN",
           "TRAIN_RECORDS", "TRAIN_RECORD_SECONDS", "Clock", "append", "eval_seconds", "mark", "read"]

EVAL, TRAIN = "eval", "train"  # the kinds of record
NOT_YET, ON_STEP, NOW = 0, 1, 2  # Clock.eval_due
EVAL_EVERY = 0.05  # with a time budget: the share of it between evaluations, at most
MAX_EVAL_SHARE = 0.05  # the most of the time evaluations made for the budget may take
TRAIN_RECORDS = 50  # training records over a run with a limit
TRAIN_RECORD_SECONDS = 10.0  # between training records of a run without a limit
MAX_LOG_BYTES = 1 << 28


@dataclass
class Clock:
    """When the next evaluation and training record are due. ``eval_step``: the step of the
    last evaluation (-1: none yet); ``eval_at``, ``eval_cost``: when it started (elapsed
    seconds) and what it took; ``mark``: the interval of the last training record;
    ``loss_sum``, ``loss_steps``: the training losses since then."""

    eval_step: int = -1
    eval_at: float = 0.0
    eval_cost: float = 0.0
    mark: int = 0
    loss_sum: float = 0.0
    loss_steps: int = 0

    def eval_due(self, elapsed: float, seconds: float) -> int:
        """What evaluating at least every ``seconds`` (0: by steps alone, see
        :func:`eval_seconds`) says at ``elapsed``: NOT_YET (too soon after the last
        evaluation for what it took), ON_STEP (at an ``eval_every`` step) or NOW."""
        if not seconds:
            return ON_STEP
        since = elapsed - self.eval_at
        if since < self.eval_cost / MAX_EVAL_SHARE:
            return NOT_YET
        return NOW if since >= seconds else ON_STEP

    def evaluated(self, step: int, at: float, cost: float) -> None:
        self.eval_step, self.eval_at, self.eval_cost = step, at, cost

    def add(self, loss: float) -> None:
        """Count a training step's loss."""
        self.loss_sum += loss
        self.loss_steps += 1

    def record_due(self, mark: int) -> bool:
        """Whether the run has reached a new interval ``mark`` (see :func:`mark`) with steps
        to record; if so, that interval is taken."""
        if mark <= self.mark or not self.loss_steps:
            return False
        self.mark = mark
        return True

    def train_record(self, step: int, elapsed: float, lr: float, chars_per_s: float) -> dict[str, Any]:
        """The training record of the steps since the last one (and start counting afresh)."""
        record = {"kind": TRAIN, "step": step, "elapsed": round(elapsed, 3),
                  "train_loss": self.loss_sum / self.loss_steps, "steps": self.loss_steps, "lr": lr,
                  "chars_per_s": round(chars_per_s, 1)}
        self.loss_sum, self.loss_steps = 0.0, 0
        return record

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any, step: int, eval_every: int) -> Clock:
        """The clock saved as ``data`` in a resume state at ``step``; a state saved before
        there was one (None) gets the step-based evaluation it had."""
        if data is None:
            return cls(eval_step=step - step % eval_every)
        clock = cls(**data)
        if not all(isinstance(getattr(clock, f.name), (int, float)) for f in dataclasses.fields(cls)):
            raise ValueError("bad log clock")
        return clock


def eval_seconds(minutes: float, steps: int = 0) -> float:
    """The most seconds between evaluations for a run bounded by ``minutes`` and ``steps``
    (0: none); 0 (by steps alone) unless time alone bounds the run: a step limit keeps the
    evaluations on their steps (a fine-tuning run's, say, whose minutes are only a cap)."""
    return 0.0 if steps else EVAL_EVERY * minutes * 60


def mark(progress: float, elapsed: float, bounded: bool) -> int:
    """The training-record interval a run is in: by ``progress`` (the share of its limit
    done) when it has a limit, else by ``elapsed`` seconds."""
    if bounded:
        return math.floor(progress * TRAIN_RECORDS + 1e-9)
    return math.floor(elapsed / TRAIN_RECORD_SECONDS)


def append(out_dir: str | os.PathLike[str], record: dict[str, Any]) -> None:
    """Add ``record`` as a line of ``out_dir``'s log."""
    with open(Path(out_dir) / METRICS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _lines(out_dir: str | os.PathLike[str]) -> list[str]:
    """The lines of ``out_dir``'s log; FileNotFoundError without one."""
    return read_regular(Path(out_dir) / METRICS_FILE, MAX_LOG_BYTES).decode("utf-8", "replace").splitlines()


def _record(line: str) -> dict[str, Any] | None:
    """The record a line of the log holds; None for a line that holds none (cut short by a crash)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and isinstance(record.get("step"), int) else None


def read(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``out_dir``'s log (``kind`` filled in), skipping lines that are not
    records (a line cut short by a crash). Raises FileNotFoundError without a log."""
    return [{"kind": EVAL, **r} for r in map(_record, _lines(out_dir)) if r is not None]


def trim(out_dir: str | os.PathLike[str], step: int) -> None:
    """Drop the lines of ``out_dir``'s log past ``step`` (written after the resume state
    was saved) and those that hold no record; the others stay as written."""
    try:
        lines = _lines(out_dir)
    except FileNotFoundError:
        return
    kept = [line + "\n" for line in lines if (r := _record(line)) is not None and r["step"] <= step]
    if len(kept) != len(lines):
        atomic_write_text(Path(out_dir) / METRICS_FILE, "".join(kept))
