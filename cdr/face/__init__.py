"""Face tracking: :mod:`cdr.face.track` (mediapipe), :mod:`cdr.face.pose`, :mod:`cdr.face.select`.

:class:`FaceTrack`, what tracking gives, lives here, apart from mediapipe, so that a track made
in another process (:mod:`cdr.tracking`) unpickles without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class FaceTrack:
    """A video's face track.

    Attributes
    ----------
    frames : pd.DataFrame
        One row per decoded frame, columns :data:`TRACK_COLUMNS` (see the contract).
    crops : np.ndarray [shape=(n, size, size, 3), dtype=uint8]
        Aligned face crops sampled at ``crop_rate`` per second, for expression features.
    crop_times : np.ndarray [shape=(n,)]
        Seconds of each crop.
    n_faces_max, face_switches : int
        For ``qc.n_faces_max`` and ``qc.face_switches``.
    """

    frames: pd.DataFrame
    crops: np.ndarray = field(default_factory=lambda: np.zeros((0, 112, 112, 3), np.uint8))
    crop_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Most faces the detector found in one frame.
    n_faces_max: int = 0
    #: Times the tracked face came back more than one face size away from where it was last.
    face_switches: int = 0
    #: Set when ``auto`` found, after its first seconds, that another face is the patient's
    #: (a position as fractions of width and height); :func:`track_video` then tracks again.
    retarget: tuple[float, float] | None = None

    def __iter__(self):
        """Unpack as ``frames, crops, crop_times``."""
        return iter((self.frames, self.crops, self.crop_times))
