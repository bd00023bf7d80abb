"""The JSON requests the API takes: their fields, types and defaults, and the limits.

Types are checked here (JSON has no argparse); the values' rules (temperature > 0, a
prefix in the model's alphabet, ...) and the defaults are the library's
(``charsmith.request``), so the API and the CLI agree. A field that is absent or null takes
the library's default (None here; ``top`` the library's ``SHOWN_CATEGORIES``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from charsmith.request import SHOWN_CATEGORIES

__all__ = ["CLASSIFY", "COMPLETE", "SAMPLE", "SCORE", "RequestError", "parse", "parse_body"]


class RequestError(Exception):
    """A request the server refuses: HTTP ``status``, a one-line message, and the limit
    it broke, if that was the reason."""

    def __init__(self, status: int, message: str, limit: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.limit, self.param = status, message, limit, param


Check = Callable[[str, Any], Any]
REQUIRED = object()


def _type_error(key: str, want: str, value: Any) -> RequestError:
    return RequestError(400, f"{key!r} must be {want}, got {json.dumps(value)[:60]}", param=key)


def integer(key: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise _type_error(key, "an integer", v)
    return v


def number(key: str, v: Any) -> float:
    """A finite number, as JSON wrote it (the library's messages show what was sent)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _type_error(key, "a finite number", v)
    return v


def text(key: str, v: Any) -> str:
    if not isinstance(v, str):
        raise _type_error(key, "a string", v)
    return v


def flag(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _type_error(key, "true or false", v)
    return v


def texts(key: str, v: Any) -> list[str]:
    """A list of strings (a single string counts as a list of one)."""
    if isinstance(v, str):
        return [v]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise _type_error(key, "a list of strings", v)
    return v


def category(key: str, v: Any) -> str | dict[str, float]:
    """A category name, "A=0.7,B=0.3", or {"A": 0.7, "B": 0.3}."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in v.values()):
        return {k: float(w) for k, w in v.items()}
    raise _type_error(key, 'a category name or an object of weights such as {"A": 0.7, "B": 0.3}', v)


Spec = dict[str, tuple[Check, Any]]

_CONTROLS: Spec = {
    "model": (text, REQUIRED),
    "temperature": (number, None),
    "top_k": (integer, None),
    "top_p": (number, None),
    "seed": (integer, None),
}
SAMPLE: Spec = {
    **_CONTROLS,
    "n": (integer, None),
    "prefix": (text, ""),
    "min_len": (integer, None),
    "max_len": (integer, None),
    "unique": (flag, False),
    "allow_known": (flag, False),
    "novel_edits": (integer, None),  # 1: also drop items one edit from one of the data set
    "beam": (integer, None),
    "category": (category, None),
    "suffix": (text, None),
    "contains": (texts, None),
    "exclude": (text, None),
    "pattern": (text, None),
}
TRAIN: Spec = {"items": (text, REQUIRED), "name": (text, "my-list")}
SCORE: Spec = {"model": (text, REQUIRED), "items": (texts, REQUIRED), "category": (category, None)}
CLASSIFY: Spec = {"model": (text, REQUIRED), "items": (texts, REQUIRED), "top": (integer, SHOWN_CATEGORIES),
                  "uniform_prior": (flag, False)}
COMPLETE: Spec = {
    **_CONTROLS,
    "prompt": (text, ""),
    "length": (integer, None),
    "greedy": (flag, False),
    "pattern": (text, None),
    "exclude": (text, None),
}


def parse_body(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (NaN and Infinity are not JSON)."""

    def no_constant(name: str) -> Any:
        raise RequestError(400, f"the request body is not valid JSON: {name} is not a JSON number")

    try:
        data = json.loads(body, parse_constant=no_constant)
    except (ValueError, RecursionError):
        raise RequestError(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return data


def parse(data: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """Every field of ``spec``, checked and with defaults filled in; unknown fields refused."""
    unknown = sorted(set(data) - set(spec))
    if unknown:
        raise RequestError(400, f"unknown field(s) {', '.join(map(repr, unknown))}; fields: {', '.join(spec)}")
    out: dict[str, Any] = {}
    for key, (check, default) in spec.items():
        value = data.get(key)
        if value is None:
            if default is REQUIRED:
                raise RequestError(400, f"{key!r} is required", param=key)
            out[key] = default
        else:
            out[key] = check(key, value)
    return out

