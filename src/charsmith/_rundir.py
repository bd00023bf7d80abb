"""Run directories: one writer at a time, and nothing replaced that charsmith did not write.

A directory charsmith writes a run or an export into holds ``charsmith.lock``. The writer
keeps an exclusive ``flock`` on it while it writes (the kernel drops the lock when the
process ends, however it ends) and writes its pid there, so a second writer can name the
process that has the directory. The file stays afterwards and marks the directory as
charsmith's.

In a directory marked so (by the lock file or a checkpoint manifest) charsmith counts as its
own: the lock file, ``config.json`` when it is a charsmith manifest, the content-addressed
data files, ``resume.npz``, ``metrics.jsonl``, format 1's fixed names, and the temporary
files of an interrupted write of any of these. ``force`` removes only those; any other file
is left alone, and a directory holding other files and no mark is refused. The checkpoint
itself is not removed by ``force``: it stays, readable, until the new run commits its first
checkpoint over it (``RunLock.replaced`` lists the old files that commit must remove).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from types import TracebackType
from typing import Self

from charsmith._safeload import read_json
from charsmith.checkpoint import CONFIG_FILE, DATA_FILE, LEGACY_FILES, is_checkpoint
from charsmith.errors import CheckpointError, RunLockedError

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_FILE", "METRICS_FILE", "RESUME_FILE", "RunLock", "open_run_dir", "owned_files"]

LOCK_FILE = "charsmith.lock"
RESUME_FILE = "resume.npz"
METRICS_FILE = "metrics.jsonl"
RUN_FORMAT = "charsmith-run"
_OWN_NAMES = {LOCK_FILE, RESUME_FILE, METRICS_FILE, "resume.json", *LEGACY_FILES.values()}


class RunLock:
    """An exclusive lock on run directory ``path`` (created if needed), held until ``release``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fd: int | None = None
        self.replaced: list[Path] = []  # a previous run's checkpoint files, to remove once a new one is committed
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        file = self.path / LOCK_FILE
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(file, flags, 0o644)
        except OSError as e:
            raise CheckpointError(f"cannot open the lock file {file} ({e.strerror}); choose another directory") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CheckpointError(f"{file} is not a regular file; remove it or choose another directory")
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise RunLockedError(f"{self.path} is in use by another charsmith process{_owner(file)}; "
                                         "wait for it to finish or choose another directory") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"format": RUN_FORMAT, "format_version": 1, "pid": os.getpid()}).encode() + b"\n", 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Let other processes have the directory (closing the file drops the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def _owner(file: Path) -> str:
    """" (pid N)" for the process named in a lock file, or "" if it cannot be read yet."""
    try:
        pid = read_json(file, 4096).get("pid")
    except (OSError, CheckpointError, AttributeError):
        return ""
    return f" (pid {pid})" if isinstance(pid, int) else ""


def _marked(path: Path) -> bool:
    """Whether ``path`` carries charsmith's mark: its lock file or a checkpoint manifest."""
    lock = path / LOCK_FILE
    if lock.is_file() and not lock.is_symlink():
        try:
            marker = read_json(lock, 4096) if lock.stat().st_size else {"format": RUN_FORMAT}
        except (OSError, CheckpointError):
            marker = None
        if isinstance(marker, dict) and marker.get("format") == RUN_FORMAT:
            return True
    return is_checkpoint(path)


def _base_name(name: str) -> str:
    """The target name of one of :func:`charsmith._fileio.atomic_write`'s temporary files
    (``.NAME.xxxxxxxx.tmp``), else ``name`` itself."""
    if name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3:
        return name[1:-4].rsplit(".", 1)[0]
    return name


def owned_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files in ``path`` charsmith wrote (see the module docstring); [] if it is unmarked."""
    path = Path(path)
    if not path.is_dir() or not _marked(path):
        return []
    manifest = is_checkpoint(path)
    owned = []
    for p in sorted(path.iterdir()):
        base = _base_name(p.name)
        temporary = base != p.name
        if base in _OWN_NAMES or DATA_FILE.fullmatch(base) or (base == CONFIG_FILE and (manifest or temporary)):
            owned.append(p)
    return owned


def _is_checkpoint_file(name: str) -> bool:
    return name == CONFIG_FILE or name in LEGACY_FILES.values() or bool(DATA_FILE.fullmatch(name))


def open_run_dir(path: str | os.PathLike[str], *, resume: bool = False, force: bool = False) -> RunLock:
    """Lock ``path`` for a new run (or, with ``resume``, for the run saved there) and return the lock.

    Refused: a file; a directory holding other files and no charsmith mark; a checkpoint or
    resume state unless ``resume`` or ``force``; a ``config.json`` charsmith did not write.
    With ``force`` charsmith's own files are removed (the user's stay), but for the
    checkpoint, which the new run's first save replaces.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CheckpointError(f"`out` {path} is a file; choose a new or empty directory", param="out")
    if path.is_dir() and any(path.iterdir()) and not _marked(path):
        raise CheckpointError(f"`out` {path} holds other files; choose a new or empty directory", param="out")
    if resume and not (path / RESUME_FILE).is_file():
        raise CheckpointError(f"nothing to resume in {path} (no {RESUME_FILE}); drop `resume` to start a new run",
                              param="resume")
    lock = RunLock(path)
    try:
        owned = owned_files(path)
        if (path / CONFIG_FILE).exists() and path / CONFIG_FILE not in owned:
            raise CheckpointError(f"`out` {path} holds a {CONFIG_FILE} charsmith did not write; move it or choose another "
                                  "directory", param="out")
        stale = [p for p in owned if _base_name(p.name) != p.name]  # temporaries of an interrupted write
        if not resume:
            if (is_checkpoint(path) or (path / RESUME_FILE).exists()) and not force:
                raise CheckpointError(f"`out` {path} already holds a checkpoint; pass `resume` to continue it "
                                      "or `force` to replace it", param="out")
            stale = [p for p in owned if p.name != LOCK_FILE]
            checkpoint = [p for p in stale if _is_checkpoint_file(p.name)]  # kept until the new run commits
            stale = [p for p in stale if p not in checkpoint]
            lock.replaced = [p for p in checkpoint if p.name in LEGACY_FILES.values()]  # the rest a save replaces
        for p in stale:
            p.unlink(missing_ok=True)
    except BaseException:
        lock.release()
        raise
    return lock
