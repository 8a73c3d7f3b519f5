"""Local worker processes: what cdr's joblib (loky) pools share."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet_worker_restarts() -> Iterator[None]:
    """Hide joblib's warning when it replaces a worker whose memory grew.

    loky measures each worker after its first task and replaces it once it has grown
    by more than 300 MB (a safeguard against leaks). cdr-extract's workers, which hold
    mediapipe, torch and openSMILE, grow that much from one long video to the next, and
    cdr-train's evaluation workers were seen to as well; the replacement only costs a
    fresh start, and its warning ("A worker stopped while some
    jobs were given to the executor ... memory leak") would alarm users for nothing.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given",
                                category=UserWarning)
        yield
