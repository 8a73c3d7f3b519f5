"""Output folders: created and checked before any long work starts.

``cdr-extract``, ``cdr-train`` and ``cdr-scn-train`` each write into a folder
named by ``-o``.  Checking it first turns "OUT is a file" or "OUT is on a
read-only disk" into one line at start-up, instead of a traceback after hours
of work.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from contextlib import contextmanager
from typing import Callable, Iterator

from filelock import FileLock, Timeout

from .errors import CdrError, ParameterError


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


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def output_lock(out: Path, *, command: str) -> Iterator[None]:
    """Hold ``OUT/.lock`` while ``command`` writes into ``out``; a second run is refused at once.

    ``out`` is created first; a file, or a folder that cannot be written, is refused.
    The lock is released when the process ends, however it ends (``kill -9`` included).
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
        yield
    finally:
        lock.release()
