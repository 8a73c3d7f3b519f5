"""A video's face track in a process of its own, while the calling process does other work.

``cdr-predict`` starts the tracking first, then loads its models and decodes the audio beside
it: the tracking gets a core to itself and waits on no import or Python work of the caller
(in one process, the speech stage's imports and the tracking share the interpreter lock).
:func:`cdr.extract.extract_rows` takes the result as ``tracking=``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from . import io
from .errors import CdrError, InputError


class Tracking:
    """A video's face track, computed in a process of its own while this one does other work.

    Made by :func:`start_tracking`; :meth:`result` waits for it, :meth:`close` ends it.
    """

    def __init__(self, path: str | Path, options: dict) -> None:
        from .parallel import one_worker, workers_deaf_to_ctrl_c

        self.path = Path(path)
        self.options = dict(options)
        self._pool = one_worker()
        with workers_deaf_to_ctrl_c():  # the worker starts here
            self._future = self._pool.submit(_track_alone, str(path), self.options)

    def result(self):
        """``(FaceTrack or None, warnings)``: None for a file without video.

        Raises
        ------
        CdrError
            The tracking's own error; or, when its process died (killed, out of memory, a
            crash in a decoder), an :class:`InputError` that names the file.
        """
        try:
            return self._future.result()
        except CdrError:
            raise
        except Exception as exc:  # noqa: BLE001 - the process is gone: one line, not its traceback
            raise InputError(f"{self.path}: the face tracking process stopped ({type(exc).__name__}); "
                             "run again, and re-encode the file if it happens again") from None
        finally:
            self.close()

    def close(self) -> None:
        """End the tracking process now, whatever it is doing."""
        self._pool.shutdown(wait=False, kill_workers=True)


def start_tracking(path: str | Path, *, width: int | None = None, stride: int = 1, crop_rate: float = 0.0,
                   face: str = "auto") -> Tracking:
    """Start tracking the face of ``path`` in a process of its own (see :class:`Tracking`).

    ``crop_rate``: face crops per second for the ``expr.`` group (2.0 with an SCN, else 0).
    """
    return Tracking(path, dict(width=width, stride=stride, crop_rate=crop_rate, face=face))


def _track_alone(path: str, options: dict):
    """In the tracking process: the face track (None without a video) and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            info = io.probe(path)
        except CdrError:
            return None, []  # the caller's own probe names the fault
        if not info.has_video or info.still_image:
            return None, []
        from .face.track import track_video

        ft = track_video(path, **options)
    return ft, [str(w.message) for w in caught]
