"""All speech features of one recording: the ``mfcc.``, ``gemaps.`` and ``voice.`` groups and two ``qc.`` values.

The audio is decoded once (``cdr.io.read_audio``) and handed over as an array.
Whatever its rate and channel count, it is brought here to 16 kHz mono float32
(stereo is averaged, other rates are resampled with soxr), so that every
recording is measured the same way.

What is NaN, and when (always with a warning):

- no audio track (``y is None``): speech groups NaN, ``qc.audio_present`` 0,
  ``qc.speech_ratio`` NaN;
- shorter than 1 s: speech groups NaN, ``qc.audio_present`` 1, ``qc.speech_ratio`` NaN;
- silent (speech level below -60 dBFS, or no speech frame at all): speech groups
  NaN, ``qc.audio_present`` 1, ``qc.speech_ratio`` 0 (measured: there is no speech);
- a steady sound (tone, hum or noise with < 10 dB between loud and quiet frames):
  speech groups NaN, ``qc.audio_present`` 1, ``qc.speech_ratio`` NaN;
- speech: everything measured; ``qc.speech_ratio`` equals ``voice.speech_ratio``.

Individual columns can still be NaN when they are not measurable (e.g. pause
durations of a recording without a pause).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import soxr

from ..errors import ParameterError
from . import gemaps, mfcc, voice

RATE = 16_000
MIN_DURATION_S = 1.0
MIN_RATE = 4_000

QC_NAMES: list[str] = ["qc.audio_present", "qc.speech_ratio"]
GROUP_NAMES: list[str] = mfcc.NAMES + gemaps.NAMES + voice.NAMES
SPEECH_NAMES: list[str] = GROUP_NAMES + QC_NAMES


def prepare_audio(y: np.ndarray, sr: int, *, source: str = "audio") -> np.ndarray:
    """Any audio array -> 16 kHz mono float32 with finite samples in [-1, 1].

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n) or (n, channels)]
        Float samples in [-1, 1], or integer PCM (scaled by its full range).
        Of a 2-D array the shorter axis (at most 8 long) is taken as channels.
    sr : int
        Its sample rate in Hz (at least 4000).
    source : str
        Name of the recording, for warnings and errors.

    Returns
    -------
    y16 : np.ndarray [shape=(m,), dtype=float32]
        ``m = round(n * 16000 / sr)`` samples. Non-finite samples become 0, and a
        signal that exceeds full scale is scaled down to peak 1 (both with a warning).
    """
    if isinstance(sr, bool) or not isinstance(sr, (int, np.integer)) or sr < MIN_RATE:
        raise ParameterError(f"{source}: sr={sr!r} must be an integer sample rate of at least {MIN_RATE} Hz")
    y = np.asarray(y)
    if y.dtype.kind in "iu":
        full = float(np.iinfo(y.dtype).max) + 1.0
        if y.dtype.kind == "u":
            y = (y.astype(np.float64) - full / 2) / (full / 2)
        else:
            y = y.astype(np.float64) / full
    elif y.dtype.kind != "f":
        raise ParameterError(f"{source}: samples of dtype {y.dtype} are not audio; pass float or integer PCM")
    if not (y.dtype == np.float32 and y.ndim == 1 and sr == RATE):
        y = y.astype(np.float64, copy=False)  # mixed and resampled in double precision
    # (16 kHz mono float32, as cdr.io decodes it, stays as it is: no 8-byte copy of a long recording)
    if y.ndim == 2:
        if y.shape[0] <= 8 and y.shape[0] <= y.shape[1]:
            y = y.mean(axis=0)
        elif y.shape[1] <= 8:
            y = y.mean(axis=1)
        else:
            raise ParameterError(f"{source}: audio of shape {y.shape} has no channel axis of at most 8")
    elif y.ndim != 1:
        raise ParameterError(f"{source}: audio of shape {y.shape} must be 1-D (mono) or 2-D (channels)")
    bad = ~np.isfinite(y)
    if bad.any():
        warnings.warn(f"{source}: {int(bad.sum())} non-finite samples replaced by silence", stacklevel=3)
        y = np.where(bad, 0.0, y)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak > 1.0:
        warnings.warn(f"{source}: samples reach {peak:.3g}, beyond full scale; scaled to peak 1", stacklevel=3)
        y = y.astype(np.float64) / peak
    if sr != RATE and y.size:
        y = soxr.resample(y, int(sr), RATE)
    return np.ascontiguousarray(y, dtype=np.float32)


def speech_features(y: np.ndarray | None, sr: int, *, source: str = "audio") -> pd.Series:
    """Speech feature groups and speech ``qc.`` values of one recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)] or None
        The decoded audio track; ``None`` when the recording has none.
    sr : int
        Its sample rate in Hz (any rate of at least 4 kHz; 8 kHz telephone audio works).
    source : str
        Name of the recording, for warnings.

    Returns
    -------
    pd.Series
        Indexed exactly by :data:`SPEECH_NAMES`. See the module docstring for what is NaN when.
    """
    out = pd.Series(np.nan, index=SPEECH_NAMES, dtype=float)
    if y is None:
        warnings.warn(f"{source}: no audio track; speech features are NaN", stacklevel=2)
        out["qc.audio_present"] = 0.0
        return out
    out["qc.audio_present"] = 1.0
    y16 = prepare_audio(y, sr, source=source)
    duration = y16.size / RATE
    if duration < MIN_DURATION_S:
        warnings.warn(
            f"{source}: audio lasts {duration:.2f} s, under {MIN_DURATION_S} s; speech features are NaN", stacklevel=2
        )
        return out
    activity = voice.voice_activity(y16, RATE)
    if activity.status == "silent" or (activity.status == "ok" and not activity.active.any()):
        warnings.warn(
            f"{source}: audio is silent (speech level {activity.level_db:.0f} dBFS); speech features are NaN",
            stacklevel=2,
        )
        out["qc.speech_ratio"] = 0.0
        return out
    if activity.status == "flat":
        warnings.warn(
            f"{source}: audio is a steady sound ({activity.level_db - activity.background_db:.1f} dB between loud "
            "and quiet frames), speech cannot be found; speech features are NaN",
            stacklevel=2,
        )
        return out
    out[mfcc.NAMES] = mfcc.mfcc_features(y16, RATE, active=activity.active, source=source)
    out[gemaps.NAMES] = gemaps.gemaps_features(y16, RATE, source=source)
    out[voice.NAMES] = voice.voice_features(y16, RATE, activity, source=source)
    out["qc.speech_ratio"] = activity.speech_ratio
    return out
