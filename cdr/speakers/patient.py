"""Which of the diarized speakers is the patient, and frame masks of their speech.

1. **By the face's mouth** (``qc.patient_attribution`` = 1): in a video with a
   tracked face, the patient is the speaker whose voice activity goes with the
   face's mouth movement. Mouth movement is the standard deviation of the track's
   ``mouth_open`` (lip opening / eye distance) over a centred 0.4 s window; for each
   speaker, its Pearson correlation with that speaker's 0/1 activity at the frame
   times is taken over the frames with a face. The best speaker wins when its
   correlation is at least :data:`MIN_R`, ahead of the next by :data:`MIN_MARGIN`,
   over at least :data:`MIN_FACE_S` seconds of face.
2. **By speech time** (0): otherwise (audio only, no face, weak mouth evidence),
   the speaker with the most speech.
3. A user's turns file (2) names the patient itself and skips this module's choice.

The other speakers are renamed ``interviewer`` (the one with most speech) and
``other1``, ``other2``, ... .
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .diarize import TURN_COLUMNS

HOP_S = 0.010
MIN_R = 0.2
MIN_MARGIN = 0.1
MIN_FACE_S = 5.0
MOUTH_WINDOW = "400ms"
#: The runner-up's speech time, as a share of the first's, above which "most speech" is a guess.
CLOSE_SHARE = 0.8

BY_SPEECH, BY_MOUTH, BY_USER = 0, 1, 2


def speaker_masks(turns: pd.DataFrame, n_frames: int, hop_s: float = HOP_S) -> dict[str, np.ndarray]:
    """One boolean mask per speaker over ``n_frames`` frames of ``hop_s`` seconds."""
    out: dict[str, np.ndarray] = {}
    for s, e, spk in zip(turns["start_s"], turns["end_s"], turns["speaker"]):
        m = out.setdefault(str(spk), np.zeros(n_frames, bool))
        m[max(0, int(round(s / hop_s))): max(0, int(round(e / hop_s)))] = True
    return out


def mouth_movement(track: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(t, movement)`` of the frames with a face: rolling std of ``mouth_open`` over 0.4 s."""
    if track is None or "mouth_open" not in track.columns or len(track) == 0:
        return np.zeros(0), np.zeros(0)
    face = track["face"].eq(True).to_numpy() & np.isfinite(track["mouth_open"].to_numpy(float))
    t = track["t"].to_numpy(float)[face]
    if t.size < 3:
        return np.zeros(0), np.zeros(0)
    s = pd.Series(track["mouth_open"].to_numpy(float)[face], index=pd.to_timedelta(t, unit="s"))
    s = s[~s.index.duplicated()]
    move = s.rolling(MOUTH_WINDOW, center=True, min_periods=2).std().to_numpy()
    return s.index.total_seconds().to_numpy(), move


def mouth_correlations(turns: pd.DataFrame, track: pd.DataFrame | None) -> dict[str, float]:
    """Pearson correlation of each speaker's activity with the mouth's movement (NaN if unmeasurable)."""
    speakers = list(dict.fromkeys(turns["speaker"]))
    t, move = mouth_movement(track)
    ok = np.isfinite(move)
    t, move = t[ok], move[ok]
    if t.size < 2 or np.ptp(t) < MIN_FACE_S or np.std(move) == 0:
        return {s: np.nan for s in speakers}
    out = {}
    for spk in speakers:
        g = turns[turns["speaker"] == spk]
        inside = ((t[:, None] >= g["start_s"].to_numpy()[None, :]) & (t[:, None] < g["end_s"].to_numpy()[None, :])).any(1)
        out[spk] = float(np.corrcoef(inside.astype(float), move)[0, 1]) if 0 < inside.mean() < 1 else np.nan
    return out


def attribute(turns: pd.DataFrame, track: pd.DataFrame | None = None, *,
              source: str = "audio") -> tuple[pd.DataFrame, int]:
    """Name the speakers of automatic turns: ``patient``, ``interviewer``, ``other1``, ...

    Parameters
    ----------
    turns : pd.DataFrame
        Columns ``start_s``, ``end_s``, ``speaker`` (any names).
    track : pd.DataFrame, optional
        The face track (columns ``t``, ``face``, ``mouth_open``).
    source : str
        Name of the recording, for the warning when the patient cannot be told apart.

    Returns
    -------
    named : pd.DataFrame
        ``turns`` with speakers renamed.
    method : int
        :data:`BY_SPEECH` or :data:`BY_MOUTH`.
    """
    if len(turns) == 0:
        return turns.copy(), BY_SPEECH
    speech = (turns["end_s"] - turns["start_s"]).groupby(turns["speaker"]).sum().sort_values(ascending=False)
    patient, method = str(speech.index[0]), BY_SPEECH
    if len(speech) > 1:
        r = pd.Series(mouth_correlations(turns, track)).dropna().sort_values(ascending=False)
        second = r.iloc[1] if len(r) > 1 else -1.0
        if len(r) and r.iloc[0] >= MIN_R and r.iloc[0] - second >= MIN_MARGIN:
            patient, method = str(r.index[0]), BY_MOUTH
        elif speech.iloc[1] >= CLOSE_SHARE * speech.iloc[0]:
            why = "no tracked mouth" if r.empty else f"mouth correlations {', '.join(f'{v:.2f}' for v in r)}"
            warnings.warn(f"{source}: the patient cannot be told apart ({why}; the two main speakers have "
                          f"{speech.iloc[0]:.0f} s and {speech.iloc[1]:.0f} s of speech); taking the one with "
                          "more speech, give a --turns file to decide", stacklevel=2)
    return name_speakers(turns, patient), method


def name_speakers(turns: pd.DataFrame, patient: str) -> pd.DataFrame:
    """``turns`` with ``patient`` named ``patient`` and the others ``interviewer``, ``other1``, ... by speech time."""
    speech = (turns["end_s"] - turns["start_s"]).groupby(turns["speaker"]).sum().sort_values(ascending=False)
    others = [str(s) for s in speech.index if str(s) != patient]
    names = {patient: "patient", **{s: ("interviewer" if i == 0 else f"other{i}") for i, s in enumerate(others)}}
    named = turns.assign(speaker=turns["speaker"].astype(str).map(names))
    return named[TURN_COLUMNS].reset_index(drop=True)
