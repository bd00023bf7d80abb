"""Checkpoint round trip, corruption detection, atomic writes, no pickles."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from charsmith._fileio import atomic_write
from charsmith.checkpoint import (
    Checkpoint,
    data_files,
    load_checkpoint,
    save_checkpoint,
)
from charsmith.config import ModelConfig, TrainConfig
from charsmith.errors import CheckpointError
from charsmith.model import init_params
from charsmith.vocab import Vocab


def make_ckpt() -> Checkpoint:
    vocab = Vocab("\nabc")
    cfg = ModelConfig("lstm", vocab.size, hidden=8, layers=2, embed=4)
    params = init_params(cfg, np.random.default_rng(0))
    return Checkpoint(cfg, vocab, params, TrainConfig(lowercase=True), np.array([3, 9], dtype=np.uint64), {"x": 1})


def test_round_trip(tmp_path: Path) -> None:
    ckpt = make_ckpt()
    save_checkpoint(tmp_path / "c", ckpt)
    back = load_checkpoint(tmp_path / "c")
    assert back.model == ckpt.model and back.train == ckpt.train and back.vocab == ckpt.vocab
    assert back.info == {"x": 1}
    np.testing.assert_array_equal(back.known, ckpt.known)
    assert back.params.keys() == ckpt.params.keys()
    for k in ckpt.params:
        np.testing.assert_array_equal(back.params[k], ckpt.params[k])
        assert back.params[k].dtype == np.float32


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    save_checkpoint(tmp_path / "c", make_ckpt())
    return tmp_path / "c"


def test_missing_and_wrong_paths(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="is a file"):
        load_checkpoint(data_files(saved)["weights"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a charsmith checkpoint"):
        load_checkpoint(tmp_path / "empty")


def test_truncated_weights(saved: Path) -> None:
    weights = data_files(saved)["weights"]
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or was replaced"):
        load_checkpoint(saved)


def rehash(saved: Path) -> None:
    """Make the manifest match whatever the data files now hold (as a forger would)."""
    meta = json.loads((saved / "config.json").read_text())
    for entry in meta["files"].values():
        data = (saved / entry["name"]).read_bytes()
        entry.update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (saved / "config.json").write_text(json.dumps(meta))


def test_corrupt_weights_with_a_matching_hash(saved: Path) -> None:
    weights = data_files(saved)["weights"]
    weights.write_bytes(b"PK\x03\x04garbage" * 1000)
    rehash(saved)
    with pytest.raises(CheckpointError, match=f"{weights.name} is corrupt"):
        load_checkpoint(saved)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.__setitem__("model", {**m["model"], "cell": "transformer"}), "cell must be one of"),
        (lambda m: m.__setitem__("model", {**m["model"], "hidden": 9}), r"l0.W_ih has shape \(4, 32\), expected \(4, 36\)"),
        (lambda m: m.__setitem__("vocab", "abc"), "must start with the end token"),
        (lambda m: m.__setitem__("vocab", "\nabcd"), "vocabulary has 5 symbols but the model expects 4"),
        (lambda m: m.__setitem__("train", {"bogus": 1}), "has no field"),
        (lambda m: m.__setitem__("format_version", 99), "format version 99"),
        (lambda m: m.pop("format"), "format tag missing"),
    ],
)
def test_edited_config_is_rejected(saved: Path, edit, message: str) -> None:
    meta = json.loads((saved / "config.json").read_text())
    edit(meta)
    (saved / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(saved)


def test_invalid_json(saved: Path) -> None:
    (saved / "config.json").write_text('{"format": ')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(saved)


def test_pickled_arrays_are_refused(saved: Path) -> None:
    weights = data_files(saved)["weights"]
    arrays = dict(np.load(weights))
    arrays["W_out"] = np.array([{"evil": 1}] * 400, dtype=object)
    np.savez(weights, **arrays)
    rehash(saved)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(saved)


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def failing(f) -> None:
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, failing)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temp file left behind


def test_checkpoint_copy_is_self_contained(saved: Path, tmp_path: Path) -> None:
    shutil.copytree(saved, tmp_path / "moved")
    assert load_checkpoint(tmp_path / "moved").vocab.chars == "\nabc"


def test_atomic_write_gives_ordinary_permissions(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "new.bin", lambda f: f.write(b"x"))
        assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o644
        os.chmod(tmp_path / "new.bin", 0o600)
        atomic_write(tmp_path / "new.bin", lambda f: f.write(b"y"))
        assert stat.S_IMODE((tmp_path / "new.bin").stat().st_mode) == 0o600  # kept on replace
    finally:
        os.umask(old)


def test_format_1_is_still_read(saved: Path) -> None:
    """Format 1: fixed names ``model.npz``/``known.npy``, the weights' hash in the config."""
    files = data_files(saved)
    weights = files["weights"].rename(saved / "model.npz")
    files["known"].rename(saved / "known.npy")
    meta = json.loads((saved / "config.json").read_text())
    del meta["files"]
    meta.update(format_version=1, has_known=True, weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest())
    (saved / "config.json").write_text(json.dumps(meta))
    back, ckpt = load_checkpoint(saved), make_ckpt()
    np.testing.assert_array_equal(back.known, ckpt.known)
    for k in ckpt.params:
        np.testing.assert_array_equal(back.params[k], ckpt.params[k])
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 1
    weights.write_bytes(bytes(data))  # the hash still guards format 1
    with pytest.raises(CheckpointError, match="does not match the hash"):
        load_checkpoint(saved)


def test_large_eight_byte_arrays_are_deflated_and_read_back_exactly(tmp_path: Path) -> None:
    """An n-gram model's float64 tables are deflated, a network's float32 weights stored; the
    loader reads both back bit for bit, and the same arrays give the same bytes (hash names)."""
    import zipfile

    from charsmith import ngram
    from charsmith._fileio import DEFLATE_BYTES, npz_bytes

    rng = np.random.default_rng(0)
    items = ["".join(rng.choice(list("abcdefghij"), size=int(rng.integers(3, 9)))) for _ in range(600)]
    vocab = Vocab.from_texts(items)
    cfg, params = ngram.fit([vocab.encode(s) for s in items], vocab.size, 4)
    tables = [k for k, v in params.items() if v.dtype.itemsize == 8 and v.nbytes > DEFLATE_BYTES]
    assert tables, "the test model is too small to have a table worth deflating"
    ck = Checkpoint(cfg, vocab, params, TrainConfig(), np.array([1], dtype=np.uint64), {"mode": "lines"})
    save_checkpoint(tmp_path / "c", ck)
    weights = next((tmp_path / "c").glob("weights-*.npz"))
    with zipfile.ZipFile(weights) as z:
        kinds = {i.filename[:-4]: i.compress_type for i in z.infolist()}
    assert {k for k, t in kinds.items() if t == zipfile.ZIP_DEFLATED} == set(tables)
    assert weights.stat().st_size < sum(v.nbytes for v in params.values())
    back = load_checkpoint(tmp_path / "c")
    for k, v in params.items():
        np.testing.assert_array_equal(back.params[k], v)
    assert npz_bytes(params) == npz_bytes(dict(params))

    net = make_ckpt().params  # float32 weights: stored as they are, whatever their size
    big = {**net, "W": np.ones((300, 300), dtype=np.float32)}
    with zipfile.ZipFile(__import__("io").BytesIO(npz_bytes(big))) as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_STORED}
