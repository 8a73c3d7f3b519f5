"""Pupil-motion features: STFT superposition of frame-to-frame pupil displacement.

The study's local features. For each eye (``left``, ``right`` as seen in the
image) and for their mean (``mean``), and for each image axis:

1. the pupil position (eye widths, image axes, see the track format) is cut into
   segments at every frame without a face and resampled to the analysis rate
   (30 Hz) with an anti-alias filter (:mod:`cdr.features.segments`, which says
   why a common rate and not each recording's own frames);
2. ``dx`` / ``dy`` = difference between consecutive samples (eye widths per
   1/30 s, whatever the camera's frame rate);
3. STFT (:class:`scipy.signal.ShortTimeFFT`, periodic Hamming window of 10
   samples, hop 5, ``scale_to="magnitude"``); only windows lying wholly inside a
   segment are kept, so no window touches a frame without a face (their number
   is ``qc.pupil_windows``; fewer than :data:`MIN_WINDOWS` make the group NaN).
   Hamming rather than Hann: with 10-sample windows the 3 Hz bin neighbours the
   0 Hz bin, and under a Hann window a 3 Hz oscillation in cosine phase puts
   exactly as much magnitude into 0 Hz as into 3 Hz; under Hamming the true bin
   stays at least ~1.4x stronger in energy;
4. superposition: the **mean** of the window magnitude spectra ``|Z|`` over all
   windows of all segments (a mean rather than a sum, so that values do not
   grow with the length of the recording) gives one spectrum ``S(f)`` per axis.

Features per (eye, axis), e.g. ``pupil.left_dx_energy_3hz``:

- ``energy_<f>hz``: ``S(f)**2`` in each frequency bin ``f`` (Hz in the name;
  ``2p5hz`` stands for 2.5 Hz). A bin the recording's frames cannot show is NaN
  (one warning): a bin at or above the camera's Nyquist frequency, and, when the
  recording was resampled, the analysis rate's own Nyquist bin (15 Hz), which
  the anti-alias filter halves. So 24 fps keeps 0-9 Hz, 25 fps 0-12 Hz, 30 fps
  0-15 Hz, 50 and 60 fps 0-12 Hz;
- ``total_energy``: sum of ``S(f)**2`` over the bins up to :data:`SUMMARY_MAX_HZ`
  (10 Hz: 0, 3, 6 and 9 Hz), a band every usual camera records, so that the
  summaries mean the same at 24 and at 60 fps;
- ``centroid_hz``: ``sum(f * S(f)) / sum(S(f))`` over the same bins;
- ``high_low_ratio``: energy in those bins at or above ``split_hz`` (6 Hz) over
  the energy in those below.

Energies are in (eye widths per 1/30 s)**2. They include the tracker's jitter, which
is close to white from frame to frame: a camera with half the frame rate puts about
twice as much of it into each band it shows (``benchmarks/pupil_jitter.py``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import ShortTimeFFT

from ..errors import ParameterError
from .segments import DEFAULT_RATE, MAX_GAP_S, WINDOW_SAMPLES, frame_timing, not_measurable, resample_segments

PUPIL_COLUMNS = ["pupil_left_x", "pupil_left_y", "pupil_right_x", "pupil_right_y"]
EYES = ("left", "right", "mean")
AXES = ("dx", "dy")
#: Window length in samples at the resampling rate (the study's 10 frames).
NPERSEG = WINDOW_SAMPLES
#: STFT window (any name :func:`scipy.signal.get_window` accepts).
WINDOW = "hamming"
#: Bins at or above this frequency (Hz) count as the high band.
SPLIT_HZ = 6.0
#: Fewer STFT windows than this (2 s of track at 30 Hz, hop 5) make the whole group NaN.
MIN_WINDOWS = 12
#: The summaries (total energy, centroid, high/low ratio) use the bins up to this frequency.
SUMMARY_MAX_HZ = 10.0


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
    band = freqs <= SUMMARY_MAX_HZ
    f, e, m = freqs[band], energy[band], spec[band]
    total = float(e.sum())
    mag = float(m.sum())
    low, high = float(e[f < split_hz].sum()), float(e[f >= split_hz].sum())
    centroid = float((f * m).sum() / mag) if mag > 0 else np.nan
    ratio = high / low if low > 0 else np.nan
    return [*energy.tolist(), total, centroid, ratio]


def measurable_bins(freqs: np.ndarray, *, rate: float, native_rate: float, nyquist_hz: float) -> np.ndarray:
    """Which bins a recording's frames can show (see the module docstring).

    Parameters
    ----------
    freqs : np.ndarray [shape=(n_bins,)]
        Bin frequencies (Hz) at the analysis ``rate``.
    native_rate, nyquist_hz : float
        From :func:`cdr.features.segments.frame_timing`.
    """
    if not np.isfinite(nyquist_hz):
        return np.zeros(len(freqs), dtype=bool)
    resampled = abs(native_rate - rate) > 0.01 * rate
    if resampled:
        return freqs < min(nyquist_hz, rate / 2)
    return freqs <= nyquist_hz * 1.01


def pupil_spectra(
    track: pd.DataFrame,
    *,
    rate: float = DEFAULT_RATE,
    nperseg: int = NPERSEG,
    split_hz: float = SPLIT_HZ,
    max_gap_s: float | None = MAX_GAP_S,
    min_windows: int = MIN_WINDOWS,
) -> tuple[pd.Series, int]:
    """Pupil-motion STFT features of one face track, and the number of windows used.

    Parameters
    ----------
    track : pd.DataFrame [shape=(n_frames, ...)]
        Face track with ``t``, ``face`` and the four pupil columns.
    rate : float
        Analysis rate in Hz (bins are ``rate / nperseg`` Hz apart).
    nperseg : int
        STFT window in samples (the study uses 10 frames).
    split_hz : float
        Lowest frequency of the high band of ``high_low_ratio``.
    max_gap_s : float, optional
        Frames further apart than this (s) end a segment (default 2.5 frame intervals).
    min_windows : int
        Fewer STFT windows than this make every value NaN, with a warning.

    Returns
    -------
    features : pd.Series
        Indexed by ``pupil_names(rate=rate, nperseg=nperseg)``. Values are NaN
        (with a :class:`NotMeasurableWarning`) where they cannot be measured.
    n_windows : int
        STFT windows used (``qc.pupil_windows``).
    """
    names = pupil_names(rate=rate, nperseg=nperseg)
    segs = resample_segments(
        track, PUPIL_COLUMNS, rate=rate, max_gap_s=max_gap_s, min_samples=nperseg + 1
    )
    # columns: left x, left y, right x, right y, mean x, mean y
    segs = [np.column_stack([s, (s[:, 0] + s[:, 2]) / 2, (s[:, 1] + s[:, 3]) / 2]) for s in segs]
    freqs, spectra, n_windows = superposed_spectra(segs, rate=rate, nperseg=nperseg)
    if n_windows < min_windows:
        not_measurable(
            f"pupil features are NaN: {n_windows} STFT window(s) of {nperseg} samples lie wholly "
            f"within the face track, {min_windows} needed"
        )
        return pd.Series(np.nan, index=names, dtype=float), n_windows
    native, nyquist = frame_timing(track)
    shown = measurable_bins(freqs, rate=rate, native_rate=native, nyquist_hz=nyquist)
    spectra[:, ~shown] = np.nan
    if not shown.all():
        not_measurable(
            f"pupil bands from {freqs[~shown].min():g} Hz are NaN: the frames "
            f"({native:.3g} fps) show motion up to {nyquist:.3g} Hz only"
        )
    order = {"left": (0, 1), "right": (2, 3), "mean": (4, 5)}
    values: list[float] = []
    for eye in EYES:
        for col in order[eye]:
            values += _summaries(freqs, spectra[col], split_hz)
    out = pd.Series(values, index=names, dtype=float)
    unshown = np.tile(np.r_[~shown, [False] * 3], len(EYES) * len(AXES))  # already said
    bad = ~np.isfinite(out.to_numpy())
    out[bad] = np.nan
    other = bad & ~unshown
    if other.any():
        not_measurable(
            f"{int(other.sum())} pupil feature(s) are NaN (no pupil motion in the band, or a bin "
            f"the summaries need is not shown, e.g. {out.index[other][0]})"
        )
    return out, n_windows


def pupil_features(track: pd.DataFrame, **kwargs) -> pd.Series:
    """Pupil-motion STFT features of one face track (:func:`pupil_spectra` without the window count)."""
    return pupil_spectra(track, **kwargs)[0]
