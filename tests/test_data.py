"""Reading files, splitting, batching, hashing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from charsmith._batching import encode_items, line_batches, text_windows
from charsmith._corpus import load_corpus, make_corpus, split_items
from charsmith._novelty import is_known, item_hashes
from charsmith._reading import MAX_ITEM_CHARS, detect_mode, read_text, split_lines
from charsmith.errors import DataError
from charsmith.vocab import Vocab


def test_read_text_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(DataError, match="is a directory"):
        read_text(tmp_path)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty or holds only blank lines"):
        read_text(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_text("\n  \n\t\n")
    with pytest.raises(DataError, match="empty or holds only blank lines"):
        read_text(tmp_path / "blank.txt")
    (tmp_path / "bad.txt").write_bytes(b"anna\nbob\nc\xff\xfel\n")
    with pytest.raises(DataError, match="line 3 is not valid UTF-8"):
        read_text(tmp_path / "bad.txt")


def test_read_text_normalises_newlines_and_bom(tmp_path: Path) -> None:
    (tmp_path / "crlf.txt").write_bytes("\ufeffÅsa\r\nBjörn\rZoë\n".encode())
    assert read_text(tmp_path / "crlf.txt") == "Åsa\nBjörn\nZoë\n"


def test_split_lines_strips_skips_lowercases() -> None:
    assert split_lines("  Anna \n\nBOB\n", lowercase=True) == ["anna", "bob"]
    assert split_lines("Anna\n", lowercase=False) == ["Anna"]
    with pytest.raises(DataError, match="`mode=text`"):
        split_lines("a\n" + "x" * (MAX_ITEM_CHARS + 1), lowercase=False)


def test_detect_mode(shared_data: Path) -> None:
    assert detect_mode("anna\nbob\nmary jane\n") == "lines"
    assert detect_mode(read_text(shared_data / "dinos.txt")) == "lines"
    assert detect_mode(read_text(shared_data / "people_names.txt")) == "lines"
    assert detect_mode(read_text(shared_data / "tinyshakespeare.txt")) == "text"


def test_split_items_is_a_reproducible_partition() -> None:
    items = [f"n{i}" for i in range(100)]
    train, val = split_items(items, 0.1, np.random.default_rng(3))
    assert len(val) == 10 and sorted(train + val) == sorted(items)
    assert split_items(items, 0.1, np.random.default_rng(3)) == (train, val)
    assert split_items(items, 0.0, np.random.default_rng(3))[1] == []
    assert len(split_items(["a", "b"], 0.01, np.random.default_rng(0))[1]) == 1  # at least one held out


def test_corpus_counts_validation_items_seen_in_training() -> None:
    text = "\n".join(["rex"] * 30 + [f"x{chr(97 + i)}" for i in range(20)])
    corpus = make_corpus(text, mode="lines", lowercase=False, val_fraction=0.2, rng=np.random.default_rng(0))
    rex_in_val = corpus.val.count("rex")
    assert rex_in_val > 0 and corpus.overlap == rex_in_val
    assert corpus.vocab.chars[0] == "\n" and "r" in corpus.vocab


def test_text_corpus_holds_out_the_tail() -> None:
    text = "abcdefghij" * 10
    corpus = make_corpus(text, mode="text", lowercase=False, val_fraction=0.1, rng=np.random.default_rng(0))
    v = corpus.vocab
    assert v.decode(corpus.train) + v.decode(corpus.val) == text and v.decode(corpus.val) == text[-10:]
    assert corpus.train.dtype == np.uint8 and corpus.train.base is corpus.val.base  # one byte a character, one array


def test_item_hashes_and_is_known() -> None:
    known = item_hashes(["rex", "anna", "rex"])
    assert known.dtype == np.uint64 and known.size == 2 and np.all(np.diff(known.astype(np.float64)) > 0)
    np.testing.assert_array_equal(is_known(["anna", "bob", "rex", ""], known), [True, False, True, False])
    assert is_known([], known).shape == (0,)


def test_line_batches_cover_every_item_once_with_masks() -> None:
    vocab = Vocab.from_texts(["abc"])
    items = ["a", "abc", "bb", "cab", "c", "abcabc", "ba"]
    seqs = encode_items(vocab, items)
    batches = list(line_batches(seqs, 3, np.random.default_rng(0)))
    assert sum(len(b.ids) for b in batches) == len(items)
    assert sum(b.n_chars for b in batches) == sum(len(s) + 1 for s in items)
    decoded = []
    for b in batches:
        assert b.ids.shape == b.targets.shape == b.mask.shape
        for ids, tgt, m in zip(b.ids, b.targets, b.mask):
            n = int(m.sum())
            assert ids[0] == 0 and tgt[n - 1] == 0  # starts and ends with the end token
            np.testing.assert_array_equal(ids[1:n], tgt[: n - 1])  # targets are inputs shifted
            decoded.append(vocab.decode(tgt[: n - 1]))
    assert sorted(decoded) == sorted(items)


def test_bucketing_reduces_padding() -> None:
    rng = np.random.default_rng(0)
    vocab = Vocab.from_texts(["ab"])
    seqs = encode_items(vocab, ["a" * int(n) for n in rng.integers(1, 40, size=2000)])
    padded = sum(b.mask.size for b in line_batches(seqs, 32, np.random.default_rng(1)))
    unbucketed = sum(b.mask.size for b in line_batches([seqs[i] for i in rng.permutation(2000)], 32, None))
    assert padded < 0.7 * unbucketed


def test_text_windows_are_contiguous_per_row() -> None:
    ids = np.arange(1000)
    windows = list(text_windows(ids, 4, 10))
    x = np.concatenate([w.ids for w in windows], axis=1)
    y = np.concatenate([w.targets for w in windows], axis=1)
    assert x.shape[0] == 4
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)  # each row reads the stream in order
    np.testing.assert_array_equal(y, x + 1)
    assert all(w.ids.shape[1] <= 10 for w in windows)
    assert next(iter(text_windows(ids, 4, 10, offset=3))).ids[0, 0] == 3


def test_vocab_encode_decode_rows_and_errors() -> None:
    v = Vocab.from_texts(["zoë", "abc"])
    assert v.chars == "\nabcozë" and v.decode(v.encode("zoë")) == "zoë"
    ids = np.stack([v.encode("abcz"), v.encode("ëëëë"), v.encode("oooo")])
    assert v.decode_rows(ids, np.array([2, 4, 0])) == ["ab", "ëëëë", ""]
    with pytest.raises(ValueError, match="not in the vocabulary: 'Q'"):
        v.encode("aQ")
    with pytest.raises(ValueError, match="must start with the end token"):
        Vocab("abc")
    with pytest.raises(ValueError, match="must not repeat"):
        Vocab("\naa")


def test_read_chunks_normalises_across_piece_boundaries(tmp_path: Path, monkeypatch) -> None:
    import charsmith._reading as D

    raw = "\ufeffÅsa\r\nBjörn\rZoë\r\n\r\nx".encode() * 3
    (tmp_path / "t.txt").write_bytes(raw)
    want = raw.decode().replace("\ufeff", "", 1).replace("\r\n", "\n").replace("\r", "\n")
    for size in (1, 2, 3, 5, 7, 1 << 20):  # cuts inside CRLF pairs and inside multi-byte characters
        monkeypatch.setattr(D, "_CHUNK_BYTES", size)
        assert "".join(D.read_chunks(tmp_path / "t.txt")) == want
        assert "".join(D.read_chunks(tmp_path / "t.txt", lowercase=True)) == want.lower()
    (tmp_path / "bad.txt").write_bytes(b"anna\nbob\nc\xff\xfel\n")
    monkeypatch.setattr(D, "_CHUNK_BYTES", 4)
    with pytest.raises(DataError, match="line 3 is not valid UTF-8"):
        read_text(tmp_path / "bad.txt")


def test_a_text_file_loads_as_ids_without_its_text(tmp_path: Path, monkeypatch) -> None:
    import charsmith._reading as D

    text = "ROMEO: But soft!\nWhat light through yonder window breaks?\n" * 50
    (tmp_path / "play.txt").write_text(text)
    monkeypatch.setattr(D, "_CHUNK_BYTES", 100)
    rng = np.random.default_rng(0)
    for lower in (False, True):
        streamed = load_corpus(tmp_path / "play.txt", mode="text", lowercase=lower, val_fraction=0.1, rng=rng)
        whole = make_corpus(text, mode="text", lowercase=lower, val_fraction=0.1, rng=rng)
        assert streamed.vocab == whole.vocab and streamed.fingerprint == whole.fingerprint
        np.testing.assert_array_equal(streamed.train, whole.train)
        np.testing.assert_array_equal(streamed.val, whole.val)
    assert detect_mode(D.read_chunks(tmp_path / "play.txt")) == detect_mode(text) == "text"
    (tmp_path / "blank.txt").write_text("  \n\n ")
    with pytest.raises(DataError, match="empty or holds only blank lines"):
        load_corpus(tmp_path / "blank.txt", mode="text", lowercase=False, val_fraction=0.1, rng=rng)
