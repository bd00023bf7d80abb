"""Hostile checkpoints: each ends in a one-line CheckpointError, fast, without allocating much.

A forger controls every file, so each case also rewrites the manifest's hashes to match.
Memory is measured with tracemalloc, which sees NumPy's allocations.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from charsmith.checkpoint import (
    Checkpoint,
    data_files,
    load_checkpoint,
    save_checkpoint,
)
from charsmith.cli import main
from charsmith.config import ModelConfig
from charsmith.errors import CheckpointError
from charsmith.model import init_params
from charsmith.vocab import Vocab

MB = 1 << 20


def make_saved(path: Path, hidden: int) -> Path:
    vocab = Vocab("\nabc")
    cfg = ModelConfig("gru", vocab.size, hidden=hidden, embed=4)
    save_checkpoint(path, Checkpoint(cfg, vocab, init_params(cfg, np.random.default_rng(0)),
                                     known=np.array([1, 5], dtype=np.uint64)))
    return path


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    return make_saved(tmp_path / "c", hidden=8)


@pytest.fixture()
def big(tmp_path: Path) -> Path:
    """A model big enough (about 1 MB of weights) that a compressed bomb fits within its file size."""
    return make_saved(tmp_path / "big", hidden=256)


def edit_config(saved: Path, **model: object) -> None:
    meta = json.loads((saved / "config.json").read_text())
    meta["model"].update(model)
    (saved / "config.json").write_text(json.dumps(meta))


def replace_file(saved: Path, role: str, data: bytes) -> None:
    """Put ``data`` in the ``role`` file and make the manifest's hash and size match it."""
    meta = json.loads((saved / "config.json").read_text())
    (saved / meta["files"][role]["name"]).write_bytes(data)
    meta["files"][role].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    (saved / "config.json").write_text(json.dumps(meta))


