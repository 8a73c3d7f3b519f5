"""Mirror augmentation of face tracks, without decoding the video again.

Mirroring a video left-right changes its face track as follows (sign rules of
the track format: x to the image's right, yaw > 0 nose toward the image's
right, roll > 0 clockwise as seen in the image):

- the eye that appeared on the image's left now appears on its right, so the
  ``*_left`` and ``*_right`` columns (pupils, eye-in-head gaze, eye aspect
  ratios) swap;
- pupil and eye-in-head x change sign (x -> -x); their y is unchanged;
- ``yaw`` and ``roll`` change sign; ``pitch`` is unchanged;
- the face centre moves to ``face_x -> 1 - face_x``; ``face_y`` and ``face_scale``
  are unchanged.

Tracks without the eye-in-head or face-position columns (written by older
versions) are mirrored in the columns they have.

A mirrored recording's row in the feature table is ``<video_id>#flip``.
"""

from __future__ import annotations

import pandas as pd

from .segments import require_columns

FLIP_SUFFIX = "#flip"
#: Column pairs that swap under a horizontal mirror.
SWAP = [("pupil_left_x", "pupil_right_x"), ("pupil_left_y", "pupil_right_y"), ("ear_left", "ear_right"),
        ("gaze_head_left_x", "gaze_head_right_x"), ("gaze_head_left_y", "gaze_head_right_y")]
#: Columns that change sign under a horizontal mirror (after the swap).
NEGATE = ["pupil_left_x", "pupil_right_x", "gaze_head_left_x", "gaze_head_right_x", "yaw", "roll"]
#: Columns ``c`` that become ``1 - c``.
COMPLEMENT = ["face_x"]
#: Columns mirrored only when present.
OPTIONAL = {"gaze_head_left_x", "gaze_head_right_x", "gaze_head_left_y", "gaze_head_right_y", "face_x"}


def flipped_id(video_id: str) -> str:
    """Row id of the mirrored copy of ``video_id`` (``<video_id>#flip``)."""
    return f"{video_id}{FLIP_SUFFIX}"


def is_flipped_id(video_id: str) -> bool:
    """Whether ``video_id`` names a mirrored copy."""
    return str(video_id).endswith(FLIP_SUFFIX)


def flip_track(track: pd.DataFrame) -> pd.DataFrame:
    """The face track of the left-right mirrored video.

    Parameters
    ----------
    track : pd.DataFrame [shape=(n_frames, ...)]
        Face track (format in the module docstring of ``cdr.face.track``).
        Columns other than those in :data:`SWAP` and :data:`NEGATE` are copied
        unchanged.

    Returns
    -------
    pd.DataFrame [shape=(n_frames, ...)]
        A new frame with the same index and column order; ``flip_track`` applied
        twice gives back the original values.
    """
    require_columns(track, [c for pair in SWAP for c in pair if c not in OPTIONAL] + ["yaw", "pitch", "roll"])
    out = track.copy()
    for a, b in SWAP:
        if a in track.columns and b in track.columns:
            out[a], out[b] = track[b].to_numpy(copy=True), track[a].to_numpy(copy=True)
    for c in NEGATE:
        if c in track.columns:
            out[c] = -out[c]
    for c in COMPLEMENT:
        if c in track.columns:
            out[c] = 1.0 - out[c]
    return out
