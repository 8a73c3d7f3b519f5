"""All speech features of one recording: the ``mfcc.``, ``gemaps.``, ``voice.`` and ``turns.`` groups and their ``qc.`` values.

Every speech group describes the *patient's* speech only. The recording is
diarized (:mod:`cdr.speakers.diarize`), the patient is found by the face's mouth or
by speech time (:mod:`cdr.speakers.patient`), or both come from the user's turns
file; then ``mfcc.`` is taken over the patient's frames, ``voice.`` inside the
patient's turns, ``gemaps.`` over the patient's stretches of speech (openSMILE on
each, combined by duration) and ``turns.`` over the whole conversation. Stretches
where another speaker is heard at the same time (overlap) are left out of the
patient's ``mfcc.``, ``voice.`` and ``gemaps.``.

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import soxr

from ..errors import ParameterError
from . import gemaps, mfcc, voice
from . import turns as turns_group

RATE = 16_000
MIN_DURATION_S = 1.0
MIN_RATE = 4_000

QC_NAMES: list[str] = ["qc.audio_present", "qc.speech_ratio", "qc.n_speakers", "qc.patient_speech_s",
                       "qc.patient_attribution"]
GROUP_NAMES: list[str] = mfcc.NAMES + gemaps.NAMES + voice.NAMES + turns_group.NAMES
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


@dataclass
class SpeechResult:
    """Speech features of one recording and the speaker turns they were measured on.

    Attributes
    ----------
    values : pd.Series
        Indexed by :data:`SPEECH_NAMES`.
    turns : pd.DataFrame or None
        ``start_s``, ``end_s``, ``speaker`` (``patient``, ``interviewer``, ``other1``, ...);
        None when the recording has no usable speech.
    """

    values: pd.Series
    turns: pd.DataFrame | None = None


def speech_features(y: np.ndarray | None, sr: int, *, source: str = "audio", track: pd.DataFrame | None = None,
                    turns: pd.DataFrame | None = None) -> pd.Series:
    """Speech feature groups and speech ``qc.`` values of one recording (see :func:`patient_speech`)."""
    return patient_speech(y, sr, source=source, track=track, turns=turns).values


def patient_speech(
    y: np.ndarray | None,
    sr: int,
    *,
    source: str = "audio",
    track: pd.DataFrame | None = None,
    turns: pd.DataFrame | None = None,
) -> SpeechResult:
    """Speech feature groups and speech ``qc.`` values of one recording, on the patient's speech.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)] or None
        The decoded audio track; ``None`` when the recording has none.
    sr : int
        Its sample rate in Hz (any rate of at least 4 kHz; 8 kHz telephone audio works).
    source : str
        Name of the recording, for warnings.
    track : pd.DataFrame, optional
        The face track (with ``mouth_open``), to find the patient by the mouth.
    turns : pd.DataFrame, optional
        The user's own turns (speakers ``patient`` / ``interviewer``); they replace the
        automatic ones and ``qc.patient_attribution`` is 2.

    Returns
    -------
    SpeechResult
        ``values`` indexed exactly by :data:`SPEECH_NAMES` (see the module docstring for
        what is NaN when) and the turns used.
    """
    return finish_speech(prepare_speech(y, sr, source=source, turns=turns), track)


@dataclass
class SpeechPrep:
    """The part of :func:`patient_speech` that needs no face track (decode, VAD, diarization)."""

    out: pd.Series
    source: str
    y16: np.ndarray | None = None
    activity: voice.Activity | None = None
    turns: pd.DataFrame | None = None
    user_turns: bool = False
    #: Automatic speaker label -> (values, warnings) measured with that speaker as the patient,
    #: ahead of the face track (:func:`measure_every_speaker`).
    measured: dict = field(default_factory=dict)


def prepare_speech(y: np.ndarray | None, sr: int, *, source: str = "audio",
                   turns: pd.DataFrame | None = None) -> SpeechPrep:
    """Audio -> VAD and speaker turns (automatic, or the user's); see :func:`patient_speech`."""
    from ..speakers.diarize import diarize

    out = pd.Series(np.nan, index=SPEECH_NAMES, dtype=float)
    if y is None:
        warnings.warn(f"{source}: no audio track; speech features are NaN", stacklevel=3)
        out["qc.audio_present"] = 0.0
        return SpeechPrep(out, source)
    out["qc.audio_present"] = 1.0
    y16 = prepare_audio(y, sr, source=source)
    duration = y16.size / RATE
    if duration < MIN_DURATION_S:
        warnings.warn(
            f"{source}: audio lasts {duration:.2f} s, under {MIN_DURATION_S} s; speech features are NaN", stacklevel=3
        )
        return SpeechPrep(out, source)
    activity = voice.voice_activity(y16, RATE)
    if activity.status == "silent" or (activity.status == "ok" and not activity.active.any()):
        warnings.warn(
            f"{source}: audio is silent (speech level {activity.level_db:.0f} dBFS); speech features are NaN",
            stacklevel=3,
        )
        out["qc.speech_ratio"] = 0.0
        out["qc.n_speakers"] = 0.0
        out["qc.patient_speech_s"] = 0.0
        return SpeechPrep(out, source)
    if activity.status == "flat":
        warnings.warn(
            f"{source}: audio is a steady sound ({activity.level_db - activity.background_db:.1f} dB between loud "
            "and quiet frames), speech cannot be found; speech features are NaN",
            stacklevel=3,
        )
        return SpeechPrep(out, source)
    out["qc.speech_ratio"] = activity.speech_ratio
    user = turns is not None
    return SpeechPrep(out, source, y16, activity, turns if user else diarize(y16, activity), user)


def finish_speech(prep: SpeechPrep, track: pd.DataFrame | None = None) -> SpeechResult:
    """Name the patient (by the track's mouth, or speech time) and measure their speech."""
    from ..speakers.patient import BY_USER, attribute

    if prep.turns is None:
        return SpeechResult(prep.out.copy())
    if prep.user_turns:
        named, method = prep.turns, BY_USER
    else:
        named, method = attribute(prep.turns, track, source=prep.source)
    patient = _patient_label(prep.turns, named) if prep.measured else None
    if patient in prep.measured:
        out, notes = prep.measured[patient]
        out = out.copy()
        for note in notes:
            warnings.warn(note, stacklevel=2)
    else:
        out = _measure(prep, named)
    out["qc.patient_attribution"] = float(method)
    return SpeechResult(out, named)


def measure_every_speaker(prep: SpeechPrep) -> None:
    """Measure each automatic speaker as if they were the patient, before the face names one.

    For a caller with a core to spare while the face is tracked elsewhere
    (:mod:`cdr.tracking`): :func:`finish_speech` then only picks. Each speaker's warnings
    are kept with their values and given only for the one named the patient.
    """
    from ..speakers.patient import name_speakers

    if prep.turns is None or prep.user_turns or prep.measured:
        return
    for label in sorted(prep.turns["speaker"].astype(str).unique()):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            values = _measure(prep, name_speakers(prep.turns, label))
        prep.measured[label] = (values, [str(w.message) for w in caught])


def _patient_label(turns: pd.DataFrame, named: pd.DataFrame) -> str | None:
    """The automatic label of the speaker that ``named`` calls the patient."""
    labels = turns["speaker"].astype(str).to_numpy()[(named["speaker"] == "patient").to_numpy()]
    return str(labels[0]) if labels.size else None


def _measure(prep: SpeechPrep, named: pd.DataFrame) -> pd.Series:
    """The speech groups of the speaker that ``named`` calls the patient."""
    from ..speakers.patient import speaker_masks

    out, source, y16, activity = prep.out.copy(), prep.source, prep.y16, prep.activity
    n = activity.active.size
    masks = speaker_masks(named, n, activity.hop_s)
    patient = masks.get("patient", np.zeros(n, bool))
    others = np.zeros(n, bool)
    for spk, m in masks.items():
        if spk != "patient":
            others |= m
    within = _turn_span(named, n, activity.hop_s) & ~others  # the patient's turns, overlap left out
    own = activity.active & patient & ~others
    out["qc.n_speakers"] = float(len(masks))
    out["qc.patient_speech_s"] = float(own.sum() * activity.hop_s)
    out[turns_group.NAMES] = turns_group.turns_features(named, source=source)
    if not own.any():
        warnings.warn(f"{source}: no speech of the patient's own; mfcc, gemaps and voice features are NaN",
                      stacklevel=3)
        return out
    out[mfcc.NAMES] = mfcc.mfcc_features(y16, RATE, active=own, within=within, source=source)
    out[gemaps.NAMES] = gemaps.gemaps_over_segments(y16, RATE, _mask_runs(within, activity.hop_s), source=source)
    out[voice.NAMES] = voice.voice_features(y16, RATE, activity, source=source, within=within)
    return out


def _turn_span(turns: pd.DataFrame, n: int, hop_s: float) -> np.ndarray:
    """Frames inside the patient's turns (from their first to their last segment, pauses included)."""
    conv = turns_group.conversation_turns(turns)
    mask = np.zeros(n, bool)
    for s, e in zip(conv["start_s"][conv["speaker"] == "patient"], conv["end_s"][conv["speaker"] == "patient"]):
        mask[int(round(s / hop_s)): int(round(e / hop_s))] = True
    return mask


def _mask_runs(mask: np.ndarray, hop_s: float) -> np.ndarray:
    """``[[start_s, end_s], ...]`` of the True runs of a frame mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)]) * hop_s