def weights_npz(saved: Path, **override: bytes) -> bytes:
    """The saved weights as an npz, with some members' raw .npy bytes replaced."""
    with np.load(data_files(saved)["weights"]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, a in arrays.items():
            raw = io.BytesIO()
            np.lib.format.write_array(raw, a)
            zf.writestr(f"{name}.npy", override.get(name, raw.getvalue()))
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    raw = io.BytesIO()
    np.lib.format.write_array_header_1_0(raw, {"descr": dtype, "fortran_order": False, "shape": shape})
    return raw.getvalue()


def refused(saved: Path, *fragments: str, max_mb: float = 16) -> str:
    """Load ``saved``; it must raise a one-line CheckpointError with ``fragments`` while
    allocating at most ``max_mb`` MB."""
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(saved)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(e.value)
    assert "\n" not in message and all(f in message for f in fragments), message
    assert peak < max_mb * MB, f"{peak / MB:.0f} MB allocated before refusing"
    return message


def test_a_config_claiming_a_billion_layers_is_refused_before_allocating(saved: Path, capsys) -> None:
    edit_config(saved, layers=1_000_000_000)
    refused(saved, "describes a model of", "1000000000 layers", "holds only")
    assert main(["info", str(saved)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "holds only" in err


def test_a_config_claiming_a_huge_hidden_size_is_refused(saved: Path) -> None:
    edit_config(saved, hidden=30000)
    refused(saved, "describes a model of", "hidden 30000")


def test_a_weights_symlink_to_dev_zero_is_refused(saved: Path) -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("this system has no /dev/zero")
    weights = data_files(saved)["weights"]
    weights.unlink()
    weights.symlink_to("/dev/zero")
    refused(saved, "a character device, not a regular file")


def test_a_fifo_is_refused_without_blocking(saved: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("this system has no FIFOs")
    weights = data_files(saved)["weights"]
    weights.unlink()
    os.mkfifo(weights)
    refused(saved, "a FIFO (named pipe), not a regular file")
    (saved / "config.json").unlink()
    os.mkfifo(saved / "config.json")
    with pytest.raises(CheckpointError, match="FIFO"):
        load_checkpoint(saved)


def test_a_sparse_huge_weights_file_is_refused_by_its_size(saved: Path) -> None:
    weights = data_files(saved)["weights"]
    os.truncate(weights, 10**10)  # 10 GB, holes only
    refused(saved, "bytes, more than the", "the config describes")


def test_deeply_nested_json_is_refused(saved: Path) -> None:
    (saved / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    refused(saved, "nested too deeply")


def test_an_npy_header_claiming_a_huge_shape_is_refused(saved: Path) -> None:
    replace_file(saved, "weights", weights_npz(saved, W_out=npy_header((10**6, 10**6)) + b"\0" * 64))
    refused(saved, "array W_out has shape (1000000, 1000000), expected (8, 4)")


def test_a_zip_bomb_is_refused_before_decompressing(big: Path) -> None:
    saved = big
    with np.load(data_files(saved)["weights"]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w") as zf:
        info = zipfile.ZipInfo("W_out.npy")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:  # inflates to 64 MB
            f.write(npy_header((256, 4)))
            zeros = bytes(MB)
            for _ in range(64):
                f.write(zeros)
        for name, a in arrays.items():
            if name != "W_out":
                raw = io.BytesIO()
                np.lib.format.write_array(raw, a)
                zf.writestr(f"{name}.npy", raw.getvalue())
    assert len(bomb.getvalue()) < 2 * MB
    replace_file(saved, "weights", bomb.getvalue())
    refused(saved, "array W_out claims 67,108,992 bytes, more than the")


def test_a_zip_member_lying_about_its_size_is_cut_off(big: Path) -> None:
    """A deflated member that declares the size its shape needs but inflates to 16 MB:
    reading stops at the declared size and the zip's CRC check fails."""
    saved = big
    with np.load(data_files(saved)["weights"]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("W_out.npy", npy_header((256, 4)) + bytes(16 * MB), compress_type=zipfile.ZIP_DEFLATED)
        for name, a in arrays.items():
            if name != "W_out":
                raw = io.BytesIO()
                np.lib.format.write_array(raw, a)
                zf.writestr(f"{name}.npy", raw.getvalue())
    data = bytearray(buf.getvalue())
    declared = len(npy_header((256, 4))) + 256 * 4 * 4
    struct.pack_into("<I", data, 22, declared)  # uncompressed size in W_out's local header (the first)
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 24, declared)  # and in the central directory
    replace_file(saved, "weights", bytes(data))
    refused(saved, "array W_out is corrupt")


def test_nan_weights_are_refused(saved: Path, capsys) -> None:
    with np.load(data_files(saved)["weights"]) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["W_out"][0, 0] = np.nan
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    replace_file(saved, "weights", buf.getvalue())
    refused(saved, "weight W_out holds NaN or infinite values")
    for command in (["sample", str(saved)], ["score", str(saved), "abc", "--json"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "NaN or infinite" in err


def test_saving_nan_weights_is_refused(tmp_path: Path) -> None:
    vocab = Vocab("\nab")
    cfg = ModelConfig("rnn", vocab.size, hidden=4)
    params = init_params(cfg, np.random.default_rng(0))
    params["b_out"][1] = np.inf
    with pytest.raises(CheckpointError, match="b_out holds NaN or infinite"):
        save_checkpoint(tmp_path / "c", Checkpoint(cfg, vocab, params))


def test_a_manifest_naming_a_file_outside_the_directory_is_refused(saved: Path) -> None:
    meta = json.loads((saved / "config.json").read_text())
    meta["files"]["weights"]["name"] = "../../etc/passwd"
    (saved / "config.json").write_text(json.dumps(meta))
    refused(saved, "names its weights file wrongly")


def test_a_known_npy_claiming_a_huge_shape_is_refused(saved: Path) -> None:
    replace_file(saved, "known", npy_header((10**12,), "<u8") + b"\0" * 16)
    refused(saved, "holds 16 bytes of data, its header says 8,000,000,000,000")
