"""Checks of one argument's type and range: an ``InputError`` naming the parameter, or the
value as the library uses it. Every check of a user's argument goes through these, so the
same mistake gets the same class and the same words wherever it is made."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from charsmith.errors import InputError

__all__ = ["bad", "flag", "is_int", "number", "optional_whole", "text", "texts", "timeout", "whole"]


def bad(name: str, want: str, value: Any) -> InputError:
    """The error for ``value`` given as ``name``, which must be ``want``."""
    shown = repr(value)
    return InputError(f"`{name}` must be {want}, got {shown if len(shown) <= 60 else shown[:57] + '...'}", param=name)


def is_int(value: Any) -> bool:
    """Whether ``value`` is an integer (a Python or NumPy one, not a bool)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def whole(name: str, value: Any, low: int) -> int:
    """``value`` as an int >= ``low``."""
    if not is_int(value) or value < low:
        raise bad(name, f"a whole number >= {low}", value)
    return int(value)


def optional_whole(name: str, value: Any, low: int) -> int | None:
    return None if value is None else whole(name, value, low)


def number(name: str, value: Any, want: str, ok: Callable[[float], bool]) -> float:
    """``value`` as a finite float for which ``ok`` holds; ``want`` says which."""
    if not (is_int(value) or isinstance(value, (float, np.floating))) or not math.isfinite(value) or not ok(value):
        raise bad(name, want, value)
    return float(value)


def timeout(value: Any) -> float | None:
    """A time limit: a positive number of seconds, or None for none."""
    return None if value is None else number("timeout", value, "a positive number of seconds", lambda v: v > 0)


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise bad(name, "a string", value)
    return value


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise bad(name, "True or False", value)
    return bool(value)


def texts(name: str, value: Any, what: str) -> list[str]:
    """A list of strings; a single string is one (as the web API reads it)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (Sequence, np.ndarray)) and all(isinstance(s, str) for s in value):
        return list(value)
    raise bad(name, f"{what} or a list of them", value)
