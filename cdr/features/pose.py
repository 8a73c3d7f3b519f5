"""Head-pose statistics and blink rate of one face track.

Yaw, pitch and roll (degrees) are resampled to the analysis rate in segments
that never bridge a frame without a face (:mod:`cdr.features.segments`), so
that a straight line across a gap never reads as head motion. Per angle ``a`` in yaw, pitch, roll:

- ``pose.<a>_std_deg``: standard deviation (ddof=1) over all samples;
- ``pose.<a>_range_deg``: maximum minus minimum;
- ``pose.<a>_angvel_dps``: mean absolute angular velocity (degrees per second),
  from differences between consecutive samples inside segments.

Blinks come from the eye aspect ratio (EAR, mean of both eyes), resampled the
same way. A blink is a dip found by :func:`scipy.signal.find_peaks` on ``-EAR``
that goes below ``closed_ear`` (default 0.2; open eyes are ~0.25-0.35), has a
prominence of at least ``min_prominence`` (0.05) and lasts at most
``max_blink_s`` (0.5 s, width at half prominence). Longer closures are not
blinks. ``pose.blink_rate_per_min`` is the number of blinks per minute of
usable EAR track.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import find_peaks

from .segments import (
    DEFAULT_RATE, MAX_GAP_S, MIN_SEGMENT_SAMPLES, not_measurable, resample_segments, total_duration_s,
)

ANGLES = ("yaw", "pitch", "roll")
EAR_COLUMNS = ["ear_left", "ear_right"]
#: Less valid pose track than this (seconds) makes the pose statistics NaN.
MIN_TRACK_S = 2.0
#: Less valid EAR track than this (seconds) makes the blink rate NaN.
MIN_BLINK_TRACK_S = 10.0
CLOSED_EAR = 0.2
MIN_PROMINENCE = 0.05
MAX_BLINK_S = 0.5

#: Column names of the group (they do not depend on the settings).
POSE_NAMES: list[str] = [
    f"pose.{a}_{s}" for a in ANGLES for s in ("std_deg", "range_deg", "angvel_dps")
] + ["pose.blink_rate_per_min"]


def count_blinks(
    ear: np.ndarray,
    *,
    rate: float = DEFAULT_RATE,
    closed_ear: float = CLOSED_EAR,
    min_prominence: float = MIN_PROMINENCE,
    max_blink_s: float = MAX_BLINK_S,
) -> int:
    """Number of blinks in one gap-free EAR series.

    Parameters
    ----------
    ear : np.ndarray [shape=(n,)]
        Eye aspect ratio sampled at ``rate`` Hz.

    Returns
    -------
    int
    """
    if len(ear) < 3:
        return 0
    peaks, _ = find_peaks(
        -np.asarray(ear, float),
        height=-closed_ear,
        prominence=min_prominence,
        width=(None, max_blink_s * rate),
    )
    return int(len(peaks))


def pose_features(
    track: pd.DataFrame,
    *,
    rate: float = DEFAULT_RATE,
    max_gap_s: float | None = MAX_GAP_S,
    min_track_s: float = MIN_TRACK_S,
    min_blink_track_s: float = MIN_BLINK_TRACK_S,
    closed_ear: float = CLOSED_EAR,
    max_blink_s: float = MAX_BLINK_S,
    min_samples: int = MIN_SEGMENT_SAMPLES,
) -> pd.Series:
    """Head-pose statistics and blink rate of one face track.

    Parameters
    ----------
    track : pd.DataFrame [shape=(n_frames, ...)]
        Face track with ``t``, ``face``, ``yaw``, ``pitch``, ``roll``, ``ear_left``,
        ``ear_right``.
    rate : float
        Resampling rate in Hz.
    max_gap_s : float, optional
        Frames further apart than this (s) end a segment (default 2.5 frame intervals);
        no frame without a face is ever bridged.
    min_track_s, min_blink_track_s : float
        Less usable pose / EAR track than this (s) makes those values NaN, with a warning.
    closed_ear : float
        EAR below which the eyes count as closed.
    max_blink_s : float
        Longest closure (s) still counted as a blink.
    min_samples : int
        Segments with fewer resampled samples are dropped (default: one STFT window).

    Returns
    -------
    pd.Series
        Indexed by :data:`POSE_NAMES` (degrees, degrees per second, blinks per minute).
    """
    out = pd.Series(np.nan, index=POSE_NAMES, dtype=float)
    segs = resample_segments(track, list(ANGLES), rate=rate, max_gap_s=max_gap_s, min_samples=min_samples)
    dur = total_duration_s(segs, rate)
    if dur < min_track_s:
        not_measurable(f"pose statistics are NaN: {dur:.2f} s of usable head-pose track, {min_track_s} s needed")
    else:
        allv = np.concatenate(segs)
        vel = np.concatenate([np.abs(np.diff(s, axis=0)) * rate for s in segs])
        for j, a in enumerate(ANGLES):
            out[f"pose.{a}_std_deg"] = np.std(allv[:, j], ddof=1)
            out[f"pose.{a}_range_deg"] = np.ptp(allv[:, j])
            out[f"pose.{a}_angvel_dps"] = vel[:, j].mean()
        still = [a for j, a in enumerate(ANGLES) if np.ptp(allv[:, j]) == 0]
        if still:
            not_measurable(f"{', '.join(still)} constant over {dur:.1f} s (a tracking failure?): spread and velocity 0")

    esegs = resample_segments(track, EAR_COLUMNS, rate=rate, max_gap_s=max_gap_s, min_samples=min_samples)
    edur = total_duration_s(esegs, rate)
    if edur < min_blink_track_s:
        not_measurable(
            f"blink rate is NaN: {edur:.2f} s of usable eye-aspect-ratio track, {min_blink_track_s} s needed"
        )
    else:
        n = sum(
            count_blinks(s.mean(axis=1), rate=rate, closed_ear=closed_ear, max_blink_s=max_blink_s)
            for s in esegs
        )
        out["pose.blink_rate_per_min"] = n / (edur / 60.0)
        if n == 0:
            not_measurable(
                f"no blink found in {edur:.1f} s of eye-aspect-ratio track (no dip below EAR {closed_ear} "
                f"shorter than {max_blink_s} s): blink rate 0"
            )
    return out
