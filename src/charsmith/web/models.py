"""The models a server offers, addressed only by the names it lists.

A request names a model; the name is looked up here and never used as a path. The
directories are read once, when the server starts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from charsmith import kinds
from charsmith.api import CharModel, bundled_models, load, resolve_model
from charsmith.errors import CharsmithError
from charsmith.web.limits import Limits

__all__ = ["Models", "UnknownModel"]

FIRST_VISIT = "dinosaurs"  # the bundled model a first visit to the page opens on (see Models.first_visit)
CONSTRAINTS = {"lines": ["suffix", "contains", "exclude", "pattern"], "text": ["exclude", "pattern"]}  # by mode


class UnknownModel(CharsmithError):
    """A request named a model this server does not offer."""


class Models:
    """An ordered mapping of names to loaded models."""

    def __init__(self, models: dict[str, CharModel], bundled: Sequence[str] = ()) -> None:
        self._models = dict(models)
        self._bundled = set(bundled)

    @classmethod
    def load(cls, dirs: Sequence[str | os.PathLike[str]] = (), *, bundled: bool = True) -> Models:
        """The bundled models (unless ``bundled=False``) and the checkpoints in ``dirs``, each
        named by its directory's name (``-2``, ``-3``, ... added where a name is taken).
        A bad directory raises CheckpointError naming it."""
        models: dict[str, CharModel] = {}
        seen: set[Path] = set()
        names = bundled_models() if bundled else []
        for name in names:
            models[name] = load(name)
            seen.add(resolve_model(name).resolve())
        for d in dirs:
            path = resolve_model(d)
            if path.resolve() in seen:
                continue
            seen.add(path.resolve())
            base = path.resolve().name or "model"
            name, k = base, 1
            while name in models:
                k += 1
                name = f"{base}-{k}"
            models[name] = load(path)
        return cls(models, names)

    @property
    def names(self) -> list[str]:
        return list(self._models)

    @property
    def default(self) -> str | None:
        """The first model the server was given beyond the bundled ones (the page opens on it), or None."""
        return next((name for name in self._models if name not in self._bundled), None)

    @property
    def first_visit(self) -> str | None:
        """The model the page opens on when it has no :attr:`default` and no choice of the
        user's to restore: ``FIRST_VISIT`` when offered, else the first list model but the
        broad ``base`` (a start for small lists, less telling on its own), else the first."""
        if FIRST_VISIT in self._models:
            return FIRST_VISIT
        lists = [name for name, m in self._models.items() if m.writes_lists and name != "base"]
        return next(iter(lists or self._models), None)

    def add(self, name: str, model: CharModel) -> str:
        """Offer ``model`` as well, under ``name`` (``-2``, ``-3``, ... added where it is
        taken); return the name given."""
        given, k = name, 1
        while given in self._models:
            k += 1
            given = f"{name}-{k}"
        self._models = {**self._models, given: model}  # one assignment: readers see the old or the new
        return given

    def get(self, name: str) -> CharModel:
        try:
            return self._models[name]
        except KeyError:
            raise UnknownModel(f"no model named {name!r}; this server has: {', '.join(self._models)}") from None

    def describe(self, name: str, limits: Limits) -> dict[str, Any]:
        """What the page needs to know to offer a model's controls."""
        m = self.get(name)
        ck, lines = m.ckpt, m.writes_lists
        categories = m.categories
        return {
            "name": name,
            "bundled": name in self._bundled,
            "mode": m.mode,
            "lowercase": m.lowercase,
            "alphabet": ck.vocab.chars[1:],
            "cell": getattr(ck.model, "cell", getattr(ck.model, "kind", None)),  # a network's cell, else its kind
            "layers": getattr(ck.model, "layers", None),
            "hidden": getattr(ck.model, "hidden", None),
            "summary": kinds.of(ck.model).describe(ck.model),  # the model in a few words, of any kind
            "parameters": m.parameters,
            "source": ck.info.get("source"),
            "held_out_loss": ck.info.get("best_val_loss"),
            "novelty": ck.known is not None,
            "categories": categories,
            "max_len": limits.max_len if lines else None,
            "max_length": None if lines else limits.max_length,
            "supports": {
                "sample": lines,
                "beam": lines,
                "complete": not lines,
                "score": True,
                "category": bool(categories),
                "classify": bool(categories),
                "constraints": CONSTRAINTS[m.mode],
            },
        }
