"""The ``gemaps.`` group: the 88 eGeMAPSv02 functionals of openSMILE.

This is the only module that imports opensmile. The extractor is built once per
process and reused. Columns are the upstream names prefixed with ``gemaps.``,
e.g. ``gemaps.F0semitoneFrom27.5Hz_sma3nz_amean`` (F0 in semitones above
27.5 Hz; ``27.5 * 2 ** (st / 12)`` gives Hz) or ``gemaps.loudness_sma3_amean``.

openSMILE must get float32 samples: given int16 it silently reports F0 = 0 and
with it zero jitter and shimmer, so the signal is converted here whatever comes in.

Upstream reports a functional over no frames as 0 (and formant amplitudes as
-201 dB). Here, when openSMILE finds no voiced frame, the functionals over voiced
frames (``*_sma3nz_*`` other than the ``UV`` ones, and the voiced-segment
lengths) are NaN, with a warning; likewise the ``UV`` functionals and
unvoiced-segment lengths when it finds no unvoiced frame.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import numpy as np
import opensmile
import pandas as pd

N_FEATURES = 88


@lru_cache(maxsize=1)
def smile() -> opensmile.Smile:
    """The process-wide eGeMAPSv02 functionals extractor."""
    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02,
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def _upstream_names() -> list[str]:
    names = list(smile().feature_names)
    if len(names) != N_FEATURES:
        raise RuntimeError(f"opensmile eGeMAPSv02 declares {len(names)} functionals, expected {N_FEATURES}")
    return names


UPSTREAM: list[str] = _upstream_names()
NAMES: list[str] = [f"gemaps.{n}" for n in UPSTREAM]
_UV = re.compile(r"UV[0-9-]*_sma3nz")
UNVOICED: list[str] = [
    f"gemaps.{n}" for n in UPSTREAM if _UV.search(n) or n.startswith(("MeanUnvoiced", "StddevUnvoiced"))
]
VOICED: list[str] = [
    f"gemaps.{n}"
    for n in UPSTREAM
    if ("sma3nz" in n and not _UV.search(n)) or n.startswith(("MeanVoiced", "StddevVoiced"))
]


def semitone_to_hz(st: float | np.ndarray) -> float | np.ndarray:
    """eGeMAPS F0 in semitones above 27.5 Hz -> Hz."""
    return 27.5 * 2.0 ** (np.asarray(st, dtype=float) / 12.0)


def gemaps_features(y: np.ndarray, sr: int, *, source: str = "audio") -> pd.Series:
    """The ``gemaps.`` group for one recording.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples in [-1, 1]; converted to float32 here.
    sr : int
        Sample rate in Hz (the pipeline passes 16 kHz).
    source : str
        Name of the recording, for warnings.

    Returns
    -------
    pd.Series
        Indexed by :data:`NAMES`, in eGeMAPSv02 units (semitones, dB, Hz, seconds, per second).
    """
    signal = np.ascontiguousarray(np.asarray(y, dtype=np.float32).reshape(1, -1))
    frame = smile().process_signal(signal, int(sr))
    if frame.shape != (1, N_FEATURES) or list(frame.columns) != UPSTREAM:
        raise RuntimeError(f"opensmile returned shape {frame.shape}, expected (1, {N_FEATURES}) eGeMAPSv02 columns")
    out = pd.Series(frame.iloc[0].to_numpy(dtype=float), index=NAMES, dtype=float)
    if out["gemaps.MeanVoicedSegmentLengthSec"] == 0 and out["gemaps.VoicedSegmentsPerSec"] == 0:
        warnings.warn(f"{source}: openSMILE found no voiced frame; eGeMAPS voiced functionals are NaN", stacklevel=2)
        out[VOICED] = np.nan
    if out["gemaps.MeanUnvoicedSegmentLength"] == 0:
        warnings.warn(f"{source}: openSMILE found no unvoiced frame; eGeMAPS unvoiced functionals are NaN", stacklevel=2)
        out[UNVOICED] = np.nan
    return out


#: Shortest segment (seconds) given to openSMILE on its own.
MIN_SEGMENT_S = 0.5
#: Longest piece (seconds) given to openSMILE at once. openSMILE keeps every low-level frame of
#: its input for the functionals, about 25 MB a minute, so a longer stretch is cut into equal
#: pieces of at most this length (combined by duration like separate stretches), and the memory
#: of an hour-long monologue stays that of one piece.
MAX_SEGMENT_S = 60.0


def split_long(segments: np.ndarray, longest: float = MAX_SEGMENT_S) -> np.ndarray:
    """``[start_s, end_s]`` rows, each longer than ``longest`` cut into equal pieces no longer than it."""
    out = []
    for s, e in np.asarray(segments, dtype=float).reshape(-1, 2):
        k = max(1, int(np.ceil((e - s) / longest - 1e-9)))
        edges = np.linspace(s, e, k + 1)
        out.extend(zip(edges[:-1], edges[1:]))
    return np.asarray(out, dtype=float).reshape(-1, 2)


def gemaps_over_segments(y: np.ndarray, sr: int, segments: np.ndarray, *, source: str = "audio") -> pd.Series:
    """The ``gemaps.`` group over some stretches of a recording (e.g. the patient's turns).

    openSMILE runs on each segment on its own and the functionals are combined as
    their mean weighted by segment duration (NaN values, e.g. the voiced functionals of
    a segment without a voiced frame, are left out of the mean). Segments are never
    joined into one signal, so the joins between turns create no fake pause, pitch
    jump or loudness step. The price: a spread functional (``stddevNorm``, percentile
    ranges) describes the variation inside segments, not between them. A segment longer
    than :data:`MAX_SEGMENT_S` is measured as equal pieces of at most that length
    (:func:`split_long`), which bounds openSMILE's memory.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    segments : np.ndarray [shape=(k, 2)]
        ``[start_s, end_s]`` rows; those shorter than :data:`MIN_SEGMENT_S` are left out.
    source : str
        Name of the recording, for warnings.

    Returns
    -------
    pd.Series
        Indexed by :data:`NAMES`; all NaN, with a warning, when no segment is long enough.
    """
    segments = np.asarray(segments, dtype=float).reshape(-1, 2)
    keep = split_long(segments[(segments[:, 1] - segments[:, 0]) >= MIN_SEGMENT_S])
    if len(keep) == 0:
        warnings.warn(f"{source}: no speech stretch of {MIN_SEGMENT_S} s or more; eGeMAPS functionals are NaN",
                      stacklevel=2)
        return pd.Series(np.nan, index=NAMES, dtype=float)
    rows, weights = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-segment notes; the combined result warns below
        for s, e in keep:
            rows.append(gemaps_features(y[int(round(s * sr)): int(round(e * sr))], sr, source=source))
            weights.append(e - s)
    values = pd.DataFrame(rows).to_numpy(dtype=float)
    w = np.asarray(weights)[:, None] * np.isfinite(values)
    total = w.sum(0)
    combined = np.where(total > 0, np.nansum(np.nan_to_num(values) * w, 0) / np.maximum(total, 1e-12), np.nan)
    out = pd.Series(combined, index=NAMES, dtype=float)
    if out[VOICED].isna().all():
        warnings.warn(f"{source}: openSMILE found no voiced frame; eGeMAPS voiced functionals are NaN", stacklevel=2)
    return out
