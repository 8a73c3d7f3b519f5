"""Mirror augmentation of face tracks, without decoding the video again.

Mirroring a video left-right changes its face track as follows (sign rules of
the track format: x to the image's right, yaw > 0 nose toward the image's
right, roll > 0 clockwise as seen in the image):

- the eye that appeared on the image's left now appears on its right, so the
  ``*_left`` and ``*_right`` columns (pupils and eye aspect ratios) swap;
- pupil x positions change sign (x -> -x); pupil y is unchanged;
- ``yaw`` and ``roll`` change sign; ``pitch`` is unchanged.

A mirrored recording's row in the feature table is ``<video_id>#flip``.
"""

from __future__ import annotations

import pandas as pd

from .segments import require_columns

FLIP_SUFFIX = "#flip"
#: Column pairs that swap under a horizontal mirror.
SWAP = [("pupil_left_x", "pupil_right_x"), ("pupil_left_y", "pupil_right_y"), ("ear_left", "ear_right")]
#: Columns that change sign under a horizontal mirror (after the swap).
NEGATE = ["pupil_left_x", "pupil_right_x", "yaw", "roll"]


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
    require_columns(track, [c for pair in SWAP for c in pair] + ["yaw", "pitch", "roll"])
    out = track.copy()
    for a, b in SWAP:
        out[a], out[b] = track[b].to_numpy(copy=True), track[a].to_numpy(copy=True)
    for c in NEGATE:
        out[c] = -out[c]
    return out
