"""charsmith: character-level language models in NumPy.

Learn the shape of a list of short texts (names) or of a running text, one character
at a time, and write new ones like them::

    import charsmith
    m = charsmith.load("dinosaurs")                 # bundled model or checkpoint directory
    m.sample(5, temperature=0.8, seed=1).samples
    m.score(["tyrannosaurus"])[0].nats_per_char
    charsmith.load("languages").classify(["Nakamura"], top=2)   # a model with categories

The names below are imported on first use, so ``import charsmith.cli`` can configure
the BLAS library before NumPy loads.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CharModel": "charsmith.api",
    "Classification": "charsmith.api",
    "bundled_models": "charsmith.api",
    "load": "charsmith.api",
    "train": "charsmith.api",
    "Checkpoint": "charsmith.checkpoint",
    "load_checkpoint": "charsmith.checkpoint",
    "save_checkpoint": "charsmith.checkpoint",
    "ModelConfig": "charsmith.config",
    "TrainConfig": "charsmith.config",
    "Categories": "charsmith.categories",
    "CategoryError": "charsmith.errors",
    "CharsmithError": "charsmith.errors",
    "CheckpointError": "charsmith.errors",
    "ConstraintError": "charsmith.errors",
    "DataError": "charsmith.errors",
    "InputError": "charsmith.errors",
    "ResourceError": "charsmith.errors",
    "RunLockedError": "charsmith.errors",
    "TimeLimitError": "charsmith.errors",
    "Vocab": "charsmith.vocab",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'charsmith' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
