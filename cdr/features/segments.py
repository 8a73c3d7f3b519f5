"""Face-track segments on a common analysis rate, shared by the visual feature groups.

A face track has one row per decoded frame with real timestamps (24, 25, 30,
50, 60 fps or variable). The visual features need evenly sampled signals at one
rate, so that frequency bins, windows and frame-to-frame differences mean the
same thing for every camera. The choice made here is to **resample every
recording to one analysis rate (30 Hz, the study's) with an anti-alias
filter**, rather than to analyse each recording in its own frames: in its own
frames a 10-frame window spans 0.42 s at 24 fps and 0.17 s at 60 fps, so its
bins lie at multiples of 2.4 Hz or 6 Hz and its differences are per 1/24 s or
per 1/60 s, and no column of the feature table would mean the same thing across
cameras. Resampled, every recording has the same bins (0, 3, ..., 15 Hz) under
the same names, and what a slower camera cannot show is marked NaN
(:func:`frame_timing` gives its Nyquist frequency) instead of being invented.

1. rows where ``face`` is false, where ``t`` is not finite, or where a requested
   column is missing or outside its plausible range are *invalid*;
2. the rows, in time order, are cut into segments at every invalid row and
   wherever two consecutive frames lie more than ``max_gap_s`` apart (default
   2.5 frame intervals): **no gap is bridged**, so a window never touches a
   frame without a face;
3. each segment is put on an even grid at the recording's own frame rate (the
   median frame interval) by a cubic spline through its frames: for a constant
   frame rate the grid falls on the frames and the values are the frames' own;
   for a variable frame rate the spline fills in between;
4. each segment is resampled to the analysis rate by :func:`scipy.signal.resample_poly`
   (polyphase FIR with a Kaiser-window anti-alias filter; the ratio is the nearest
   fraction with a denominator of at most 64, so 29.97 fps is taken as 30);
5. segments with fewer than ``min_samples`` samples are dropped.
"""

from __future__ import annotations

import warnings
from typing import Sequence

from fractions import Fraction

import numpy as np
import pandas as pd
from scipy.interpolate import CubicSpline
from scipy.signal import resample_poly

from ..errors import InputError, ParameterError

#: Default rate (Hz) that every track is resampled to. With the study's
#: 10-frame STFT windows it gives frequency bins every 3 Hz (0, 3, ..., 15 Hz).
DEFAULT_RATE = 30.0
#: Longest time (s) between two consecutive frames inside one segment; None means
#: :data:`GAP_INTERVALS` frame intervals of the recording.
MAX_GAP_S: float | None = None
GAP_INTERVALS = 2.5
#: Largest denominator of the resampling ratio.
MAX_DENOMINATOR = 64
#: The study's analysis window, in samples at the resampling rate (10 frames).
WINDOW_SAMPLES = 10
#: Shortest kept segment, in samples: one window of frame-to-frame differences
#: needs ``WINDOW_SAMPLES + 1`` positions. Every visual group uses the same segments.
MIN_SEGMENT_SAMPLES = WINDOW_SAMPLES + 1

#: Plausible values per track column; anything outside is treated as a tracking
#: failure for that frame (degrees for pose, eye widths for pupils, EAR unitless).
LIMITS: dict[str, tuple[float, float]] = {
    "yaw": (-180.0, 180.0),
    "pitch": (-180.0, 180.0),
    "roll": (-180.0, 180.0),
    "pupil_left_x": (-3.0, 3.0),
    "pupil_left_y": (-3.0, 3.0),
    "pupil_right_x": (-3.0, 3.0),
    "pupil_right_y": (-3.0, 3.0),
    "gaze_head_left_x": (-3.0, 3.0),
    "gaze_head_left_y": (-3.0, 3.0),
    "gaze_head_right_x": (-3.0, 3.0),
    "gaze_head_right_y": (-3.0, 3.0),
    "ear_left": (0.0, 2.0),
    "ear_right": (0.0, 2.0),
}


class NotMeasurableWarning(UserWarning):
    """A feature (group) could not be measured on this track and is NaN."""


def not_measurable(message: str) -> None:
    """Warn that features are NaN, with the reason, pointing at the caller's caller."""
    warnings.warn(message, NotMeasurableWarning, stacklevel=3)


