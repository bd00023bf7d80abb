"""A text file's ids on disk, memory-mapped: training on texts larger than memory.

A text-mode file is encoded once into ``<stem>-<key>.npy`` (a plain ``.npy`` array of ids,
one byte an id up to 256 symbols, two above: ``Vocab.id_dtype``) and ``<stem>-<key>.json``
(the vocabulary, the text's fingerprint and the source file's size and modification time)
in a cache directory beside the run (``.charsmith-ids`` next to the run directory). The key
hashes the source file's absolute path, size, modification time and the lower-casing, so
a changed file is encoded again and an unchanged one is reused without reading it.

Both passes over the source (its characters, then its ids) stream it a megabyte at a time
and write the ids with plain writes, so neither the text nor its ids are ever held in
memory; training then reads windows from the memory map, so resident memory does not
grow with the file. Several processes (torchrun) building the same file take turns on a
lock file: one encodes it, the others reuse its work.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from charsmith._fileio import atomic_write, atomic_write_text
from charsmith._reading import read_chunks, scan_text
from charsmith._safeload import read_regular
from charsmith.errors import DataError
from charsmith.vocab import Vocab

try:
    import fcntl
except ImportError:  # not POSIX: processes do not take turns (each may encode the file)
    fcntl = None  # type: ignore[assignment]

__all__ = ["CACHE_DIR", "MIN_BYTES", "text_ids"]

CACHE_DIR = ".charsmith-ids"
MIN_BYTES = 32 << 20  # smaller texts are simply read into memory
FORMAT = "charsmith-ids"


def _key(path: Path, lowercase: bool) -> tuple[str, dict[str, object]]:
    st = path.stat()
    source = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "lowercase": lowercase}
    return hashlib.sha256(json.dumps(source, sort_keys=True).encode()).hexdigest()[:16], source


def text_ids(path: str | os.PathLike[str], *, lowercase: bool, cache_dir: str | os.PathLike[str]
             ) -> tuple[Vocab, np.ndarray, str]:
    """(vocabulary, ids as a read-only memory map, fingerprint of the text) of the text file
    ``path``, encoded into ``cache_dir`` or reused from there."""
    path, cache = Path(path), Path(cache_dir)
    if not path.is_file():
        next(read_chunks(path), None)  # raises DataError naming the problem
    key, source = _key(path, lowercase)
    stem = f"{path.stem[:40]}-{key}"
    ids_file, meta_file = cache / f"{stem}.npy", cache / f"{stem}.json"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{stem}.lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes
        found = _reuse(ids_file, meta_file, source)
        if found is not None:
            return found
        vocab, n, digest = scan_text(path, lowercase)
        atomic_write(ids_file, lambda f: _write_ids(f, path, lowercase, vocab, n))
        meta = {"format": FORMAT, "format_version": 1, "source": source, "vocab": vocab.chars, "n": n,
                "fingerprint": digest}
        atomic_write_text(meta_file, json.dumps(meta))
    found = _reuse(ids_file, meta_file, source)
    if found is None:
        raise DataError(f"{ids_file} could not be read back; remove {cache} and train again")
    return found


def _reuse(ids_file: Path, meta_file: Path, source: dict[str, object]) -> tuple[Vocab, np.ndarray, str] | None:
    """The cached ids when both files are there, complete and of this very source file."""
    try:
        meta = json.loads(read_regular(meta_file, 1 << 26))
        if meta.get("format") != FORMAT or meta.get("source") != source:
            return None
        vocab = Vocab(meta["vocab"])
        ids = np.load(ids_file, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    if ids.shape != (meta["n"],) or ids.dtype != vocab.id_dtype:
        return None
    return vocab, ids, str(meta["fingerprint"])


def _write_ids(f: BinaryIO, path: Path, lowercase: bool, vocab: Vocab, n: int) -> None:
    """The second pass: an .npy header for (n,) ids, then the ids a piece at a time."""
    dtype = np.dtype(vocab.id_dtype)
    np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
                                             "shape": (n,)})
    for chunk in read_chunks(path, lowercase=lowercase):
        f.write(vocab.encode(chunk, dtype).tobytes())
