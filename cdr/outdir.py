"""Output folders: created and checked before any long work starts.

``cdr-extract``, ``cdr-train`` and ``cdr-scn-train`` each write into a folder
named by ``-o``.  Checking it first turns "OUT is a file" or "OUT is on a
read-only disk" into one line at start-up, instead of a traceback after hours
of work.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from contextlib import contextmanager, suppress
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from .errors import CdrError, DiskFullError, ParameterError

_FULL = (errno.ENOSPC, errno.EDQUOT)


def make_output_folder(path: str | os.PathLike, option: str = "-o") -> Path:
    """Create ``path`` (and its parents) if needed and check that files can be written in it.

    Parameters
    ----------
    path : path-like
        The output folder.
    option : str
        The command-line option that named it, quoted in the message.

    Returns
    -------
    Path
        ``path``, which now exists and is a writable folder.

    Raises
    ------
    ParameterError
        ``path`` is a file, lies under a file, or cannot be created or written;
        the message names it and says what to do.
    """
    path = Path(path)

    def refuse(reason: str) -> ParameterError:
        return ParameterError(f"{path}: cannot be used as the output folder ({reason}); "
                              f"pass {option} a folder you can write to")

    if path.exists() and not path.is_dir():
        raise refuse("it is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise refuse(f"it cannot be created: {exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryFile(dir=path, prefix=".cdr-write-test."):
            pass
    except OSError as exc:
        raise refuse(f"it is not writable: {exc.strerror or exc}") from None
    return path


def atomic_write(path: Path, write: Callable[[Path], None] | bytes) -> bool:
    """Write ``path`` whole or not at all: into a temporary file beside it, then rename.

    Parameters
    ----------
    path : Path
        The file to write.
    write : callable or bytes
        ``write(tmp)`` writes the content into the temporary file ``tmp``; or the
        content itself. Given bytes equal to the file's present content, nothing is
        written (the file keeps its modification time, so a rerun that changes
        nothing rewrites nothing).

    Returns
    -------
    bool
        Whether the file was written.

    Raises
    ------
    DiskFullError
        The disk is full (or the quota reached); the message names ``path``, the
        free space and the space needed. The temporary file is removed.
    """
    path = Path(path)
    if isinstance(write, (bytes, bytearray)):
        data = bytes(write)
        with suppress(OSError):
            if path.stat().st_size == len(data) and path.read_bytes() == data:
                return False
        write = lambda p: p.write_bytes(data)  # noqa: E731
        size = len(data)
    else:
        size = None
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as exc:
        written = _size(tmp)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if _disk_full(exc):
            raise disk_full(path, size if size is not None else written, exact=size is not None) from None
        raise
    return True


def _size(tmp: str | None) -> int:
    try:
        return os.path.getsize(tmp) if tmp else 0
    except OSError:
        return 0


def _disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and (exc.errno in _FULL or "No space left on device" in str(exc))


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def disk_full(path: Path, needed: int, *, exact: bool = True) -> DiskFullError:
    """The one-line error for ``path`` not fitting on its disk (``needed`` bytes)."""
    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        free = 0
    need = _mb(needed) if exact else f"more than {_mb(needed)}" if needed else "more"
    return DiskFullError(f"{path}: the disk is full ({_mb(free)} free, {need} needed "
                         "to write this file); free some space, or write to another folder")


def remove_stale_temporaries(out: Path) -> int:
    """Delete what a killed run left under ``out``: temporary files (``.<name>.*.tmp``) and
    cdr-train's staging folders (``.staging-<run id>/``, directly in ``out``).

    Only to be called while holding ``out``'s lock, when no other writer can be
    midway through one. Returns how many were removed.
    """
    n = 0
    for tmp in Path(out).rglob(".*.tmp"):
        with suppress(OSError):
            if tmp.is_file():
                tmp.unlink()
                n += 1
    for stage in Path(out).glob(".staging-*"):
        if stage.is_dir() and not stage.is_symlink():
            shutil.rmtree(stage, ignore_errors=True)
            n += 1
    return n


@contextmanager
def output_lock(out: Path, *, command: str) -> Iterator[None]:
    """Hold ``OUT/.lock`` while ``command`` writes into ``out``; a second run is refused at once.

    ``out`` is created first; a file, or a folder that cannot be written, is refused.
    The lock is released when the process ends, however it ends (``kill -9`` included).
    Once it is held, the temporary files a killed run left behind are removed.
    """
    make_output_folder(out)
    lock = FileLock(str(out / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise CdrError(
            f"{out}: another {command} is writing to this folder (lock {out / '.lock'}); "
            "wait for it to finish, or pass another -o"
        ) from None
    try:
        remove_stale_temporaries(out)
        yield
    finally:
        lock.release()
