"""The ``turns.`` group: conversation timing between the patient and the others.

Input: speaker turns (``start_s``, ``end_s``, ``speaker``) with the patient named
``patient`` (:mod:`cdr.speakers`). Times are measured on a 10 ms grid.

- A *turn* is a run of one speaker's segments until another speaker starts
  something that is not wholly inside the current turn (a segment inside it is
  overlap or a back-channel, not a new turn).
- ``turns.patient_share``: the patient's speech time / the time anyone speaks (1 with one speaker).
- ``turns.response_latency_{median,mean,iqr}_s``: from the end of another speaker's
  turn to the start of the patient's turn that follows it (negative when the
  patient starts before the other ends). NaN, with a warning, with no such pair.
- ``turns.turns_per_min``: turns of all speakers per minute from the first to the last speech.
- ``turns.patient_turn_median_s``: median length of the patient's turns.
- ``turns.overlap_ratio``: time with two or more speakers / the time anyone speaks.
- ``turns.interruptions_per_min``: turns that start while the previous speaker's turn
  goes on, per minute.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

HOP_S = 0.010
NAMES: list[str] = [
    "turns.patient_share",
    "turns.response_latency_median_s",
    "turns.response_latency_mean_s",
    "turns.response_latency_iqr_s",
    "turns.turns_per_min",
    "turns.patient_turn_median_s",
    "turns.overlap_ratio",
    "turns.interruptions_per_min",
]


def conversation_turns(turns: pd.DataFrame) -> pd.DataFrame:
    """Segments -> turns (``start_s``, ``end_s``, ``speaker``), in order (see the module docstring)."""
    out: list[list] = []
    for s, e, spk in sorted(zip(turns["start_s"], turns["end_s"], turns["speaker"])):
        if out and (spk == out[-1][2] or e <= out[-1][1]):
            if spk == out[-1][2]:
                out[-1][1] = max(out[-1][1], e)
            continue
        out.append([float(s), float(e), spk])
    return pd.DataFrame(out, columns=["start_s", "end_s", "speaker"])


def turns_features(turns: pd.DataFrame, *, source: str = "audio") -> pd.Series:
    """The ``turns.`` group of one recording.

    Parameters
    ----------
    turns : pd.DataFrame
        Columns ``start_s``, ``end_s`` (seconds), ``speaker`` (the patient is ``"patient"``).
    source : str
        Name of the recording, for warnings.

    Returns
    -------
    pd.Series
        Indexed by :data:`NAMES`; NaN where not measurable (no patient speech: all NaN).
    """
    out = pd.Series(np.nan, index=NAMES, dtype=float)
    if len(turns) == 0 or not (turns["speaker"] == "patient").any():
        warnings.warn(f"{source}: no patient speech; turns features are NaN", stacklevel=2)
        return out
    n = int(np.ceil(turns["end_s"].max() / HOP_S)) + 1
    count = np.zeros(n, int)
    patient = np.zeros(n, bool)
    for spk, g in turns.groupby("speaker"):
        m = np.zeros(n, bool)
        for s, e in zip(g["start_s"], g["end_s"]):
            m[int(round(s / HOP_S)): int(round(e / HOP_S))] = True
        count += m
        if spk == "patient":
            patient = m
    anyone = count > 0
    out["turns.patient_share"] = patient.sum() / anyone.sum()
    out["turns.overlap_ratio"] = (count > 1).sum() / anyone.sum()
    conv = conversation_turns(turns)
    span_min = (conv["end_s"].max() - conv["start_s"].min()) / 60.0
    if span_min > 0:
        out["turns.turns_per_min"] = len(conv) / span_min
    is_patient = (conv["speaker"] == "patient").to_numpy()
    starts, ends = conv["start_s"].to_numpy(), conv["end_s"].to_numpy()
    out["turns.patient_turn_median_s"] = float(np.median(ends[is_patient] - starts[is_patient]))
    follows = np.flatnonzero(is_patient[1:] & ~is_patient[:-1]) + 1
    latency = starts[follows] - ends[follows - 1]
    if latency.size:
        out["turns.response_latency_median_s"] = float(np.median(latency))
        out["turns.response_latency_mean_s"] = float(latency.mean())
        q75, q25 = np.percentile(latency, [75, 25])
        out["turns.response_latency_iqr_s"] = float(q75 - q25)
    elif (~is_patient).any():
        warnings.warn(f"{source}: the patient never answers another speaker; response latencies are NaN",
                      stacklevel=2)
    else:
        warnings.warn(f"{source}: only one speaker; response latencies are NaN", stacklevel=2)
    if span_min > 0:
        out["turns.interruptions_per_min"] = int((starts[1:] < ends[:-1]).sum()) / span_min
    return out
