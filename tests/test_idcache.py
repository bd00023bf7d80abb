"""Big texts: ids encoded once into a memory-mapped file beside the run, and reused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from conftest import make_names

from charsmith import _idcache, _reading
from charsmith._corpus import load_corpus
from charsmith.api import make_trainer


@pytest.fixture()
def small_min(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_idcache, "MIN_BYTES", 0)  # every text goes through the cache


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def corpus(path: Path, cache: Path | None, lowercase: bool = False):  # type: ignore[no-untyped-def]
    return load_corpus(path, mode="text", lowercase=lowercase, val_fraction=0.1, rng=np.random.default_rng(0),
                       cache_dir=cache)


def test_cached_ids_are_the_ids(tmp_path: Path, small_min: None) -> None:
    text = " ".join(make_names(2000)) + "\r\nÉtude\n"
    f = write(tmp_path / "t.txt", text)
    plain, mapped = corpus(f, None), corpus(f, tmp_path / "cache")
    assert isinstance(mapped.train, np.memmap) and mapped.train.dtype == np.uint8
    assert plain.vocab == mapped.vocab and plain.fingerprint == mapped.fingerprint
    np.testing.assert_array_equal(plain.train, mapped.train)
    np.testing.assert_array_equal(plain.val, mapped.val)
    low = corpus(f, tmp_path / "cache", lowercase=True)  # another key: lower-casing changes the ids
    assert "É" not in low.vocab.chars and len(list((tmp_path / "cache").glob("*.npy"))) == 2


def test_reused_until_the_file_changes(tmp_path: Path, small_min: None, monkeypatch: pytest.MonkeyPatch) -> None:
    f = write(tmp_path / "t.txt", "abc " * 1000)
    first = corpus(f, tmp_path / "c")

    def no_scan(*a: object, **k: object) -> None:
        raise AssertionError("the text was read again")

    monkeypatch.setattr(_idcache, "scan_text", no_scan)
    again = corpus(f, tmp_path / "c")
    np.testing.assert_array_equal(first.train, again.train)
    write(f, "xyz " * 1000)
    os.utime(f, ns=(1, 1))  # a new modification time: a new key
    monkeypatch.setattr(_idcache, "scan_text", _reading.scan_text)
    changed = corpus(f, tmp_path / "c")
    assert "x" in changed.vocab.chars and changed.fingerprint != first.fingerprint


def test_two_bytes_above_256_symbols(tmp_path: Path, small_min: None) -> None:
    text = "".join(chr(0x4E00 + i) for i in range(400)) * 20
    c = corpus(write(tmp_path / "cjk.txt", text), tmp_path / "c")
    assert c.train.dtype == np.uint16 and c.vocab.size == 401


def test_a_damaged_cache_is_encoded_again(tmp_path: Path, small_min: None) -> None:
    f = write(tmp_path / "t.txt", "hello world " * 500)
    corpus(f, tmp_path / "c")
    npy = next((tmp_path / "c").glob("*.npy"))
    npy.write_bytes(npy.read_bytes()[:-10])  # truncated
    np.testing.assert_array_equal(corpus(f, tmp_path / "c").train, corpus(f, None).train)


def test_training_reads_the_map_and_resumes(tmp_path: Path, small_min: None) -> None:
    f = write(tmp_path / "t.txt", " ".join(make_names(3000)))
    opts = dict(mode="text", hidden=16, layers=1, batch_size=8, seq_len=16, eval_every=5, steps=10)
    t = make_trainer(f, tmp_path / "runs" / "a", **opts)
    assert isinstance(t.corpus.train, np.memmap)
    assert list((tmp_path / "runs" / _idcache.CACHE_DIR).glob("t-*.npy"))
    t.run()
    r = make_trainer(f, tmp_path / "runs" / "a", resume=True, steps=15)
    assert r.run().step == 15


def test_ascii_text_with_a_wide_vocabulary() -> None:
    """The byte-wide path of Vocab.encode with code points above 255 in the vocabulary."""
    from charsmith.vocab import Vocab

    v = Vocab("\nabcŻ")
    assert v.encode("abc\n").tolist() == [1, 2, 3, 0] and v.encode("aŻ").tolist() == [1, 4]
    with pytest.raises(ValueError, match="'z'"):
        Vocab("\nab").encode("abz")
