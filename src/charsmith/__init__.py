"""charsmith: character-level language models in NumPy.

Learn the shape of a list of short texts (names) or of a running text, one character
at a time, and write new ones like them::

    import charsmith
    m = charsmith.load("dinosaurs")                 # bundled model or checkpoint directory
    m.sample(5, temperature=0.8, seed=1).samples
    m.score(["tyrannosaurus"])[0].nats_per_char
    charsmith.load("languages").classify(["Nakamura"], top=2)   # a model with categories

Type checkers see every name below as imported here. At run time the errors are, and the
rest load on first use, so ``import charsmith`` stays light (NumPy is not loaded) and
``import charsmith.cli`` can configure the BLAS library before NumPy loads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from charsmith.errors import (
    CategoryError,
    CharsmithError,
    CharsmithWarning,
    CheckpointError,
    ConstraintError,
    DataError,
    InputError,
    ResourceError,
    RunLockedError,
    TimeLimitError,
)

if TYPE_CHECKING:
    from charsmith.api import CharModel, Classification, bundled_models, load, train
    from charsmith.categories import Categories
    from charsmith.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from charsmith.config import ModelConfig, TrainConfig
    from charsmith.generation import SampleResult, SampleStream
    from charsmith.request import Generate
    from charsmith.scoring import EvalResult, ItemScore
    from charsmith.trainer import Progress
    from charsmith.vocab import Vocab

__version__ = "0.1.0"

_LAZY = {  # the names above that load on first use, and their modules
    "charsmith.api": ("CharModel", "Classification", "bundled_models", "load", "train"),
    "charsmith.categories": ("Categories",),
    "charsmith.checkpoint": ("Checkpoint", "load_checkpoint", "save_checkpoint"),
    "charsmith.config": ("ModelConfig", "TrainConfig"),
    "charsmith.generation": ("SampleResult", "SampleStream"),
    "charsmith.request": ("Generate",),
    "charsmith.scoring": ("EvalResult", "ItemScore"),
    "charsmith.trainer": ("Progress",),
    "charsmith.vocab": ("Vocab",),
}
_MODULE_OF = {name: module for module, names in _LAZY.items() for name in names}

__all__ = [
    "__version__",
    # load, train and the model
    "load", "train", "bundled_models", "CharModel",
    # what the model's methods take and give
    "Generate", "SampleResult", "SampleStream", "ItemScore", "EvalResult", "Classification", "Progress",
    # the pieces of a checkpoint
    "Checkpoint", "load_checkpoint", "save_checkpoint", "ModelConfig", "TrainConfig", "Categories", "Vocab",
    # errors and warnings
    "CharsmithError", "CategoryError", "CheckpointError", "ConstraintError", "DataError", "InputError",
    "ResourceError", "RunLockedError", "TimeLimitError", "CharsmithWarning",
]  # fmt: skip

if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt name is an error for them

    def __getattr__(name: str) -> object:
        if name in _MODULE_OF:
            value = getattr(importlib.import_module(_MODULE_OF[name]), name)
            globals()[name] = value
            return value
        raise AttributeError(f"module 'charsmith' has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(_MODULE_OF))
