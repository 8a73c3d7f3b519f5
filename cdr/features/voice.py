"""The ``voice.`` group: voice activity, pauses and a speaking-rate proxy.

Pauses matter clinically in dementia, and they are also a known confound of
speech-based classifiers (silence alone separates much of the Pitt corpus),
so they live in their own group where an ablation can show what they do alone.

Voice activity (an energy VAD, documented here because every number below
depends on it):

1. Frame RMS over 25 ms rectangular frames every 10 ms (``librosa.feature.rms``,
   centred frames), in dBFS with a floor of -100 dB.
2. The recording's *speech level* is the 95th percentile of the frame levels and
   its *background level* the 10th percentile.
3. A frame is active when its level exceeds
   ``max(background + 0.3 * (speech - background), speech - 35 dB)``: 30 % of the
   way from background to speech, but never more than 35 dB below speech. The
   threshold follows the recording's own gain and noise, so a quiet or noisy
   recording is treated like a loud clean one.
4. Active runs shorter than ``min_speech`` (60 ms: clicks, taps) are dropped, then
   inactive runs shorter than ``min_pause`` (250 ms: stop closures, word
   boundaries) between active frames are filled.

A *pause* is an inactive run of at least ``min_pause`` with speech on both sides;
silence before the first and after the last speech is not a pause (it depends on
when the recorder was started). A recording whose speech level is below -60 dBFS
is *silent*; one whose speech and background levels are less than 10 dB apart
(a steady tone or noise) has no measurable activity. Both give NaN.

Syllable nuclei (after de Jong & Wempe, 2009): peaks of the 300-3000 Hz band
intensity (dB, from the same frames' power spectrum, smoothed over 3 frames)
that stand at least 4 dB above the dips on both sides (de Jong & Wempe use 2 dB
on broadband intensity; 4 dB on this band counted espeak-ng syllables within
8 % at 100-280 words per minute, male and female voices), are at least 80 ms
apart, and lie in active and *voiced* frames. A frame is voiced when its normalised autocorrelation, with
the window's own autocorrelation divided out (Boersma, 1993), peaks above 0.45
at a lag of 2-14 ms (F0 70-500 Hz); the autocorrelation is the inverse FFT of a
40 ms frame's power spectrum.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import librosa
import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d
from scipy.signal import find_peaks, get_window

from .blocks import in_blocks

NAMES: list[str] = [
    "voice.speech_ratio",
    "voice.pauses_per_min",
    "voice.pause_mean_s",
    "voice.pause_median_s",
    "voice.pause_max_s",
    "voice.syllable_rate",
]

HOP_S = 0.010
WIN_S = 0.025
SILENT_DBFS = -60.0
MIN_CONTRAST_DB = 10.0
FLOOR_DB = -100.0


@dataclass(frozen=True)
class Activity:
    """Result of the energy VAD on one recording.

    Attributes
    ----------
    active : np.ndarray [shape=(n_frames,), dtype=bool]
        Speech frames, one per 10 ms hop (frame ``i`` is centred at ``i * hop_s`` seconds).
    hop_s : float
        Frame hop in seconds.
    level_db, background_db, threshold_db : float
        Speech level, background level and threshold in dBFS.
    status : str
        ``"ok"``, ``"silent"`` or ``"flat"`` (no contrast between speech and background).
    """

    active: np.ndarray
    hop_s: float
    level_db: float
    background_db: float
    threshold_db: float
    status: str

    @property
    def speech_ratio(self) -> float:
        """Share of frames that are active (0..1); NaN unless ``status == "ok"``."""
        if self.status != "ok" or self.active.size == 0:
            return float("nan")
        return float(self.active.mean())


def frame_params(sr: int) -> tuple[int, int]:
    """``(frame_length, hop_length)`` in samples for 25 ms frames every 10 ms at ``sr`` Hz."""
    return int(round(WIN_S * sr)), int(round(HOP_S * sr))


def voice_activity(
    y: np.ndarray, sr: int, *, min_pause: float = 0.25, min_speech: float = 0.06
) -> Activity:
    """Energy voice-activity detection with a threshold relative to the recording's levels.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    min_pause, min_speech : float
        Shortest pause and shortest speech burst kept, in seconds.

    Returns
    -------
    Activity
        One boolean per 10 ms frame and the levels behind it (see the module docstring).
    """
    frame, hop = frame_params(sr)
    rms = in_blocks(lambda chunk: librosa.feature.rms(y=chunk, frame_length=frame, hop_length=hop, center=False)[0],
                    y, frame_length=frame, hop=hop)
    db = 20.0 * np.log10(np.maximum(rms.astype(np.float64), 10.0 ** (FLOOR_DB / 20.0)))
    level, background = (float(v) for v in np.percentile(db, [95, 10]))
    threshold = max(background + 0.3 * (level - background), level - 35.0)
    hop_s = hop / sr
    if level < SILENT_DBFS:
        return Activity(np.zeros(db.size, bool), hop_s, level, background, threshold, "silent")
    if level - background < MIN_CONTRAST_DB:
        return Activity(np.zeros(db.size, bool), hop_s, level, background, threshold, "flat")
    active = db > threshold
    active = _drop_short_runs(active, True, int(round(min_speech / hop_s)))
    active = _drop_short_runs(active, False, int(round(min_pause / hop_s)), interior_only=True)
    return Activity(active, hop_s, level, background, threshold, "ok")


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding: ``(starts, ends, values)`` with ``ends`` exclusive."""
    if mask.size == 0:
        empty = np.zeros(0, int)
        return empty, empty, np.zeros(0, bool)
    change = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [mask.size]])
    return starts, ends, mask[starts]


