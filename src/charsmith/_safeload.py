"""Reading files that someone else may have written: checkpoints, resume states, lock files.

Nothing here trusts a size, a shape or a nesting depth it reads:

- only regular files are read (a FIFO, a device such as ``/dev/zero`` behind a symlink, or a
  directory is refused before a byte is read), and only up to a size limit the caller sets;
- JSON is bounded in size and its nesting depth cannot raise ``RecursionError``;
- ``.npz``/``.npy`` arrays: every header is checked against the shape and dtype the caller
  expects before anything is allocated, members must be stored or deflated (a zip bomb is
  cut off at the size its header declares, and that size is checked first), and the zip's
  CRC is verified.

Every defect raises :class:`~charsmith.errors.CheckpointError` with a one-line message; a
missing file raises ``FileNotFoundError`` so callers can tell "gone" from "bad".
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from charsmith.errors import CheckpointError

__all__ = ["MAX_JSON_BYTES", "NpzReader", "json_from_bytes", "read_json", "read_npy", "read_regular"]

MAX_JSON_BYTES = 16 << 20  # a checkpoint config: vocabulary, configs, metrics
MAX_HEADER_BYTES = 4096  # an .npy header, as NumPy writes it, is ~128 bytes
_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFDIR: "a directory", stat.S_IFSOCK: "a socket"}


def read_regular(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes`` bytes.

    Opened without blocking (a FIFO would otherwise wait for a writer) and checked with
    ``fstat`` on the open descriptor, so a symlink swapped in between cannot slip past.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise CheckpointError(f"{path} cannot be read ({e.strerror}); check its permissions") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = _KINDS.get(stat.S_IFMT(st.st_mode), "not a regular file")
            raise CheckpointError(f"{path} is {kind}, not a regular file; replace it with the file charsmith wrote")
        if st.st_size > max_bytes:
            raise CheckpointError(f"{path} is {st.st_size:,} bytes, more than the {max_bytes:,} it can hold; "
                                  "it is not a file charsmith wrote")
        chunks, left = [], st.st_size
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 24))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def json_from_bytes(data: bytes, source: str | os.PathLike[str]) -> Any:
    """Parse UTF-8 JSON; bad encoding, bad syntax or absurd nesting raise CheckpointError."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise CheckpointError(f"{source} is not valid JSON ({e}); retrain or restore the file") from None
    except RecursionError:
        raise CheckpointError(f"{source} is nested too deeply to be a charsmith file; retrain or restore it") from None


def read_json(path: str | os.PathLike[str], max_bytes: int = MAX_JSON_BYTES) -> Any:
    return json_from_bytes(read_regular(path, max_bytes), path)


def _array_from(f: Any, shape: tuple[int | None, ...], kinds: str, name: str, source: str) -> np.ndarray:
    """Read one .npy stream after checking its header: ``shape`` (None = any length along
    that axis, bounded by the bytes really there) and a dtype kind in ``kinds`` ("f", "u")."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            got, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=MAX_HEADER_BYTES)
        elif version == (2, 0):
            got, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=MAX_HEADER_BYTES)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, zipfile.BadZipFile, zlib.error) as e:
        raise CheckpointError(f"{source}: array {name} has a bad header ({e}); retrain or restore the file") from None
    want = ", ".join("n" if s is None else str(s) for s in shape)
    if len(got) != len(shape) or any(s is not None and g != s for g, s in zip(got, shape)):
        raise CheckpointError(f"{source}: array {name} has shape {tuple(got)}, expected ({want})")
    if dtype.kind not in kinds or dtype.hasobject or dtype.itemsize > 8:
        raise CheckpointError(f"{source}: array {name} has dtype {dtype}, expected {'a float' if kinds == 'f' else 'an integer'} type")
    nbytes = math.prod(got) * dtype.itemsize
    data = f.read(nbytes + 1)  # one byte more: a stream longer than its header says is corrupt
    if len(data) != nbytes:
        raise CheckpointError(f"{source}: array {name} holds {len(data):,} bytes of data, its header says {nbytes:,}")
    array = np.frombuffer(data, dtype=dtype).reshape(got, order="F" if fortran else "C")
    return np.ascontiguousarray(array.astype(dtype.newbyteorder("="), copy=True))


class NpzReader:
    """The arrays of an ``.npz`` held in memory, each read only after its header is checked.

    ``expected_bytes(name)`` callers pass per array bound the member's declared size before
    it is decompressed; members that are neither stored nor deflated are refused.
    """

    def __init__(self, data: bytes, source: str | os.PathLike[str]) -> None:
        self.source = str(source)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
            raise CheckpointError(f"{source} is corrupt ({e}); retrain or restore the file") from None
        self._infos: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if not info.filename.endswith(".npy") or info.filename[:-4] in self._infos:
                raise CheckpointError(f"{source} holds {info.filename!r}, not one .npy array per name; it is not a file charsmith wrote")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise CheckpointError(f"{source}: array {info.filename} uses an unsupported compression; it is not a file charsmith wrote")
            self._infos[info.filename[:-4]] = info

    @property
    def names(self) -> set[str]:
        return set(self._infos)

    def require_names(self, expected: set[str]) -> None:
        """Raise unless the archive holds exactly the arrays ``expected``."""
        if self.names != expected:
            missing, extra = sorted(expected - self.names), sorted(self.names - expected)
            raise CheckpointError(f"{self.source} does not fit its config: missing {missing}, unexpected {extra}")

    def array(self, name: str, shape: tuple[int | None, ...], kinds: str = "f", *, max_bytes: int | None = None) -> np.ndarray:
        """Array ``name`` of ``shape`` (see :func:`_array_from`); its declared size must not
        exceed what that shape needs at 8 bytes per element (or ``max_bytes``)."""
        info = self._infos.get(name)
        if info is None:
            raise CheckpointError(f"{self.source} lacks array {name}; the file is incomplete")
        limit = max_bytes if max_bytes is not None else math.prod(s or 0 for s in shape) * 8 + MAX_HEADER_BYTES
        if info.file_size > limit:
            raise CheckpointError(f"{self.source}: array {name} claims {info.file_size:,} bytes, more than the "
                                  f"{limit:,} its shape allows; it is not a file charsmith wrote")
        try:
            with self._zip.open(info) as f:
                array = _array_from(f, shape, kinds, name, self.source)
                f.read(1)  # reaching the end checks the zip's CRC of the member
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error, ValueError, NotImplementedError) as e:
            raise CheckpointError(f"{self.source}: array {name} is corrupt ({e}); retrain or restore the file") from None
        return array


def read_npy(data: bytes, source: str | os.PathLike[str], kinds: str = "u") -> np.ndarray:
    """A 1-D array from the bytes of an ``.npy`` file, its length bounded by those bytes."""
    return _array_from(io.BytesIO(data), (None,), kinds, Path(source).name, str(source))
