"""Categories: what a labelled corpus names, how a condition is written, and Bayes' rule.

A model trained on labelled items (a folder with one file per category, or a file of
``category<TAB>item`` lines) is conditioned on the category (see :mod:`charsmith.model`).
Its checkpoint keeps the category names and the training items per category; the counts
are the priors of classification.

A *condition* says which category to write in, as weights ``w`` (K,) summing to 1:

- ``"Japanese"``: that category (a one-hot ``w``);
- ``"Japanese=0.7,Italian=0.3"`` or ``{"Japanese": 0.7, "Italian": 0.3}``: a blend. A name
  without ``=`` weighs 1, so ``"Japanese,Italian"`` is half and half. Weights must be
  finite and >= 0 with a positive sum; they are divided by their sum (after the
  largest, so that huge weights cannot overflow).

A blend mixes the category *vectors*: the model is fed ``e = sum_k w_k cat[k]`` at every
step, one point on the line (or simplex) between the pure categories' vectors, and writes
items in that mixed style. It is not a mixture of the categories' next-character
distributions, nor a draw of one category per item.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from charsmith.errors import CategoryError

__all__ = ["Accuracy", "Categories", "Condition", "accuracy"]

Condition = str | Mapping[str, float]  # a category name, "A=0.7,B=0.3", or {name: weight}
_RESERVED = ",=\t\n"  # characters that cannot be part of a category name


def nfc(name: str) -> str:
    """``name`` in Unicode's composed form (NFC), as category names are compared and read."""
    return unicodedata.normalize("NFC", name)


def check_name(name: str, where: str) -> None:
    """Raise CategoryError unless ``name`` can be a category name (``where`` says whose)."""
    if not name or name != name.strip() or any(ch in name for ch in _RESERVED):
        raise CategoryError(f"{where}: category name {name!r} must be non-empty, without surrounding spaces, "
                            "commas, '=' or tabs; rename it")


