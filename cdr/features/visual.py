"""All visual feature groups of one face track: ``pupil.``, ``coupling.``, ``pose.``,
and ``qc.pupil_windows`` (the number of STFT windows the pupil spectra used).

Column names are declared up front (:data:`VISUAL_NAMES`) and are the same for
every recording; values that cannot be measured are NaN with a
:class:`~cdr.features.segments.NotMeasurableWarning`, never 0.

Example
-------
>>> from cdr.face.track import track_video                     # doctest: +SKIP
>>> track, crops, crop_times = track_video("interview.mp4")    # doctest: +SKIP
>>> row = visual_features(track)                               # doctest: +SKIP
>>> mirrored = visual_features(flip_track(track))              # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

from ..errors import CdrError
from .augment import flip_track  # noqa: F401  (re-exported for callers of this module)
from .coupling import COUPLING_COLUMNS, COUPLING_NAMES, coupling_features
from .pose import ANGLES, EAR_COLUMNS, POSE_NAMES, pose_features
from .pupil import NPERSEG, PUPIL_COLUMNS, pupil_names, pupil_spectra
from .segments import DEFAULT_RATE, MAX_GAP_S, require_columns

#: Track columns the visual features read (besides ``t`` and ``face``).
TRACK_COLUMNS: list[str] = list(dict.fromkeys([*COUPLING_COLUMNS, *ANGLES, *PUPIL_COLUMNS, *EAR_COLUMNS]))


#: Quality values the visual groups give (besides the features).
VISUAL_QC_NAMES = ["qc.pupil_windows"]


def visual_names(*, rate: float = DEFAULT_RATE, nperseg: int = NPERSEG) -> list[str]:
    """Column names for given settings (only the pupil bins depend on them)."""
    return pupil_names(rate=rate, nperseg=nperseg) + COUPLING_NAMES + POSE_NAMES + VISUAL_QC_NAMES


#: Column names at the default settings (30 Hz, 10-sample STFT windows).
VISUAL_NAMES: list[str] = visual_names()


def visual_features(
    track: pd.DataFrame,
    *,
    rate: float = DEFAULT_RATE,
    nperseg: int = NPERSEG,
    max_gap_s: float | None = MAX_GAP_S,
) -> pd.Series:
    """Pupil, coupling and pose features of one face track.

    Parameters
    ----------
    track : pd.DataFrame [shape=(n_frames, ...)]
        Face track: ``t`` (s), ``face`` (bool), ``yaw``, ``pitch``, ``roll`` (degrees),
        ``pupil_{left,right}_{x,y}`` and ``gaze_head_{left,right}_{x,y}`` (eye widths),
        ``ear_left``, ``ear_right``.
    rate : float
        Every signal is resampled to this analysis rate (Hz), with an anti-alias filter.
    nperseg : int
        STFT window of the pupil features, in samples at ``rate``.
    max_gap_s : float, optional
        Frames further apart than this (s) end a segment (default 2.5 frame intervals);
        a frame without a face always does.

    Returns
    -------
    pd.Series [shape=(len(VISUAL_NAMES),)]
        Indexed exactly by ``visual_names(rate=rate, nperseg=nperseg)``
        (:data:`VISUAL_NAMES` at the defaults).

    Raises
    ------
    InputError
        If the track lacks a column.
    """
    require_columns(track, TRACK_COLUMNS)
    names = visual_names(rate=rate, nperseg=nperseg)
    pupil, n_windows = pupil_spectra(track, rate=rate, nperseg=nperseg, max_gap_s=max_gap_s)
    out = pd.concat(
        [
            pupil,
            coupling_features(track, rate=rate, max_gap_s=max_gap_s, min_samples=nperseg + 1),
            pose_features(track, rate=rate, max_gap_s=max_gap_s, min_samples=nperseg + 1),
            pd.Series([float(n_windows)], index=VISUAL_QC_NAMES),
        ]
    )
    if list(out.index) != names:
        raise CdrError(f"visual features came out with {len(out)} columns, {len(names)} declared")
    return out.astype(float)
