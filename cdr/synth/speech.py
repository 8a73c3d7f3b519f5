"""Synthetic interview audio: an interviewer's questions and a patient's answers.

SYNTHETIC DATA. Voices are espeak-ng's (``cdr.resources.speak``); the
interviewer's opening line may be the one real recorded sentence the project
has (CMU Arctic ``arctic_a0007``, ``cdr.resources.arctic_wav``). No voice here
belongs to a patient.

The turn structure carries the planted speech markers: the patient's response
latency (silence from the end of a question to the start of the answer), the
pauses between the phrases of an answer, the speaking rate (words per minute)
and the variability of the voice's pitch from phrase to phrase.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

import soxr

from .. import resources
from ..io import read_audio

SR = 16_000

QUESTIONS = (
    "Can you tell me what you did this morning?",
    "What is today's date?",
    "Where are we right now?",
    "How have you been sleeping lately?",
    "Can you tell me about your family?",
    "What did you do for work?",
    "Do you remember what you had for breakfast?",
    "How do you usually spend your afternoons?",
    "Who helps you with the shopping?",
    "Have you noticed any changes in your memory?",
    "What do you like to do at the weekend?",
    "Can you name three things in this room?",
)

PHRASES = (
    "well, I think so", "I went for a walk", "my daughter came over", "it was quite nice",
    "I am not really sure", "we had some tea", "I used to work at the library", "that was a long time ago",
    "I read the newspaper", "sometimes I forget things", "my husband does the shopping", "I like the garden",
    "we have two children", "it is Tuesday, I believe", "I watched the television", "the weather was good",
    "I sleep fairly well", "I made some toast", "we live near the park", "I play cards with friends",
    "there is a table and a chair", "my son lives abroad", "I cannot quite remember", "it is hard to say",
)

#: espeak-ng voices (base voice + variant) that the cohort draws from, independently of class.
VOICES = tuple(f"{base}+{var}" for base in ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029")
               for var in ("m1", "m2", "m3", "m4", "f1", "f2", "f3", "f4"))
#: Interviewer voices of the demo cohort: the real recorded CMU Arctic speaker (awb) with his
#: vocal tract and pitch scaled together by ``k`` semitones (``awb+k``: a resampled recording,
#: as a longer or shorter vocal tract would sound). espeak-ng's own voices are nearly one voice
#: to a speaker encoder, so a cohort whose interviewer is another espeak-ng voice could not be
#: diarized; a human interviewer differs from a patient far more.
INTERVIEWER_VOICES = tuple(f"awb{k:+d}" for k in (-3, -2, -1, 0, 1, 2, 3, 4))


def recorded_question(voice: str) -> np.ndarray:
    """The CMU Arctic sentence as an interviewer's line, for a voice ``awb+k`` (k semitones)."""
    k = float(voice[3:] or 0)
    y = _trim(read_audio(resources.arctic_wav(), sr=SR))
    factor = 2.0 ** (k / 12.0)  # play ``factor`` times faster: pitch and formants up by k semitones
    return read_resampled(y, factor)


@dataclass(frozen=True)
class SpeakerStyle:
    """How one (synthetic) patient speaks.

    Attributes
    ----------
    voice : espeak-ng voice name
    pitch : mean espeak-ng pitch setting (0..99)
    pitch_sd : phrase-to-phrase SD of the pitch setting (pitch variability)
    rate_wpm : speaking rate, words per minute
    latency_s : mean response latency, seconds
    pause_s : mean pause between the phrases of an answer, seconds
    """

    voice: str
    pitch: float
    pitch_sd: float
    rate_wpm: float
    latency_s: float
    pause_s: float


def _say(text: str, voice: str, speed: float, pitch: float) -> np.ndarray:
    y = resources.speak(text, voice=voice, speed=int(np.clip(round(speed), 80, 450)),
                        pitch=int(np.clip(round(pitch), 0, 99)), sr=SR)
    return _trim(y)


def _trim(y: np.ndarray, thresh: float = 1e-3) -> np.ndarray:
    """Cut espeak-ng's lead-in and tail silence, so that planted gaps are exact."""
    idx = np.flatnonzero(np.abs(y) > thresh)
    return y[idx[0] : idx[-1] + 1] if len(idx) else y[:0]


