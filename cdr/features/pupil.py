"""Pupil-motion features: STFT superposition of frame-to-frame pupil displacement.

The study's local features. For each eye (``left``, ``right`` as seen in the
image) and for their mean (``mean``), and for each image axis:

1. the pupil position (eye widths, see the track format) is resampled to a fixed
   rate (default 30 Hz) in gap-free segments (:mod:`cdr.features.segments`);
2. ``dx`` / ``dy`` = difference between consecutive samples (eye widths per sample);
3. STFT (:class:`scipy.signal.ShortTimeFFT`, periodic Hamming window of 10
   samples, hop 5, ``scale_to="magnitude"``); only windows lying wholly inside a
   segment are kept. Hamming rather than Hann: with 10-sample windows the 3 Hz
   bin neighbours the 0 Hz bin, and under a Hann window a 3 Hz oscillation in
   cosine phase puts exactly as much magnitude into 0 Hz as into 3 Hz; under
   Hamming the true bin stays at least ~1.4x stronger in energy;
4. superposition: the **mean** of the window magnitude spectra ``|Z|`` over all
   windows of all segments (a mean rather than a sum, so that values do not
   grow with the length of the recording) gives one spectrum ``S(f)`` per axis.

Features per (eye, axis), e.g. ``pupil.left_dx_energy_3hz``:

- ``energy_<f>hz``: ``S(f)**2`` in each frequency bin ``f`` (Hz in the name;
  ``2p5hz`` stands for 2.5 Hz);
- ``total_energy``: sum of ``S(f)**2`` over all bins;
- ``centroid_hz``: ``sum(f * S(f)) / sum(S(f))``;
- ``high_low_ratio``: energy in bins ``f >= split_hz`` over energy in bins below.

Energies are in (eye widths per sample)**2 at the resampling rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import ShortTimeFFT

from ..errors import ParameterError
from .segments import (
    DEFAULT_RATE, MAX_GAP_S, WINDOW_SAMPLES, not_measurable, resample_segments, total_duration_s,
)

PUPIL_COLUMNS = ["pupil_left_x", "pupil_left_y", "pupil_right_x", "pupil_right_y"]
EYES = ("left", "right", "mean")
AXES = ("dx", "dy")
#: Window length in samples at the resampling rate (the study's 10 frames).
NPERSEG = WINDOW_SAMPLES
#: STFT window (any name :func:`scipy.signal.get_window` accepts).
WINDOW = "hamming"
#: Bins at or above this frequency (Hz) count as the high band.
SPLIT_HZ = 6.0
#: Less valid track than this (seconds) makes the whole group NaN.
MIN_TRACK_S = 2.0


def _hz_label(f: float) -> str:
    return f"{f:g}".replace(".", "p") + "hz"


def _stft(rate: float, nperseg: int) -> ShortTimeFFT:
    if not (isinstance(nperseg, (int, np.integer)) and nperseg >= 2):
        raise ParameterError(f"nperseg={nperseg} must be an integer >= 2 samples")
    return ShortTimeFFT.from_window(
        WINDOW, fs=rate, nperseg=int(nperseg), noverlap=int(nperseg) // 2,
        fft_mode="onesided", scale_to="magnitude",
    )


def frequencies(*, rate: float = DEFAULT_RATE, nperseg: int = NPERSEG) -> np.ndarray:
    """Centre frequencies (Hz) of the STFT bins, shape ``(nperseg // 2 + 1,)``."""
    return _stft(rate, nperseg).f


def pupil_names(*, rate: float = DEFAULT_RATE, nperseg: int = NPERSEG) -> list[str]:
    """Column names of the group for a given rate and window length."""
    bands = [f"energy_{_hz_label(f)}" for f in frequencies(rate=rate, nperseg=nperseg)]
    stats = bands + ["total_energy", "centroid_hz", "high_low_ratio"]
    return [f"pupil.{eye}_{axis}_{s}" for eye in EYES for axis in AXES for s in stats]


#: Column names at the default settings (30 Hz, 10-sample windows).
PUPIL_NAMES: list[str] = pupil_names()


def superposed_spectra(
    segments: list[np.ndarray], *, rate: float = DEFAULT_RATE, nperseg: int = NPERSEG
) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean STFT magnitude spectrum of the first differences of each column.

    Parameters
    ----------
    segments : list of np.ndarray [shape=(n_i, k)]
        Gap-free signals sampled at ``rate`` (e.g. from :func:`resample_segments`).
    rate : float
        Sampling rate in Hz.
    nperseg : int
        Window length in samples.

    Returns
    -------
    freqs : np.ndarray [shape=(n_bins,)]
        Bin frequencies in Hz.
    spectra : np.ndarray [shape=(k, n_bins)]
        Mean of ``|Z|`` over all whole windows; NaN if there is no window.
    n_windows : int
    """
    sft = _stft(rate, nperseg)
    mags = []
    for seg in segments:
        d = np.diff(seg, axis=0).T  # (k, n - 1)
        n = d.shape[1]
        p0, p1 = sft.lower_border_end[1], sft.upper_border_begin(n)[1]
        if p1 <= p0:
            continue
        mags.append(np.abs(sft.stft(d, p0=p0, p1=p1, axis=-1)))  # (k, n_bins, n_win)
    k = segments[0].shape[1] if segments else 0
    if not mags:
        return sft.f, np.full((k, len(sft.f)), np.nan), 0
    allw = np.concatenate(mags, axis=-1)
    return sft.f, allw.mean(axis=-1), allw.shape[-1]


def _summaries(freqs: np.ndarray, spec: np.ndarray, split_hz: float) -> list[float]:
    energy = spec**2
    total = float(energy.sum())
    mag = float(spec.sum())
    low, high = float(energy[freqs < split_hz].sum()), float(energy[freqs >= split_hz].sum())
    centroid = float((freqs * spec).sum() / mag) if mag > 0 else np.nan
    ratio = high / low if low > 0 else np.nan
    return [*energy.tolist(), total, centroid, ratio]


def pupil_features(
    track: pd.DataFrame,
    *,
    rate: float = DEFAULT_RATE,
    nperseg: int = NPERSEG,
    split_hz: float = SPLIT_HZ,
    max_gap_s: float = MAX_GAP_S,
    min_track_s: float = MIN_TRACK_S,
) -> pd.Series:
    """Pupil-motion STFT features of one face track.

    Parameters
    ----------
    track : pd.DataFrame [shape=(n_frames, ...)]
        Face track with ``t``, ``face`` and the four pupil columns.
    rate : float
        Resampling rate in Hz (bins are ``rate / nperseg`` Hz apart).
    nperseg : int
        STFT window in samples (the study uses 10 frames).
    split_hz : float
        Lowest frequency of the high band of ``high_low_ratio``.
    max_gap_s : float
        Longest gap in the face (s) bridged by interpolation.
    min_track_s : float
        Less usable track than this (s) makes every value NaN, with a warning.

    Returns
    -------
    pd.Series
        Indexed by ``pupil_names(rate=rate, nperseg=nperseg)``. Values are NaN
        (with a :class:`NotMeasurableWarning`) where they cannot be measured.
    """
    names = pupil_names(rate=rate, nperseg=nperseg)
    segs = resample_segments(
        track, PUPIL_COLUMNS, rate=rate, max_gap_s=max_gap_s, min_samples=nperseg + 1
    )
    dur = total_duration_s(segs, rate)
    if dur < min_track_s:
        not_measurable(
            f"pupil features are NaN: {dur:.2f} s of usable pupil track in segments of at least "
            f"{nperseg + 1} samples, {min_track_s} s needed"
        )
        return pd.Series(np.nan, index=names, dtype=float)
    # columns: left x, left y, right x, right y, mean x, mean y
    segs = [np.column_stack([s, (s[:, 0] + s[:, 2]) / 2, (s[:, 1] + s[:, 3]) / 2]) for s in segs]
    freqs, spectra, _ = superposed_spectra(segs, rate=rate, nperseg=nperseg)
    order = {"left": (0, 1), "right": (2, 3), "mean": (4, 5)}
    values: list[float] = []
    for eye in EYES:
        for col in order[eye]:
            values += _summaries(freqs, spectra[col], split_hz)
    out = pd.Series(values, index=names, dtype=float)
    bad = ~np.isfinite(out.to_numpy())
    if bad.any():
        out[bad] = np.nan
        not_measurable(
            f"{int(bad.sum())} pupil feature(s) are NaN (no pupil motion in a band, "
            f"e.g. {out.index[bad][0]})"
        )
    return out