def _drop_short_runs(mask: np.ndarray, value: bool, min_len: int, *, interior_only: bool = False) -> np.ndarray:
    """Flip runs of ``value`` shorter than ``min_len`` frames (only those between other runs if asked)."""
    out = mask.copy()
    starts, ends, values = _runs(mask)
    for i, (s, e, v) in enumerate(zip(starts, ends, values)):
        if v != value or e - s >= min_len:
            continue
        if interior_only and (i == 0 or i == len(starts) - 1):
            continue
        out[s:e] = not value
    return out


def pauses(activity: Activity, *, min_pause: float = 0.25, within: np.ndarray | None = None) -> np.ndarray:
    """Pauses between speech, as ``[[start_s, end_s], ...]`` (shape ``(n_pauses, 2)``, seconds).

    Times are frame boundaries: a run of frames ``i..j-1`` spans ``i*hop_s .. j*hop_s``.
    With ``within`` (a frame mask, e.g. the patient's turns), only pauses lying wholly
    inside it count.
    """
    starts, ends, values = _runs(activity.active)
    out = [
        (s * activity.hop_s, e * activity.hop_s)
        for i, (s, e, v) in enumerate(zip(starts, ends, values))
        if not v and 0 < i < len(starts) - 1 and (e - s) * activity.hop_s >= min_pause - 1e-9
        and (within is None or bool(np.asarray(within[s:e]).all()))
    ]
    return np.asarray(out, dtype=float).reshape(-1, 2)