def interview_audio(
    duration_s: float,
    patient: SpeakerStyle,
    interviewer_voice: str,
    rng: np.random.Generator,
    *,
    real_opening: bool = False,
    noise_db: float = -55.0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Synthesise an interview of a given length.

    Parameters
    ----------
    duration_s : float
        Length of the audio in seconds (the last turn is cut there).
    patient : SpeakerStyle
    interviewer_voice : str
        espeak-ng voice of the interviewer (speaks at a fixed, ordinary style), or ``awb+k``:
        the recorded CMU Arctic sentence, scaled by ``k`` semitones, for every question.
    rng : np.random.Generator
    real_opening : bool
        Open with the real CMU Arctic sentence (a recorded human voice) as the interviewer's line.
    noise_db : float
        Level of a faint background hiss, dB re full scale (RMS).

    Returns
    -------
    y : np.ndarray [shape=(round(duration_s * 16000),), dtype=float32]
        Mono audio at 16 kHz.
    segments : pd.DataFrame
        One row per spoken stretch: ``speaker`` (interviewer/patient), ``kind`` (question,
        phrase), ``start_s``, ``end_s``, ``text``, ``gap_before_s`` (the planted silence
        before it: the response latency for a patient's first phrase, the pause otherwise).
    """
    n = int(round(duration_s * SR))
    y = np.zeros(n, np.float32)
    rows: list[dict] = []
    t = float(rng.uniform(0.3, 0.8))
    first = True
    questions = list(rng.permutation(len(QUESTIONS)))
    while t < duration_s:
        if first and real_opening:
            q = _trim(read_audio(resources.arctic_wav(), sr=SR))
            text = "(CMU Arctic a0007, recorded)"
        else:
            text = QUESTIONS[questions.pop() if questions else int(rng.integers(len(QUESTIONS)))]
            if interviewer_voice.startswith("awb"):
                q, text = recorded_question(interviewer_voice), f"(CMU Arctic a0007, recorded, {interviewer_voice})"
            else:
                q = _say(text, interviewer_voice, 165, 50)
        first = False
        t = _place(y, q, t, rows, "interviewer", "question", text, gap=np.nan)
        gap = float(rng.gamma(4.0, patient.latency_s / 4.0))  # response latency
        for k in range(int(rng.integers(2, 5))):
            if t + gap >= duration_s:
                break
            words = PHRASES[int(rng.integers(len(PHRASES)))]
            pitch = patient.pitch + patient.pitch_sd * rng.standard_normal()
            rate = patient.rate_wpm * float(rng.uniform(0.95, 1.05))
            t = _place(y, _say(words, patient.voice, rate, pitch), t + gap, rows, "patient", "phrase", words, gap)
            gap = float(rng.gamma(3.0, patient.pause_s / 3.0))  # pause before the next phrase
        t += float(rng.uniform(0.4, 0.9))  # the interviewer's turn-taking gap: not a planted marker
    y += (10 ** (noise_db / 20) * rng.standard_normal(n)).astype(np.float32)
    seg = pd.DataFrame(rows, columns=["speaker", "kind", "start_s", "end_s", "text", "gap_before_s"])
    return np.clip(y, -1, 1), seg


def _place(y: np.ndarray, clip: np.ndarray, t: float, rows: list, speaker: str, kind: str, text: str,
           gap: float) -> float:
    """Add ``clip`` at ``t`` seconds (cut at the end of ``y``); return the time it ends."""
    i = int(round(t * SR))
    if i >= len(y):
        return t + len(clip) / SR
    seg = clip[: len(y) - i]
    peak = float(np.abs(seg).max()) if len(seg) else 1.0
    y[i : i + len(seg)] += seg * (0.5 / max(peak, 1e-6))  # every speaker at the same peak level
    end = (i + len(seg)) / SR
    rows.append({"speaker": speaker, "kind": kind, "start_s": i / SR, "end_s": end, "text": text,
                 "gap_before_s": gap})
    return t + len(clip) / SR


def read_resampled(y: np.ndarray, factor: float) -> np.ndarray:
    """``y`` played ``factor`` times faster (pitch, formants and tempo scaled together)."""
    if factor == 1.0:
        return y
    return soxr.resample(y, SR * factor, SR).astype(np.float32)
