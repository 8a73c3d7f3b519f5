"""Checks the demo prints about its own cohort: does a patient feature follow the interviewer?

SYNTHETIC DATA only. In the demo cohort the interviewer's voice (``awb+k``: the recorded
CMU Arctic speaker scaled by ``k`` semitones) is drawn independently of class. A feature
measured on the whole recording follows ``k``; one measured on the patient's turns must not.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

F0_MEAN = "gemaps.F0semitoneFrom27.5Hz_sma3nz_amean"


def interviewer_shift(voice: str) -> float:
    """Semitones ``k`` of an interviewer voice ``awb+k`` (NaN for another voice)."""
    return float(voice[3:] or 0) if str(voice).startswith("awb") else np.nan


def gemaps_follows_interviewer(table: pd.DataFrame, planted: pd.DataFrame, videos: Path, *,
                               suffix: str = ".mp4") -> pd.DataFrame:
    """Spearman correlation of the F0 mean with the interviewer's voice, whole recording vs patient's turns.

    Parameters
    ----------
    table : pd.DataFrame
        The extracted features (index ``video_id``), with the patient's ``gemaps.`` F0 mean.
    planted : pd.DataFrame
        The cohort's ``planted.csv`` (``video_id``, ``interviewer_voice``, ``pitch``).
    videos : Path
        Folder of ``<video_id><suffix>``, to measure the whole recording the old way.

    Returns
    -------
    pd.DataFrame
        One row per measurement (``whole recording``, ``patient's turns``): ``rho`` and ``p``
        against the interviewer's shift, and ``rho_patient_pitch`` against the patient's
        own planted pitch setting (which a good measurement should follow).
    """
    from ..features.gemaps import gemaps_features
    from ..io import read_audio

    p = planted.set_index("video_id")
    ids = [v for v in table.index if v in p.index and "#" not in str(v)]
    k = np.array([interviewer_shift(p.loc[v, "interviewer_voice"]) for v in ids])
    own = p.loc[ids, "pitch"].to_numpy(float)
    whole = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for v in ids:
            whole.append(gemaps_features(read_audio(Path(videos) / f"{v}{suffix}"), 16_000)[F0_MEAN])
    rows = []
    for name, f0 in (("whole recording", np.asarray(whole)), ("patient's turns", table.loc[ids, F0_MEAN].to_numpy())):
        ok = np.isfinite(f0) & np.isfinite(k)
        rho, pval = spearmanr(k[ok], f0[ok])
        rows.append({"measured on": name, "rho_interviewer": rho, "p": pval,
                     "rho_patient_pitch": spearmanr(own[ok], f0[ok])[0], "n": int(ok.sum())})
    return pd.DataFrame(rows)
