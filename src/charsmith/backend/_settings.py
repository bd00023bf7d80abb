"""The engine's environment variables and tuning knobs, read once when the default backend is
chosen. A value that cannot be read is ignored, and reported (as a
:class:`~charsmith.errors.CharsmithWarning`) by the caller."""

from __future__ import annotations

import dataclasses
import os

__all__ = ["OFF_WORDS", "ON_WORDS", "PACES", "SPLITS", "Settings", "Tuning", "read", "usable_cores"]

OFF_WORDS, ON_WORDS = ("0", "false", "no", "off"), ("1", "true", "yes", "on")
SPLITS = ("batch", "units")
PACES = ("adaptive", "all", "one")


@dataclasses.dataclass(frozen=True)
class Tuning:
    """When a compiled call is split over threads, and how.

    A call is cut into blocks, at most one per thread of the budget and only as many as its
    size pays for (threads cost microseconds to wake and meet): ``min_work`` B*H*G per block
    for the recurrence, ``min_matmul`` M*N*K for a matmul and the sampling step,
    ``min_elements`` for Adam and the scatter, ``min_head_cols`` positions for the output
    layer. The recurrence splits the batch when each block gets ``min_cols`` columns, else
    the hidden units (``split`` forces one way: "batch" or "units"). ``pace`` says how many
    threads run the blocks: "adaptive" (all of them, or the caller alone where that has been
    measured faster, e.g. while another process holds a core), "all" or "one". The blocks,
    and so the numbers, depend on the budget and the sizes only, never on the pace."""

    min_work: int = 1 << 19
    min_matmul: int = 1 << 22
    min_elements: int = 1 << 18
    min_head_cols: int = 512
    min_cols: int = 64
    split: str = ""
    pace: str = "adaptive"

    def __post_init__(self) -> None:
        for name in ("min_work", "min_matmul", "min_elements", "min_head_cols", "min_cols"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.split not in ("", *SPLITS):
            raise ValueError(f"split must be one of {', '.join(SPLITS)} (or empty), got {self.split!r}")
        if self.pace not in PACES:
            raise ValueError(f"pace must be one of {', '.join(PACES)}, got {self.pace!r}")


@dataclasses.dataclass(frozen=True)
class Settings:
    native: str  # CHARSMITH_NATIVE, lowercased ("" if unset)
    native_raw: str
    threads: int  # CHARSMITH_THREADS (0: unset)
    isa: str  # CHARSMITH_ISA ("" if unset)
    tuning: Tuning


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        return os.cpu_count() or 1


def read(isas: tuple[str, ...]) -> tuple[Settings, list[str]]:
    """The settings from the environment, and a line for each value that could not be read."""
    problems: list[str] = []

    def integer(name: str, default: int, low: int = 1) -> int:
        raw = os.environ.get(name, "").strip()
        if not raw:
            return default
        if raw.isdigit() and int(raw) >= low:
            return int(raw)
        what = "a positive integer" if low == 1 else f"an integer >= {low}"
        problems.append(f"{name}={raw!r} is not {what}; ignored, using the default")
        return default

    def choice(name: str, choices: tuple[str, ...]) -> str:
        raw = os.environ.get(name, "").strip().lower()
        if raw and raw not in choices:
            problems.append(f"{name}={raw!r} is not one of {', '.join(choices)}; ignored")
            return ""
        return raw

    base = Tuning()
    tuning = Tuning(
        min_work=integer("CHARSMITH_MIN_WORK", base.min_work),
        min_matmul=integer("CHARSMITH_MIN_MATMUL", base.min_matmul),
        min_cols=integer("CHARSMITH_MIN_COLS", base.min_cols),
        split=choice("CHARSMITH_SPLIT", SPLITS),
    )
    settings = Settings(
        native=choice("CHARSMITH_NATIVE", OFF_WORDS + ON_WORDS),
        native_raw=os.environ.get("CHARSMITH_NATIVE", "").strip(),
        threads=integer("CHARSMITH_THREADS", 0, low=0),
        isa=choice("CHARSMITH_ISA", isas),
        tuning=tuning,
    )
    return settings, problems
