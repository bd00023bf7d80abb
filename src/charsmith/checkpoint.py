"""Checkpoints: a directory a model can be rebuilt from, with no pickles, saved as one transaction.

Layout of a checkpoint directory (format 2)::

    config.json           the manifest: format tag and version, charsmith version, ModelConfig,
                          TrainConfig, vocabulary, categories (names and training counts, for
                          labelled data), the unknown-character mass (see charsmith.openvocab),
                          info (data fingerprint, metrics), and for each data file below its
                          name, size and sha256
    weights-<hash>.npz    the weights, one array per parameter
    known-<hash>.npy      uint64 hashes of every item of the input (lines mode), held-out ones
                          included, for novelty checks

A save writes the data files under new names (a prefix of their sha256), then replaces
``config.json`` atomically: that rename commits the new version. Only then are the files no
manifest names any more removed. So a crash at any moment leaves the previous complete
version or the new one, and a reader that races a save (its files removed under it) reads
the new manifest again.

Loading trusts nothing it reads (see :mod:`charsmith._safeload`): the model's size is worked
out from the config and checked against the real size of the weights file before anything
is allocated; every array header is checked against the shape the config implies; NaN or
infinite weights are refused. Format 1 (``model.npz``, ``known.npy``, the weights' hash in
``weights_sha256``), which the bundled models use, is read too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from charsmith import __version__, kinds
from charsmith._fileio import atomic_write_bytes, atomic_write_text, fsync_dir, npz_bytes
from charsmith._safeload import (
    MAX_HEADER_BYTES,
    MAX_JSON_BYTES,
    NpzReader,
    json_from_bytes,
    read_json,
    read_npy,
    read_regular,
)
from charsmith.categories import Categories
from charsmith.config import TrainConfig, config_from_dict
from charsmith.errors import CheckpointError, InputError, plain
from charsmith.openvocab import LEGACY_MASS, check_mass
from charsmith.vocab import Vocab

__all__ = ["Checkpoint", "is_checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT = "charsmith-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
CONFIG_FILE = "config.json"
DATA_FILE = re.compile(r"(weights|known)-[0-9a-f]{16}\.(npz|npy)")  # format 2's content-addressed names
LEGACY_FILES = {"weights": "model.npz", "known": "known.npy"}  # format 1's fixed names
MAX_KNOWN_BYTES = 1 << 30  # 134 million item hashes
LOAD_ATTEMPTS = 20  # a reader retries while a writer keeps committing new versions


@dataclass(frozen=True)
class Checkpoint:
    """Everything needed to sample, score and evaluate with a trained model.

    known: sorted uint64 hashes of every item of the input (see ``charsmith._novelty.item_hashes``),
        or None for text-mode models.
    info: free-form JSON facts: data fingerprint, mode, metrics reached.
    categories: the category names (in the order of the model's ids) and training counts,
        for a model conditioned on categories; else None.
    unknown_mass: the probability u that the next character is one the model never saw,
        estimated from the training file (:mod:`charsmith.openvocab`); None for a checkpoint
        saved without one, which ``unknown`` then gives ``LEGACY_MASS``.
    """

    model: kinds.AnyConfig  # a network's ModelConfig, or another kind's config (see charsmith.kinds)
    vocab: Vocab
    params: dict[str, np.ndarray]
    train: TrainConfig | None = None
    known: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    categories: Categories | None = None
    unknown_mass: float | None = None

    def __post_init__(self) -> None:
        if self.vocab.size != self.model.vocab_size:
            raise CheckpointError(
                f"vocabulary has {self.vocab.size} symbols but the model expects {self.model.vocab_size}"
            )
        k = 0 if self.categories is None else self.categories.size
        if k != self.model.categories:
            raise CheckpointError(f"{k} category names for a model of {self.model.categories} categories")
        try:
            kinds.of(self.model).check_params(self.params, self.model, finite=True)
        except InputError as e:
            raise CheckpointError(plain(e)) from None

    @property
    def mode(self) -> str:
        return self.train.mode if self.train is not None else str(self.info.get("mode", "lines"))

    @property
    def unknown(self) -> float:
        """u, the unknown class's probability: the saved mass, else ``LEGACY_MASS``."""
        return LEGACY_MASS if self.unknown_mass is None else self.unknown_mass


def _manifest(path: Path) -> dict[str, Any] | None:
    """The manifest in ``path`` if it is a readable charsmith one, else None."""
    try:
        meta = read_json(path / CONFIG_FILE)
    except (OSError, CheckpointError):
        return None
    ours = isinstance(meta, dict) and meta.get("format") == FORMAT and meta.get("format_version") in READABLE_VERSIONS
    return meta if ours else None


def is_checkpoint(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` holds a charsmith checkpoint manifest (format tag and a readable version)."""
    return _manifest(Path(path)) is not None


def data_files(path: str | os.PathLike[str]) -> dict[str, Path]:
    """The data files of the version committed in ``path``: {"weights": ..., "known": ...}."""
    meta = _manifest(Path(path))
    if meta is None:
        return {}
    try:
        return {role: Path(path) / entry["name"] for role, entry in _file_entries(meta, Path(path)).items()}
    except CheckpointError:
        return {}


def save_checkpoint(path: str | os.PathLike[str], ckpt: Checkpoint) -> None:
    """Write ``ckpt`` into directory ``path`` (created if needed) as one new version: data
    files first, the manifest last, then the previous version's files are removed."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    previous = set(data_files(path).values())
    files = {"weights": _write_data(path, "weights", ".npz", npz_bytes(ckpt.params))}
    if ckpt.known is not None:
        buf = io.BytesIO()
        np.save(buf, np.asarray(ckpt.known, dtype=np.uint64), allow_pickle=False)
        files["known"] = _write_data(path, "known", ".npy", buf.getvalue())
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "charsmith_version": __version__,
        "model": dataclasses.asdict(ckpt.model),
        "train": None if ckpt.train is None else dataclasses.asdict(ckpt.train),
        "vocab": ckpt.vocab.chars,
        "categories": None if ckpt.categories is None else ckpt.categories.to_json(),
        "unknown_mass": ckpt.unknown_mass,
        "files": files,
        "info": ckpt.info,
    }
    atomic_write_text(path / CONFIG_FILE, json.dumps(meta, indent=2, ensure_ascii=False) + "\n")  # the commit
    keep = {path / f["name"] for f in files.values()}
    stale = previous | {p for p in path.iterdir() if DATA_FILE.fullmatch(p.name)}
    for old in stale - keep:
        old.unlink(missing_ok=True)
    fsync_dir(path)


def _write_data(path: Path, stem: str, suffix: str, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    name = f"{stem}-{digest[:16]}{suffix}"
    atomic_write_bytes(path / name, data)
    return {"name": name, "bytes": len(data), "sha256": digest}


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read the last complete version in a checkpoint directory; any defect raises
    CheckpointError naming it."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: the directory does not exist")
    if not path.is_dir():
        raise CheckpointError(f"{path} is a file, not a checkpoint directory; pass the directory a training run wrote (its `out`)")
    for _ in range(LOAD_ATTEMPTS):
        raw = _config_bytes(path)
        if raw is None:
            raise CheckpointError(f"{path} is not a charsmith checkpoint (no {CONFIG_FILE}); pass a directory written by `charsmith train`")
        try:
            return _load_version(path, _check_meta(json_from_bytes(raw, path / CONFIG_FILE), path / CONFIG_FILE))
        except FileNotFoundError as e:
            if _config_bytes(path) != raw:  # a writer committed a newer version meanwhile: read that
                continue
            raise CheckpointError(f"{e.filename} is missing; the checkpoint is incomplete") from None
    raise CheckpointError(f"{path} changed {LOAD_ATTEMPTS} times while it was read; try again when the run saves less often")


def _config_bytes(path: Path) -> bytes | None:
    try:
        return read_regular(path / CONFIG_FILE, MAX_JSON_BYTES)
    except FileNotFoundError:
        return None


def _check_meta(meta: Any, cfg: Path) -> dict[str, Any]:
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg} is not a charsmith checkpoint config (format tag missing)")
    if meta.get("format_version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"{cfg} has format version {meta.get('format_version')!r}; this charsmith reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))} (upgrade charsmith to read it)"
        )
    return meta


def _file_entries(meta: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """{role: {"name", "bytes", "sha256"}} of a manifest; format 1 gets its fixed names."""
    if meta["format_version"] == 1:
        entries = {"weights": {"name": LEGACY_FILES["weights"], "sha256": meta.get("weights_sha256")}}
        if meta.get("has_known"):
            entries["known"] = {"name": LEGACY_FILES["known"]}
        return entries
    files = meta.get("files")
    if not isinstance(files, dict) or "weights" not in files or set(files) - {"weights", "known"}:
        raise CheckpointError(f"{path / CONFIG_FILE} does not name its data files; retrain or restore the file")
    for role, entry in files.items():
        ok = isinstance(entry, dict) and isinstance(entry.get("name"), str) and DATA_FILE.fullmatch(entry["name"])
        if not ok or not entry["name"].startswith(role) or not isinstance(entry.get("sha256"), str):
            raise CheckpointError(f"{path / CONFIG_FILE} names its {role} file wrongly ({entry!r:.80}); retrain or restore the file")
    return files


def _load_version(path: Path, meta: dict[str, Any]) -> Checkpoint:
    cfg_file = path / CONFIG_FILE
    try:
        model = kinds.config_from_json(meta["model"])
        train = None if meta.get("train") is None else config_from_dict(TrainConfig, meta["train"])
        vocab = Vocab(meta["vocab"])
        categories = None if meta.get("categories") is None else Categories.from_json(meta["categories"])
        unknown_mass = None if meta.get("unknown_mass") is None else check_mass(meta["unknown_mass"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{cfg_file} is corrupt ({plain(e)}); retrain or restore the file") from None
    if vocab.size != model.vocab_size:
        raise CheckpointError(f"{path}: vocabulary has {vocab.size} symbols but the model expects {model.vocab_size}")
    files = _file_entries(meta, path)
    params = _read_weights(path, model, files["weights"])
    known = _read_known(path / files["known"]["name"], files["known"].get("sha256")) if "known" in files else None
    info: dict[str, Any] = meta["info"] if isinstance(meta.get("info"), dict) else {}
    try:
        return Checkpoint(model=model, vocab=vocab, params=params, train=train, known=known, info=info,
                          categories=categories, unknown_mass=unknown_mass)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None


def _read_weights(path: Path, model: kinds.AnyConfig, entry: dict[str, Any]) -> dict[str, np.ndarray]:
    """The weights, after checking the model's size against the file's real size."""
    file = path / entry["name"]
    kind = kinds.of(model)
    n_arrays, n_scalars = kind.param_count(model)
    most = n_scalars * 8 + n_arrays * (MAX_HEADER_BYTES + 256) + 1024  # float64, headers, zip records
    try:
        data = read_regular(file, most)
    except CheckpointError as e:
        raise CheckpointError(f"{e} (the config describes {n_scalars:,} parameters)") from None
    if len(data) < n_scalars * 2:  # even float16 needs 2 bytes a parameter
        raise CheckpointError(f"{path / CONFIG_FILE} describes a model of {n_scalars:,} parameters "
                              f"({kind.describe(model)}) but {file} holds only {len(data):,} bytes; "
                              "the config was edited or the file is truncated")
    _check_hash(file, data, entry.get("sha256"))
    reader = NpzReader(data, file)
    shapes, types = kind.param_shapes(model), kind.array_kinds(model)
    reader.require_names(set(shapes))
    return {name: reader.array(name, shape, types[name]) for name, shape in shapes.items()}


def _read_known(file: Path, sha256: object) -> np.ndarray:
    data = read_regular(file, MAX_KNOWN_BYTES)
    _check_hash(file, data, sha256)
    known = read_npy(data, file, "u")
    if known.dtype != np.uint64:
        raise CheckpointError(f"{file} must hold a 1-D uint64 array, got {known.dtype} {known.shape}")
    return known


def _check_hash(file: Path, data: bytes, sha256: object) -> None:
    if isinstance(sha256, str) and hashlib.sha256(data).hexdigest() != sha256:
        raise CheckpointError(f"{file} does not match the hash in {CONFIG_FILE}: it is truncated or was replaced")
