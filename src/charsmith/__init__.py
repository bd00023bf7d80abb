"""charsmith: character-level language models in NumPy.

Learn the shape of a list of short texts (names) or of a running text, one character
at a time, and write new ones like them. See ``charsmith.api`` for the high-level API.
"""

__version__ = "0.1.0"

from charsmith.api import CharModel, bundled_models, load  # noqa: E402
from charsmith.checkpoint import Checkpoint, load_checkpoint, save_checkpoint  # noqa: E402
from charsmith.config import ModelConfig, TrainConfig  # noqa: E402
from charsmith.errors import CharsmithError, CheckpointError, DataError  # noqa: E402
from charsmith.vocab import Vocab  # noqa: E402

__all__ = [
    "CharModel",
    "CharsmithError",
    "Checkpoint",
    "CheckpointError",
    "DataError",
    "ModelConfig",
    "TrainConfig",
    "Vocab",
    "__version__",
    "bundled_models",
    "load",
    "load_checkpoint",
    "save_checkpoint",
]