@dataclass(frozen=True)
class Categories:
    """The categories of a labelled corpus, in the order of the model's category ids.

    names: (K,) category names, unique. counts: training items per category (the priors).
    """

    names: tuple[str, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.counts) or not self.names:
            raise CategoryError(f"categories need one count per name, got {len(self.names)} names and "
                                f"{len(self.counts)} counts")
        if len(set(self.names)) != len(self.names):
            raise CategoryError(f"category names repeat: {', '.join(self.names)}")
        for name in self.names:
            check_name(name, "categories")
        if any(not isinstance(c, int) or isinstance(c, bool) or c < 0 for c in self.counts):
            raise CategoryError(f"category counts must be non-negative integers, got {list(self.counts)}")
        if sum(self.counts) == 0:
            raise CategoryError("category counts must not all be 0")

    @property
    def size(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The id of category ``name``, compared in Unicode's composed form (NFC: an "ä" typed
        as one character matches a file name that spells it "a" and a combining mark, as
        macOS does); an unknown name raises CategoryError listing the known ones."""
        try:
            return [nfc(n) for n in self.names].index(nfc(name))
        except ValueError:
            raise CategoryError(f"unknown category {name!r}; this model knows: {', '.join(self.names)}") from None

    def log_priors(self, *, uniform: bool = False) -> np.ndarray:
        """(K,) log P(category): from the training counts, or uniform."""
        if uniform:
            return np.full(self.size, -math.log(self.size))
        counts = np.asarray(self.counts, dtype=np.float64)
        with np.errstate(divide="ignore"):  # a category never trained on has prior 0
            return np.log(counts / counts.sum())

    def weights(self, condition: Condition) -> np.ndarray:
        """The condition (see the module docstring) as weights (K,) float64 summing to 1."""
        parts = _parse(condition)
        w = np.zeros(self.size)
        for name, value in parts.items():
            if not math.isfinite(value) or value < 0:
                raise CategoryError(f"the weight of category {name!r} is {value!r}; weights must be finite and >= 0")
            w[self.index(name)] = value
        top = float(w.max())
        if not top > 0:
            raise CategoryError("the category weights sum to 0; give at least one positive weight")
        w /= top  # first by the largest, so the sum cannot overflow (1e308 and 1e308 are 50/50)
        return w / w.sum()

    def to_json(self) -> dict[str, list]:
        return {"names": list(self.names), "counts": list(self.counts)}

    @classmethod
    def from_json(cls, data: object) -> Categories:
        if not isinstance(data, dict) or set(data) != {"names", "counts"}:
            raise CategoryError("categories must be a JSON object with 'names' and 'counts'")
        names, counts = data["names"], data["counts"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not isinstance(counts, list):
            raise CategoryError("categories 'names' must be a list of strings and 'counts' a list")
        return cls(tuple(names), tuple(counts))


def _parse(condition: Condition) -> dict[str, float]:
    """name -> weight from a name, an "A=0.7,B=0.3" string or a mapping."""
    if isinstance(condition, Mapping):
        out: dict[str, float] = {}
        for name, value in condition.items():
            if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CategoryError(f"a category blend maps names to numbers, got {name!r}: {value!r}")
            out[name] = float(value) if isinstance(value, float) or abs(value) < 2 ** 1000 else math.inf
        return out
    if not isinstance(condition, str):
        raise CategoryError(f"a category is a name, 'A=0.7,B=0.3' or a mapping of names to weights, "
                            f"got {type(condition).__name__}")
    out = {}
    for part in condition.split(","):
        name, eq, text = (s.strip() for s in part.partition("="))
        if not name or (eq and not text):
            raise CategoryError(f"cannot read the category {condition!r}; write a name, or weights like "
                                "Japanese=0.7,Italian=0.3")
        if name in out:
            raise CategoryError(f"category {name!r} is given twice in {condition!r}")
        try:
            out[name] = float(text) if eq else 1.0
        except ValueError:
            raise CategoryError(f"the weight of category {name!r} is {text!r}, not a number; write weights like "
                                "Japanese=0.7,Italian=0.3") from None
    return out


def posterior(loglik: np.ndarray, log_prior: np.ndarray) -> np.ndarray:
    """Bayes' rule: P(c | x) = P(x | c) pi_c / sum_k P(x | k) pi_k, for loglik (N, K) =
    log P(x | c) and log_prior (K,) = log pi; computed with log-sum-exp, so very small
    likelihoods (long items) do not underflow. Returns (N, K) probabilities."""
    z = np.asarray(loglik, dtype=np.float64) + log_prior  # (N, K) log joint
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def condition_weights(categories: Categories | None, condition: Condition | None) -> np.ndarray | None:
    """``condition`` as weights (K,) for a model with ``categories``; None when no condition
    is given. A condition for a model without categories raises CategoryError."""
    if condition is None:
        return None
    if categories is None:
        raise CategoryError("this model was trained without categories; drop the category")
    return categories.weights(condition)


@dataclass(frozen=True)
class Accuracy:
    """How often a classifier's best guess was the item's label. ``micro``: over all ``items``;
    ``macro``: the mean of ``recall`` (per label, the share of its items guessed right)."""

    micro: float
    macro: float
    items: int
    recall: dict[str, float]

    def to_json(self) -> dict[str, object]:
        return {"micro": self.micro, "macro": self.macro, "items": self.items, "recall": self.recall}


def accuracy(labels: Sequence[str], guesses: Sequence[str]) -> Accuracy:
    """Micro and macro accuracy of ``guesses`` against ``labels`` (one each per item, at least one)."""
    if len(labels) != len(guesses) or not labels:
        raise ValueError(f"accuracy needs one guess per label and at least one, got {len(labels)} and {len(guesses)}")
    hit = np.array([g == t for t, g in zip(labels, guesses)])
    truth = np.array(labels)
    recall = {c: float(hit[truth == c].mean()) for c in sorted(set(labels))}
    return Accuracy(float(hit.mean()), float(np.mean(list(recall.values()))), len(labels), recall)
