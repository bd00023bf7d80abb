"""What an operation is asked: every parameter's default and check, written once.

:class:`Generate` is one request for new items (sampling or a beam search) or a text's
continuation. It checks its fields when it is made, so a wrong type or value is an
``InputError`` naming the parameter before any model work or file reading. ``CharModel``'s
methods make one from their keywords; the CLI and the web API parse into the same object
and print its :class:`~charsmith.generation.SampleResult`, so the three give the same
answer to the same request and fail the same way. The other operations (score, classify,
is_known, evaluate) take few parameters; their checks are the functions below.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from charsmith._checks import bad, flag, optional_whole, text, texts, whole
from charsmith._checks import timeout as check_timeout
from charsmith.categories import Condition
from charsmith.errors import InputError
from charsmith.generation import PARTICLES, Controls, SampleResult, SampleStream
from charsmith.generation.controls import TEMPERATURE, TOP_K, TOP_P, sampling_only
from charsmith.limits import check_sizes

if TYPE_CHECKING:
    from charsmith.api import CharModel

__all__ = ["LENGTH", "N_ITEMS", "N_TEXTS", "SHOWN_CATEGORIES", "TEMPERATURE", "TOP_K", "TOP_P", "Generate",
           "default_out"]

N_ITEMS = 10  # items a list model writes when n is not given
N_TEXTS = 1  # continuations a text model writes when n is not given
LENGTH = 200  # characters a text model adds after its prompt when length is not given
SHOWN_CATEGORIES = 3  # categories the CLI and the web API list per item when top is not given (Python: all)


def default_out(path: str | os.PathLike[str]) -> Path:
    """The run directory of a training on ``path`` when none is given: ``runs/<file name
    without its suffix>``, relative to the working directory."""
    return Path("runs") / Path(path).stem


def check_items(items: Any) -> list[str]:
    """``items`` as a list of strings; one string is one item (not its characters); within
    the limits on their number and length (``charsmith.limits.check_sizes``)."""
    return check_sizes(texts("items", items, "an item (a string)"))


def check_seed(seed: Any) -> int | None:
    return optional_whole("seed", seed, 0)


def check_rng(rng: Any) -> np.random.Generator | None:
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise bad("rng", "a numpy.random.Generator (or None: use seed)", rng)
    return rng


def check_top(top: Any) -> int | None:
    return optional_whole("top", top, 1)


def check_path(path: Any, name: str = "path") -> str | os.PathLike[str]:
    if not isinstance(path, (str, os.PathLike)):
        raise bad(name, "a file or directory path", path)
    return path


def check_category(category: Any) -> Condition | None:
    if category is None or isinstance(category, str):
        return category
    if isinstance(category, Mapping) and all(isinstance(k, str) for k in category):
        return category
    raise bad("category", 'a category name, a blend "A=0.7,B=0.3" or a mapping {"A": 0.7, "B": 0.3}', category)


def _novel_edits(value: Any) -> int:
    if value not in (0, 1) or isinstance(value, bool):
        raise bad("novel_edits", "0 (drop copies of the list's items) or 1 (also items one edit from one)", value)
    return int(value)


# ----- a request for new items or a continuation --------------------------------------------
_CHECKS: dict[str, Any] = {
    "n": lambda v: optional_whole("n", v, 1),
    "temperature": float,  # checked by Controls
    "top_k": int,
    "top_p": float,
    "seed": check_seed,
    "rng": check_rng,
    "greedy": lambda v: flag("greedy", v),
    "beam": lambda v: optional_whole("beam", v, 1),
    "prefix": lambda v: text("prefix", v),
    "suffix": lambda v: text("suffix", v),
    "contains": lambda v: tuple(texts("contains", v, "a string")),
    "exclude": lambda v: text("exclude", v),
    "pattern": lambda v: None if v is None else text("pattern", v),
    "min_len": lambda v: optional_whole("min_len", v, 0),
    "max_len": lambda v: optional_whole("max_len", v, 1),
    "length": lambda v: optional_whole("length", v, 0),
    "particles": lambda v: whole("particles", v, 1),
    "max_draws": lambda v: optional_whole("max_draws", v, 1),
    "allow_known": lambda v: flag("allow_known", v),
    "unique": lambda v: flag("unique", v),
    "novel_edits": lambda v: _novel_edits(v),
    "habits": lambda v: flag("habits", v),
    "category": check_category,
    "timeout": check_timeout,
}


@dataclass(frozen=True, kw_only=True)
class Generate:
    """New items from a list model, or continuations of ``prefix`` (the prompt) from a text
    model. Sampling, unless ``beam`` (the likeliest items by a beam search of that width)
    or ``greedy`` (lists: a beam of width 1; text: the likeliest character at each step);
    a search refuses the options only sampling uses. ``None`` for ``n``: 10 items or 1 text;
    for ``length`` (text only): 200 characters. See ``CharModel.sample`` for the rest."""

    n: int | None = None
    temperature: float = TEMPERATURE
    top_k: int = TOP_K
    top_p: float = TOP_P
    seed: int | None = None
    rng: np.random.Generator | None = None
    greedy: bool = False
    beam: int | None = None
    prefix: str = ""
    suffix: str = ""
    contains: str | Sequence[str] = ()
    exclude: str = ""
    pattern: str | None = None
    min_len: int | None = None
    max_len: int | None = None
    length: int | None = None
    particles: int = PARTICLES
    max_draws: int | None = None
    allow_known: bool = False
    unique: bool = False
    novel_edits: int = 0
    habits: bool = True
    category: Condition | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        Controls(self.temperature, self.top_k, self.top_p)  # checks them
        for f in fields(self):
            object.__setattr__(self, f.name, _CHECKS[f.name](getattr(self, f.name)))
        if self.beam is not None and self.greedy:
            raise InputError("`greedy` is a beam of width 1: give `greedy` or `beam`, not both", param="greedy")
        if self.searching:
            ignored = sampling_only({f.name: getattr(self, f.name) for f in fields(self)})
            if ignored:
                search = "beam" if self.beam is not None else "greedy"
                raise InputError(f"`{search}` takes the likeliest, so `{ignored[0]}` has no effect: drop one of them",
                                 param=ignored[0])

    @property
    def searching(self) -> bool:
        """Whether the likeliest items are asked for (a beam search, or greedy decoding)."""
        return self.beam is not None or self.greedy

    def for_mode(self, mode: str) -> Generate:
        """This request checked against a model of ``mode`` ("lines" or "text")."""
        if mode == "text" and self.beam is not None:
            raise InputError("`beam` searches list items; for a text model `greedy` takes the likeliest characters",
                             param="beam")
        if mode == "lines" and self.length is not None:
            raise InputError("`length` is for text models; this model writes list items: use `max_len` to bound them",
                             param="length")
        return self

    def count(self, mode: str) -> int:
        """How many items or texts are asked for."""
        if self.n is not None:
            return self.n
        return N_TEXTS if mode == "text" else N_ITEMS

    @property
    def text_length(self) -> int:
        """The characters a text model adds after the prompt."""
        return LENGTH if self.length is None else self.length

    def start(self, model: CharModel) -> SampleStream | SampleResult:
        """Begin the work on ``model``: a stream of sampled items (lines), or the finished
        result of a search or of a text's continuations."""
        self.for_mode(model.mode)
        if model.mode == "text":
            return model._complete(self)
        if self.searching:
            return model._most_likely(self)
        return model._stream(self)

    def run(self, model: CharModel) -> SampleResult:
        """The whole answer on ``model``."""
        started = self.start(model)
        return started.result() if isinstance(started, SampleStream) else started