def require_columns(track: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise :class:`InputError` naming every missing column of a face track."""
    if not isinstance(track, pd.DataFrame):
        raise InputError(
            f"face track is a {type(track).__name__}, not a pandas DataFrame; "
            "pass the track returned by cdr.face.track.track_video"
        )
    missing = [c for c in ("t", "face", *columns) if c not in track.columns]
    if missing:
        raise InputError(
            f"face track lacks column(s) {missing}; pass the track returned by "
            "cdr.face.track.track_video (or a tracks/<video_id>.parquet file)"
        )


def frame_timing(track: pd.DataFrame) -> tuple[float, float]:
    """A recording's frame rate and the highest frequency its frames can show.

    Parameters
    ----------
    track : pd.DataFrame
        Face track with ``t`` (seconds), one row per decoded frame (face or not).

    Returns
    -------
    rate_hz : float
        One over the median interval between consecutive frames (NaN with fewer than two).
    nyquist_hz : float
        Half of one over the 90th percentile of the intervals: for a constant frame
        rate its Nyquist frequency; for a variable one that of its slower stretches.
    """
    t = np.sort(pd.to_numeric(track["t"], errors="coerce").to_numpy(dtype=float))
    dt = np.diff(t[np.isfinite(t)])
    dt = dt[dt > 0]
    if len(dt) == 0:
        return np.nan, np.nan
    return 1.0 / float(np.median(dt)), 0.5 / float(np.percentile(dt, 90))


def valid_frames(track: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times and values of the frames usable for ``columns``, sorted by time.

    Parameters
    ----------
    track : pd.DataFrame
        Face track (columns ``t``, ``face`` and ``columns``).
    columns : sequence of str
        Columns that must all be finite and plausible (see :data:`LIMITS`).

    Returns
    -------
    t : np.ndarray [shape=(n,)]
        Strictly increasing times of the valid frames, in seconds.
    values : np.ndarray [shape=(n, len(columns))]
        The columns at those frames.
    run : np.ndarray [shape=(n,)]
        Run number: it grows by one after every invalid frame, so that frames with
        the same number follow one another with no invalid frame between them.
    """
    require_columns(track, columns)
    t = pd.to_numeric(track["t"], errors="coerce").to_numpy(dtype=float)
    face = track["face"].eq(True).fillna(False).to_numpy(dtype=bool)  # NaN / None / NA -> no face
    values = np.column_stack(
        [pd.to_numeric(track[c], errors="coerce").to_numpy(dtype=float) for c in columns]
    ) if columns else np.empty((len(track), 0))
    timed = np.isfinite(t)
    t, face, values = t[timed], face[timed], values[timed]
    order = np.argsort(t, kind="stable")
    t, face, values = t[order], face[order], values[order]
    first = np.ones(len(t), dtype=bool)
    first[1:] = np.diff(t) > 0  # duplicated timestamps: keep the first frame
    t, face, values = t[first], face[first], values[first]
    ok = face & np.isfinite(values).all(axis=1)
    implausible = 0
    for j, c in enumerate(columns):
        lo, hi = LIMITS.get(c, (-np.inf, np.inf))
        bad = ok & ((values[:, j] < lo) | (values[:, j] > hi))
        implausible += int(bad.sum())
        ok &= ~bad
    if implausible:
        not_measurable(
            f"{implausible} frame value(s) outside the plausible range of {list(columns)} "
            "were treated as tracking failures"
        )
    run = np.cumsum(~ok)
    return t[ok], values[ok], run[ok]


def resample_segments(
    track: pd.DataFrame,
    columns: Sequence[str],
    *,
    rate: float = DEFAULT_RATE,
    max_gap_s: float | None = MAX_GAP_S,
    min_samples: int = MIN_SEGMENT_SAMPLES,
) -> list[np.ndarray]:
    """Split a face track at every frame without a face and resample each piece.

    Parameters
    ----------
    track : pd.DataFrame
        Face track, one row per decoded frame (see the module docstring).
    columns : sequence of str
        Columns to resample; a frame is used only if all of them are valid.
    rate : float
        Output (analysis) sampling rate in Hz.
    max_gap_s : float, optional
        Two consecutive frames further apart than this (seconds) start a new
        segment; default :data:`GAP_INTERVALS` frame intervals.
    min_samples : int
        Segments with fewer output samples are dropped (e.g. shorter than one
        analysis window).

    Returns
    -------
    segments : list of np.ndarray [shape=(n_i, len(columns))]
        One array per kept segment, sampled at ``rate``, in time order.
    """
    if not np.isfinite(rate) or rate <= 0:
        raise ParameterError(f"rate={rate} must be a positive number of Hz")
    if max_gap_s is not None and (not np.isfinite(max_gap_s) or max_gap_s < 0):
        raise ParameterError(f"max_gap_s={max_gap_s} must be a non-negative number of seconds")
    native, _ = frame_timing(track)
    t, values, run = valid_frames(track, columns)
    if len(t) < 2 or not np.isfinite(native):
        return []
    gap = GAP_INTERVALS / native if max_gap_s is None else max_gap_s
    ratio = Fraction(rate / native).limit_denominator(MAX_DENOMINATOR)
    up, down = ratio.numerator, ratio.denominator
    cuts = np.flatnonzero((np.diff(t) > gap) | (np.diff(run) != 0)) + 1
    out: list[np.ndarray] = []
    for idx in np.split(np.arange(len(t)), cuts):
        ts = t[idx]
        n = int(np.floor((ts[-1] - ts[0]) * native + 1e-6)) + 1
        if n * up / down < max(min_samples, 1) or len(ts) < 2:
            continue
        grid = ts[0] + np.arange(n) / native
        if len(ts) == n and np.abs(ts - grid).max() < 0.01 / native:  # frames already on the grid
            x = values[idx]
        else:
            x = CubicSpline(ts, values[idx], axis=0)(grid)
        if up != down:  # about the mean, so that a constant stays exactly constant
            mean = x.mean(axis=0)
            x = resample_poly(x - mean, up, down, axis=0, padtype="line") + mean
        if len(x) >= max(min_samples, 1):
            out.append(x)
    return out


def total_duration_s(segments: Sequence[np.ndarray], rate: float) -> float:
    """Seconds covered by resampled segments (samples / rate)."""
    return float(sum(len(s) for s in segments)) / rate
