"""The ``mfcc.`` group: MFCC, delta and delta-delta functionals.

Frames are 25 ms (Hann) every 10 ms, the same frames as the voice-activity
detector of :mod:`cdr.features.voice`, so that "active" functionals use exactly
the frames the VAD calls speech. Coefficients ``c0..c{n-1}`` come from a
40-band mel spectrum (librosa's slaney mel, log power in dB, DCT-II ortho);
``c0`` follows the recording's level.

Column names: ``mfcc.mfcc{k:02d}{kind}_{stat}_{frames}`` with ``kind`` one of
``""`` (static), ``"_d1"`` (delta), ``"_d2"`` (delta-delta); ``stat`` one of
``mean``, ``std``; ``frames`` one of ``active`` (VAD speech frames), ``all``.
For example ``mfcc.mfcc03_mean_active`` or ``mfcc.mfcc00_d2_std_all``.
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pandas as pd

from ..errors import ParameterError
from .blocks import in_blocks
from .voice import frame_params

KINDS = ("", "_d1", "_d2")
STATS = ("mean", "std")
FRAMES = ("active", "all")


def mfcc_names(*, n_mfcc: int = 13) -> list[str]:
    """Column names of the ``mfcc.`` group for ``n_mfcc`` coefficients (``12 * n_mfcc`` names)."""
    if int(n_mfcc) < 1:
        raise ParameterError(f"n_mfcc={n_mfcc} must be a positive integer")
    return [
        f"mfcc.mfcc{k:02d}{kind}_{stat}_{frames}"
        for frames in FRAMES
        for kind in KINDS
        for stat in STATS
        for k in range(int(n_mfcc))
    ]


NAMES: list[str] = mfcc_names()


def mfcc_frames(y: np.ndarray, sr: int, *, n_mfcc: int = 13, n_mels: int = 40) -> np.ndarray:
    """MFCCs with deltas and delta-deltas, one column per 10 ms frame.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.

    Returns
    -------
    feats : np.ndarray [shape=(3, n_mfcc, n_frames)]
        ``feats[0]`` the coefficients, ``feats[1]`` their deltas, ``feats[2]`` delta-deltas
        (9-frame Savitzky-Golay derivatives, ``librosa.feature.delta``).
    """
    if int(n_mels) < int(n_mfcc):
        raise ParameterError(f"n_mels={n_mels} must be at least n_mfcc={n_mfcc}")
    frame, hop = frame_params(sr)
    n_fft = int(2 ** np.ceil(np.log2(frame)))
    mel = in_blocks(  # centred frames, a block at a time (bounded memory on long recordings)
        lambda chunk: librosa.feature.melspectrogram(
            y=chunk, sr=sr, n_fft=n_fft, win_length=frame, hop_length=hop, n_mels=int(n_mels), center=False, power=2.0
        ),
        y, frame_length=n_fft, hop=hop,
    )
    c = librosa.feature.mfcc(S=librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None), n_mfcc=int(n_mfcc))
    if c.shape[1] < 3:
        d1 = d2 = np.full_like(c, np.nan)
    else:
        width = min(9, c.shape[1] - (1 - c.shape[1] % 2))
        d1 = librosa.feature.delta(c, width=width, order=1, mode="interp")
        d2 = librosa.feature.delta(c, width=width, order=2, mode="interp")
    return np.stack([c, d1, d2])


def mfcc_features(
    y: np.ndarray,
    sr: int,
    *,
    active: np.ndarray | None = None,
    within: np.ndarray | None = None,
    n_mfcc: int = 13,
    n_mels: int = 40,
    source: str = "audio",
) -> pd.Series:
    """The ``mfcc.`` group: mean and std of each coefficient, delta and delta-delta.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    active : np.ndarray [shape=(n_frames,), dtype=bool], optional
        Speech frames from :func:`cdr.features.voice.voice_activity` on the same ``y``.
        Without it (or with no active frame) the ``_active`` columns are NaN, with a warning.
    within : np.ndarray [shape=(n_frames,), dtype=bool], optional
        The frames of one speaker's turns (e.g. the patient's): the ``_all`` columns are
        taken over these frames instead of the whole recording.
    n_mfcc, n_mels : int
        Number of coefficients and of mel bands.
    source : str
        Name of the recording, for warnings.

    Returns
    -------
    pd.Series
        Indexed by ``mfcc_names(n_mfcc=n_mfcc)``; dB-scaled cepstral units.
    """
    names = mfcc_names(n_mfcc=n_mfcc)
    feats = mfcc_frames(y, sr, n_mfcc=n_mfcc, n_mels=n_mels)
    n = feats.shape[2]
    masks = {"all": np.ones(n, bool)}
    if within is not None:
        w = np.asarray(within, bool)[:n]
        masks["all"] = np.zeros(n, bool)
        masks["all"][: w.size] = w
    if active is not None and np.asarray(active).any():
        mask = np.zeros(n, bool)
        a = np.asarray(active, bool)[:n]
        mask[: a.size] = a
        masks["active"] = mask
    else:
        warnings.warn(f"{source}: no speech frames; MFCC functionals over active frames are NaN", stacklevel=2)
    values: list[np.ndarray] = []
    for frames in FRAMES:
        mask = masks.get(frames)
        for i in range(len(KINDS)):
            sel = feats[i][:, mask] if mask is not None else np.full((feats.shape[1], 0), np.nan)
            for stat in STATS:
                if sel.shape[1] == 0:
                    values.append(np.full(feats.shape[1], np.nan))
                else:
                    values.append(sel.mean(axis=1) if stat == "mean" else sel.std(axis=1))
    out = np.concatenate(values)
    if out.size != len(names):
        raise RuntimeError(f"mfcc: {out.size} values for {len(names)} names")
    return pd.Series(out, index=names, dtype=float)