def voiced_frames(
    y: np.ndarray, sr: int, frames: np.ndarray | None = None, *, threshold: float = 0.45
) -> np.ndarray:
    """Voicing of 10 ms frames from the normalised autocorrelation of 40 ms Hann frames.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples.
    sr : int
        Sample rate in Hz.
    frames : np.ndarray [shape=(k,), dtype=int], optional
        Indices of the frames to test (frame ``i`` is centred on sample ``i * hop``);
        all frames of :func:`voice_activity` if not given.
    threshold : float
        Autocorrelation peak (0..1) above which a frame is voiced.

    Returns
    -------
    voiced : np.ndarray [shape=(k,), dtype=bool]
    """
    _, hop = frame_params(sr)
    win = int(round(0.040 * sr))
    n_fft = int(2 ** np.ceil(np.log2(2 * win)))
    if frames is None:
        frames = np.arange(1 + y.size // hop)
    frames = np.asarray(frames, dtype=np.int64)
    window = get_window("hann", win)
    w_acf = np.fft.irfft(np.abs(np.fft.rfft(window, n=n_fft)) ** 2, n=n_fft)
    lo, hi = int(sr / 500), min(int(sr / 70), win // 2)
    y = np.asarray(y)  # zero outside, as if padded by win // 2 (no padded copy of a long recording)
    out = np.zeros(frames.size, bool)
    for c in range(0, frames.size, 1024):  # bounded memory on long recordings (~100 MB a block)
        at = frames[c : c + 1024, None] * hop - win // 2 + np.arange(win)
        seg = np.where((at >= 0) & (at < y.size), y[np.clip(at, 0, max(y.size - 1, 0))], 0.0) * window
        acf = np.fft.irfft(np.abs(np.fft.rfft(seg, n=n_fft, axis=1)) ** 2, n=n_fft, axis=1)
        norm = acf[:, lo:hi] / np.maximum(acf[:, :1], 1e-20) / (w_acf[lo:hi] / w_acf[0])
        out[c : c + 1024] = norm.max(axis=1) > threshold
    return out


def syllable_nuclei(
    y: np.ndarray, sr: int, activity: Activity, *, band: tuple[float, float] = (300.0, 3000.0)
) -> np.ndarray:
    """Times (s) of syllable nuclei: prominent band-intensity peaks in active, voiced frames."""
    frame, hop = frame_params(sr)
    n_fft = int(2 ** np.ceil(np.log2(frame)))
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    sel = (freqs >= band[0]) & (freqs <= min(band[1], sr / 2))
    band_power = in_blocks(  # centred frames, a block at a time (bounded memory on long recordings)
        lambda chunk: (np.abs(librosa.stft(chunk, n_fft=n_fft, win_length=frame, hop_length=hop, center=False)) ** 2)[sel]
        .sum(axis=0),
        y, frame_length=n_fft, hop=hop,
    )
    env = 10.0 * np.log10(np.maximum(band_power, 1e-10))
    env = uniform_filter1d(env, size=3, mode="nearest")
    n = min(env.size, activity.active.size)
    peaks, _ = find_peaks(env[:n], prominence=4.0, distance=max(1, int(round(0.08 / activity.hop_s))))
    peaks = peaks[activity.active[peaks]]
    peaks = peaks[voiced_frames(y, sr, peaks)]  # voicing only where it matters: fast on long recordings
    return peaks * activity.hop_s


def voice_features(
    y: np.ndarray, sr: int, activity: Activity | None = None, *, min_pause: float = 0.25, source: str = "audio",
    within: np.ndarray | None = None,
) -> pd.Series:
    """The ``voice.`` group for one recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    activity : Activity, optional
        A VAD result for ``y`` (computed here if not given).
    source : str
        Name of the recording, for warnings.
    within : np.ndarray [shape=(n_frames,), dtype=bool], optional
        One speaker's turns (e.g. the patient's): only their active frames count as speech,
        the speech ratio is taken over these frames, and only pauses wholly inside count.

    Returns
    -------
    pd.Series
        Indexed by :data:`NAMES`: speech ratio (0..1), pauses per minute of the span
        from first to last speech, mean / median / longest pause (s), syllable nuclei
        per second of speech. NaN, with a warning, where not measurable.
    """
    out = pd.Series(np.nan, index=NAMES, dtype=float)
    if activity is None:
        activity = voice_activity(y, sr, min_pause=min_pause)
    if within is not None and activity.status == "ok":
        w = np.asarray(within, bool)[: activity.active.size]
        within = np.zeros(activity.active.size, bool)
        within[: w.size] = w
        activity = replace(activity, active=activity.active & within)
    if activity.status != "ok" or not activity.active.any():
        warnings.warn(f"{source}: no speech activity ({activity.status}); voice features are NaN", stacklevel=2)
        return out
    out["voice.speech_ratio"] = activity.speech_ratio if within is None else float(
        activity.active.sum() / max(within.sum(), 1))
    idx = np.flatnonzero(activity.active)
    span_s = (idx[-1] + 1 - idx[0]) * activity.hop_s
    found = pauses(activity, min_pause=min_pause, within=within)
    durations = found[:, 1] - found[:, 0]
    out["voice.pauses_per_min"] = durations.size / (span_s / 60.0)
    if durations.size:
        out["voice.pause_mean_s"] = float(durations.mean())
        out["voice.pause_median_s"] = float(np.median(durations))
        out["voice.pause_max_s"] = float(durations.max())
    else:
        warnings.warn(f"{source}: no pause of {min_pause} s or more; pause durations are NaN", stacklevel=2)
    speech_s = idx.size * activity.hop_s
    if speech_s >= 0.5:
        out["voice.syllable_rate"] = syllable_nuclei(y, sr, activity).size / speech_s
    else:
        warnings.warn(f"{source}: only {speech_s:.2f} s of speech; syllable rate is NaN", stacklevel=2)
    return out
