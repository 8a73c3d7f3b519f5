"""Face-track segments on a fixed sampling grid, shared by the visual feature groups.

A face track has one row per decoded frame with real timestamps (24, 25, 30 fps
or variable). The visual features need evenly sampled signals at one rate, so
that frequency bins and windows mean the same thing for every recording:

1. rows where ``face`` is false, where ``t`` is not finite, or where a requested
   column is missing or outside its plausible range are *invalid*;
2. the valid rows are cut into segments wherever two consecutive valid frames
   are more than ``max_gap_s`` apart (default 0.5 s); shorter holes are bridged
   by linear interpolation, longer ones never;
3. each segment is linearly interpolated onto the grid ``t0 + k / rate``;
4. segments with fewer than ``min_samples`` grid samples are dropped.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError, ParameterError

#: Default rate (Hz) that every track is resampled to. With the study's
#: 10-frame STFT windows it gives frequency bins every 3 Hz (0, 3, ..., 15 Hz).
DEFAULT_RATE = 30.0
#: Longest hole (s) between two valid frames that is bridged by interpolation.
MAX_GAP_S = 0.5
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


def valid_frames(track: pd.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
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
    """
    require_columns(track, columns)
    t = pd.to_numeric(track["t"], errors="coerce").to_numpy(dtype=float)
    face = track["face"].eq(True).fillna(False).to_numpy(dtype=bool)  # NaN / None / NA -> no face
    values = np.column_stack(
        [pd.to_numeric(track[c], errors="coerce").to_numpy(dtype=float) for c in columns]
    ) if columns else np.empty((len(track), 0))
    ok = face & np.isfinite(t) & np.isfinite(values).all(axis=1)
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
    t, values = t[ok], values[ok]
    order = np.argsort(t, kind="stable")
    t, values = t[order], values[order]
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = np.diff(t) > 0  # duplicated timestamps: keep the first frame
    return t[keep], values[keep]


def resample_segments(
    track: pd.DataFrame,
    columns: Sequence[str],
    *,
    rate: float = DEFAULT_RATE,
    max_gap_s: float = MAX_GAP_S,
    min_samples: int = MIN_SEGMENT_SAMPLES,
) -> list[np.ndarray]:
    """Split a face track at gaps and resample each piece to a fixed rate.

    Parameters
    ----------
    track : pd.DataFrame
        Face track, one row per decoded frame (see the module docstring).
    columns : sequence of str
        Columns to resample; a frame is used only if all of them are valid.
    rate : float
        Output sampling rate in Hz.
    max_gap_s : float
        Two consecutive valid frames further apart than this (seconds) start a
        new segment; nothing is interpolated across such a gap.
    min_samples : int
        Segments with fewer grid samples are dropped (e.g. shorter than one
        analysis window).

    Returns
    -------
    segments : list of np.ndarray [shape=(n_i, len(columns))]
        One array per kept segment, sampled at ``t0_i + k / rate``, in time order.
    """
    if not np.isfinite(rate) or rate <= 0:
        raise ParameterError(f"rate={rate} must be a positive number of Hz")
    if not np.isfinite(max_gap_s) or max_gap_s < 0:
        raise ParameterError(f"max_gap_s={max_gap_s} must be a non-negative number of seconds")
    t, values = valid_frames(track, columns)
    if len(t) == 0:
        return []
    cuts = np.flatnonzero(np.diff(t) > max_gap_s) + 1
    out: list[np.ndarray] = []
    for idx in np.split(np.arange(len(t)), cuts):
        ts = t[idx]
        n = int(np.floor((ts[-1] - ts[0]) * rate + 1e-9)) + 1
        if n < max(min_samples, 1):
            continue
        grid = ts[0] + np.arange(n) / rate
        out.append(np.column_stack([np.interp(grid, ts, values[idx, j]) for j in range(values.shape[1])]))
    return out


def total_duration_s(segments: Sequence[np.ndarray], rate: float) -> float:
    """Seconds covered by resampled segments (samples / rate)."""
    return float(sum(len(s) for s in segments)) / rate
