"""Checkpoints: a directory a model can be rebuilt from, with no pickles.

Layout of a checkpoint directory::

    config.json   format tag, charsmith version, ModelConfig, TrainConfig, vocabulary,
                  data fingerprint, metrics, and the sha256 of model.npz
    model.npz     the weights, one array per parameter (loaded with allow_pickle=False)
    known.npy     uint64 hashes of the training items (lines mode), for novelty checks

Every file is written atomically; ``config.json`` is written last and names the hash
of the weights it belongs to, so a half-written or mixed-up directory is detected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from charsmith import __version__
from charsmith.config import ModelConfig, TrainConfig, config_from_dict
from charsmith.errors import CheckpointError
from charsmith.fileio import atomic_write_bytes, atomic_write_text, npz_bytes
from charsmith.model import param_shapes
from charsmith.vocab import Vocab

__all__ = ["Checkpoint", "is_checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT = "charsmith-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.npz"
KNOWN_FILE = "known.npy"


@dataclass(frozen=True)
class Checkpoint:
    """Everything needed to sample, score and evaluate with a trained model.

    known: sorted uint64 hashes of the training items (see ``charsmith.data.item_hashes``),
        or None for text-mode models.
    info: free-form JSON facts: data fingerprint, mode, metrics reached.
    """

    model: ModelConfig
    vocab: Vocab
    params: dict[str, np.ndarray]
    train: TrainConfig | None = None
    known: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vocab.size != self.model.vocab_size:
            raise CheckpointError(
                f"vocabulary has {self.vocab.size} symbols but the model expects {self.model.vocab_size}"
            )
        check_params(self.model, self.params)

    @property
    def mode(self) -> str:
        return self.train.mode if self.train is not None else str(self.info.get("mode", "lines"))


def check_params(cfg: ModelConfig, params: dict[str, np.ndarray]) -> None:
    """Raise CheckpointError unless ``params`` has exactly the arrays ``cfg`` needs."""
    expected = param_shapes(cfg)
    if set(params) != set(expected):
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        raise CheckpointError(f"weights do not fit the model config: missing {missing}, unexpected {extra}")
    for name, shape in expected.items():
        if params[name].shape != shape:
            raise CheckpointError(f"weight {name} has shape {params[name].shape}, expected {shape}")
        if not np.issubdtype(params[name].dtype, np.floating):
            raise CheckpointError(f"weight {name} has dtype {params[name].dtype}, expected a float type")


def is_checkpoint(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def save_checkpoint(path: str | os.PathLike[str], ckpt: Checkpoint) -> None:
    """Write ``ckpt`` into directory ``path`` (created if needed), each file atomically."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    weights = npz_bytes(ckpt.params)
    atomic_write_bytes(path / WEIGHTS_FILE, weights)
    if ckpt.known is not None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(ckpt.known, dtype=np.uint64))
        atomic_write_bytes(path / KNOWN_FILE, buf.getvalue())
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charsmith_version": __version__,
        "model": dataclasses.asdict(ckpt.model),
        "train": None if ckpt.train is None else dataclasses.asdict(ckpt.train),
        "vocab": ckpt.vocab.chars,
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "has_known": ckpt.known is not None,
        "info": ckpt.info,
    }
    atomic_write_text(path / CONFIG_FILE, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint directory; any defect raises CheckpointError naming it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the directory does not exist")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a checkpoint directory; pass the directory `charsmith train --out` wrote")
    meta = _read_meta(path)
    try:
        model = config_from_dict(ModelConfig, meta["model"])
        train = None if meta.get("train") is None else config_from_dict(TrainConfig, meta["train"])
        vocab = Vocab(meta["vocab"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path / CONFIG_FILE} is corrupt ({e}); retrain or restore the file") from None
    params = _read_weights(path, meta.get("weights_sha256"))
    known = _read_known(path) if meta.get("has_known") else None
    info = meta.get("info") if isinstance(meta.get("info"), dict) else {}
    try:
        return Checkpoint(model=model, vocab=vocab, params=params, train=train, known=known, info=info)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def _read_meta(path: Path) -> dict[str, Any]:
    cfg = path / CONFIG_FILE
    if not cfg.is_file():
        raise CheckpointError(f"{path} is not a charsmith checkpoint (no {CONFIG_FILE}); pass a directory written by `charsmith train`")
    try:
        meta = json.loads(cfg.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{cfg} is not valid JSON ({e}); retrain or restore the file") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg} is not a charsmith checkpoint config (format tag missing)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{cfg} has format version {meta.get('format_version')!r}; this charsmith reads version {FORMAT_VERSION}"
        )
    return meta


def _read_weights(path: Path, sha256: object) -> dict[str, np.ndarray]:
    file = path / WEIGHTS_FILE
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{file} is missing; the checkpoint is incomplete") from None
    if isinstance(sha256, str) and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"{file} does not match the hash in {CONFIG_FILE}: it is truncated or was replaced")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise CheckpointError(f"{file} is corrupt ({e}); retrain or restore the file") from None


def _read_known(path: Path) -> np.ndarray:
    file = path / KNOWN_FILE
    try:
        known = np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise CheckpointError(f"{file} is missing; the checkpoint is incomplete") from None
    except (ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{file} is corrupt ({e}); retrain or restore the file") from None
    if known.dtype != np.uint64 or known.ndim != 1:
        raise CheckpointError(f"{file} must hold a 1-D uint64 array, got {known.dtype} {known.shape}")
    return known
