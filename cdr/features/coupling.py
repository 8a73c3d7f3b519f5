"""Head-pose <-> pupil coupling: correlations of head rotation with eye position.

The study's global features, on two pairs of axes:

- ``horizontal``: ``yaw`` (degrees) with the eye-in-head gaze x (``gaze_head_*_x``,
  mean of both eyes);
- ``vertical``: ``pitch`` (degrees) with the eye-in-head gaze y (mean of both eyes).

The eye position is taken in the head's own frame (see
:func:`cdr.face.pose.head_pose_and_gaze`): in image axes a head turn with the
eyes fixed in the head moves the pupil by itself (the iris sits in front of the
eye corners), which would put a geometric term into every correlation with yaw.
The study's image-axes version (``pupil_*`` columns) stays available as
``image_horizontal`` and ``image_vertical``, so that the study can be reproduced.

Both signals are resampled to the analysis rate in segments that never bridge a
frame without a face (:mod:`cdr.features.segments`). Per pair:

- ``pearson``: :func:`scipy.stats.pearsonr` over all samples;
- ``spearman``: :func:`scipy.stats.spearmanr` over all samples;
- ``win_mean`` / ``win_std``: mean and standard deviation (ddof=0) of Pearson's r
  in non-overlapping windows of ``window_s`` seconds (default 5 s) lying wholly
  inside a segment; windows where either series is constant are skipped.

A correlation with a constant series is NaN (with a warning), not an error.
Under a horizontal mirror yaw and pupil x both change sign, so the horizontal
coupling of a mirrored track equals that of the original.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ParameterError
from .segments import (
    DEFAULT_RATE, MAX_GAP_S, MIN_SEGMENT_SAMPLES, not_measurable, resample_segments, total_duration_s,
)

GAZE_COLUMNS = ["gaze_head_left_x", "gaze_head_left_y", "gaze_head_right_x", "gaze_head_right_y"]
IMAGE_COLUMNS = ["pupil_left_x", "pupil_left_y", "pupil_right_x", "pupil_right_y"]
COUPLING_COLUMNS = ["yaw", "pitch", *GAZE_COLUMNS, *IMAGE_COLUMNS]
#: Pair name -> the eye columns it reads (left x, left y, right x, right y).
SOURCES = {"": GAZE_COLUMNS, "image_": IMAGE_COLUMNS}
PAIRS = ("horizontal", "vertical", "image_horizontal", "image_vertical")
STATS = ("pearson", "spearman", "win_mean", "win_std")
WINDOW_S = 5.0
#: Less valid track than this (seconds) makes the whole group NaN.
MIN_TRACK_S = 2.0

#: Column names of the group (they do not depend on the settings).
COUPLING_NAMES: list[str] = [f"coupling.{p}_{s}" for p in PAIRS for s in STATS]


def _is_constant(x: np.ndarray) -> bool:
    return bool(len(x) < 2 or np.ptp(x) == 0 or not np.isfinite(np.std(x)) or np.std(x) == 0)


def correlations(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Pearson and Spearman correlation of two equal-length series (NaN if undefined)."""
    if len(a) < 3 or _is_constant(a) or _is_constant(b):
        return np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant input: scipy warns and may return NaN
        r = float(stats.pearsonr(a, b).statistic)
        rho = float(stats.spearmanr(a, b).statistic)
    return r, rho


def windowed_pearson(segments: list[tuple[np.ndarray, np.ndarray]], n_win: int) -> np.ndarray:
    """Pearson's r in consecutive non-overlapping windows of ``n_win`` samples.

    Parameters
    ----------
    segments : list of (np.ndarray [shape=(n_i,)], np.ndarray [shape=(n_i,)])
        Paired gap-free series.
    n_win : int
        Window length in samples.

    Returns
    -------
    r : np.ndarray [shape=(n_windows,)]
        One value per whole window; NaN where either series is constant in it.
    """
    xs, ys = [], []
    for a, b in segments:
        m = len(a) // n_win
        if m:
            xs.append(a[: m * n_win].reshape(m, n_win))
            ys.append(b[: m * n_win].reshape(m, n_win))
    if not xs:
        return np.empty(0)
    x, y = np.concatenate(xs), np.concatenate(ys)
    ok = (np.ptp(x, axis=1) > 0) & (np.ptp(y, axis=1) > 0)
    r = np.full(len(x), np.nan)
    if ok.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r[ok] = stats.pearsonr(x[ok], y[ok], axis=1).statistic
    return r


def coupling_features(
    track: pd.DataFrame,
    *,
    rate: float = DEFAULT_RATE,
    window_s: float = WINDOW_S,
    max_gap_s: float | None = MAX_GAP_S,
    min_track_s: float = MIN_TRACK_S,
    min_samples: int = MIN_SEGMENT_SAMPLES,
) -> pd.Series:
    """Head-pose <-> pupil correlation features of one face track.

    Parameters
    ----------
    track : pd.DataFrame [shape=(n_frames, ...)]
        Face track with ``t``, ``face``, ``yaw``, ``pitch`` and the pupil columns.
    rate : float
        Resampling rate in Hz.
    window_s : float
        Length of the windows of the windowed correlations, in seconds.
    max_gap_s : float, optional
        Frames further apart than this (s) end a segment (default 2.5 frame intervals).
    min_track_s : float
        Less usable track than this (s) makes every value NaN, with a warning.
    min_samples : int
        Segments with fewer resampled samples are dropped (default: one STFT window).

    Returns
    -------
    pd.Series
        Indexed by :data:`COUPLING_NAMES`; correlations are unitless in [-1, 1].
    """
    if not np.isfinite(window_s) or window_s <= 0:
        raise ParameterError(f"window_s={window_s} must be a positive number of seconds")
    out = pd.Series(np.nan, index=COUPLING_NAMES, dtype=float)
    missing: list[str] = []
    for prefix, eyes in SOURCES.items():
        segs = resample_segments(track, ["yaw", "pitch", *eyes], rate=rate, max_gap_s=max_gap_s,
                                 min_samples=min_samples)
        dur = total_duration_s(segs, rate)
        if dur < min_track_s:
            not_measurable(
                f"coupling features ({prefix or 'head-frame '}gaze) are NaN: {dur:.2f} s of usable "
                f"head and eye track, {min_track_s} s needed"
            )
            continue
        n_win = max(int(round(window_s * rate)), 3)
        axes = {"horizontal": (0, 2, 4), "vertical": (1, 3, 5)}  # pose column, left eye, right eye
        for axis, (ip, il, ir) in axes.items():
            pair = prefix + axis
            pieces = [(s[:, ip], (s[:, il] + s[:, ir]) / 2) for s in segs]
            head = np.concatenate([p[0] for p in pieces])
            eye = np.concatenate([p[1] for p in pieces])
            r, rho = correlations(head, eye)
            wr = windowed_pearson(pieces, n_win)
            wr = wr[np.isfinite(wr)]
            out[f"coupling.{pair}_pearson"] = r
            out[f"coupling.{pair}_spearman"] = rho
            out[f"coupling.{pair}_win_mean"] = wr.mean() if len(wr) else np.nan
            out[f"coupling.{pair}_win_std"] = wr.std() if len(wr) >= 2 else np.nan
            if not np.isfinite(r):
                missing.append(f"{pair} (head or eye constant)")
            elif len(wr) < 2:
                missing.append(f"{pair} windowed ({len(wr)} usable {window_s:g} s window(s))")
    if missing:
        not_measurable(f"coupling features partly NaN: {', '.join(missing)}")
    return out
