"""Interviews assembled with known turns, for the speaker-turn tests and benchmarks.

SYNTHETIC: espeak-ng voices (``cdr.resources.speak``), optionally the real CMU Arctic
sentence. The patient's answers are the same samples in every version of an interview;
only the interviewer (or silence in their place) changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdr.resources import speak

SR = 16_000
QUESTIONS = (
    "Can you tell me what you did this morning?",
    "Where are we right now?",
    "How have you been sleeping lately?",
    "Can you tell me about your family?",
    "What did you do for work?",
    "How do you usually spend your afternoons?",
)
ANSWERS = (
    ("I went for a walk", "and then my daughter came over for tea"),
    ("we are in the clinic", "near the big park I think"),
    ("I sleep fairly well", "but sometimes I wake up early"),
    ("we have two children", "my son lives abroad now"),
    ("I used to work at the library", "that was a long time ago"),
    ("I like the garden", "and I play cards with my friends"),
)


def trim(y: np.ndarray) -> np.ndarray:
    """Cut espeak-ng's lead-in and tail silence so planted gaps are exact."""
    idx = np.flatnonzero(np.abs(y) > 1e-3)
    return y[idx[0]: idx[-1] + 1]


def say(text: str, voice: str, pitch: int = 50) -> np.ndarray:
    y = trim(speak(text, voice=voice, pitch=pitch, sr=SR))
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def patient_answers(voice: str = "en-gb+m1", n: int = 6) -> list[list[np.ndarray]]:
    """The patient's answers: for each question, its phrases as arrays."""
    return [[say(p, voice) for p in ANSWERS[i % len(ANSWERS)]] for i in range(n)]


def interview(answers: list[list[np.ndarray]], interviewer: str | np.ndarray | None, *, latency_s: float = 1.1,
              pause_s: float = 0.4, gap_s: float = 0.8, question_s: float | None = None,
              noise_db: float = -60.0, seed: int = 0) -> tuple[np.ndarray, pd.DataFrame]:
    """Questions (or, with ``interviewer=None``, silence of ``question_s``) and the given answers.

    ``interviewer`` is an espeak-ng voice, or a recorded question (16 kHz array) whose first
    1.8 s are asked every time.

    Returns the 16 kHz audio and its true turns (``start_s``, ``end_s``, ``speaker``).
    """
    parts, rows, t = [np.zeros(int(0.5 * SR), np.float32)], [], 0.5
    for i, phrases in enumerate(answers):
        if isinstance(interviewer, np.ndarray):
            q = trim(interviewer)[: int(1.8 * SR)]  # its first 1.8 s, as long as a synthetic question
            q = (0.5 * q / np.abs(q).max()).astype(np.float32)
            rows.append((t, t + q.size / SR, "interviewer"))
        elif interviewer is not None:
            q = say(QUESTIONS[i % len(QUESTIONS)], interviewer)
            rows.append((t, t + q.size / SR, "interviewer"))
        else:
            q = np.zeros(int((question_s or 2.0) * SR), np.float32)
        parts.append(q)
        t += q.size / SR
        for k, p in enumerate(phrases):
            gap = latency_s if k == 0 else pause_s
            parts += [np.zeros(int(round(gap * SR)), np.float32), p]
            t += int(round(gap * SR)) / SR
            rows.append((t, t + p.size / SR, "patient"))
            t += p.size / SR
        parts.append(np.zeros(int(round(gap_s * SR)), np.float32))
        t += int(round(gap_s * SR)) / SR
    y = np.concatenate(parts)
    y = y + (10 ** (noise_db / 20) * np.random.default_rng(seed).standard_normal(y.size)).astype(np.float32)
    return y.astype(np.float32), pd.DataFrame(rows, columns=["start_s", "end_s", "speaker"])


def true_share(turns: pd.DataFrame, speaker: str = "patient") -> float:
    d = turns["end_s"] - turns["start_s"]
    return float(d[turns["speaker"] == speaker].sum() / d.sum())
