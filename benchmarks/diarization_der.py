"""Diarization error rate of the automatic speaker turns, on interviews with known turns.

Each interview is assembled from single-speaker recordings with exact turn times
(``tests/conversation.py``): a patient's answers (espeak-ng voices) after an
interviewer's questions, the interviewer being either the real recorded CMU Arctic
speaker (awb, his first 1.8 s every time) or another espeak-ng voice. Two
interviews make the interviewer start 0.5 s before the patient ends (overlap).

DER = (missed speech + false alarm + speaker confusion) / reference speech, on 10 ms
frames, no collar, overlapping speech counted (a frame with two reference speakers
counts twice); hypothesis speakers are mapped to reference speakers one-to-one so
as to maximise the overlap (``scipy.optimize.linear_sum_assignment``).

Usage::

    .venv/bin/python benchmarks/diarization_der.py
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conversation import SR, interview, patient_answers  # noqa: E402

from cdr.features.voice import voice_activity  # noqa: E402
from cdr.io import read_audio  # noqa: E402
from cdr.resources import arctic_wav  # noqa: E402
from cdr.speakers.diarize import diarize  # noqa: E402

HOP = 0.01


def frames(turns: pd.DataFrame, n: int) -> tuple[list[str], np.ndarray]:
    names = sorted(set(turns["speaker"]))
    m = np.zeros((len(names), n), bool)
    for s, e, k in zip(turns["start_s"], turns["end_s"], turns["speaker"]):
        m[names.index(k), int(round(s / HOP)): int(round(e / HOP))] = True
    return names, m


def der(ref: pd.DataFrame, hyp: pd.DataFrame, duration_s: float) -> tuple[float, float, float, float]:
    """``(DER, missed, false alarm, confusion)``, each a share of the reference speech."""
    n = int(np.ceil(duration_s / HOP)) + 1
    _, r = frames(ref, n)
    _, h = frames(hyp, n) if len(hyp) else ([], np.zeros((0, n), bool))
    nr, nh = r.sum(0), h.sum(0)
    correct = np.zeros(n)
    if len(h):
        rows, cols = linear_sum_assignment(-(r[:, None, :] & h[None, :, :]).sum(2))
        for i, j in zip(rows, cols):
            correct += r[i] & h[j]
    total = nr.sum()
    miss = np.maximum(nr - nh, 0).sum()
    fa = np.maximum(nh - nr, 0).sum()
    conf = (np.minimum(nr, nh) - correct).sum()
    return (miss + fa + conf) / total, miss / total, fa / total, conf / total


def overlapped(y: np.ndarray, truth: pd.DataFrame, shift_s: float = 1.3) -> tuple[np.ndarray, pd.DataFrame]:
    """Move every question but the first ``shift_s`` earlier: with the 0.8 s gap after each answer, it
    starts 0.5 s before the patient ends."""
    out = y.copy()
    truth = truth.copy()
    for i in truth.index[truth["speaker"] == "interviewer"][1:]:
        s, e = (int(round(v * SR)) for v in truth.loc[i, ["start_s", "end_s"]])
        d = int(round(shift_s * SR))
        seg = y[s:e].copy()
        out[s:e] -= seg
        out[s - d: e - d] += seg
        truth.loc[i, ["start_s", "end_s"]] -= d / SR
    return out, truth


def main() -> None:
    warnings.simplefilter("ignore")
    awb = read_audio(arctic_wav(), sr=SR)
    cases = [
        ("en-gb+m1", awb, "real male (awb)", False),
        ("en-us+f2", awb, "real male (awb)", False),
        ("en-gb+f4", awb, "real male (awb)", False),
        ("en-us+m2", awb, "real male (awb)", True),
        ("en-gb+m1", "en-us+f3", "espeak en-us+f3", False),
        ("en-029+f1", "en-gb-scotland+m1", "espeak en-gb-scotland+m1", False),
        ("en-us+f2", "en-gb+m3", "espeak en-gb+m3", True),
    ]
    print("| patient voice | interviewer | overlap | speakers found | DER | missed | false alarm | confusion |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    totals = []
    for k, (pv, iv, iname, ovl) in enumerate(cases):
        y, truth = interview(patient_answers(pv), iv, seed=k, latency_s=1.0 + 0.1 * k)
        if ovl:
            y, truth = overlapped(y, truth)
        hyp = diarize(y, voice_activity(y, SR))
        d = der(truth, hyp, y.size / SR)
        speech = (truth["end_s"] - truth["start_s"]).sum()
        totals.append((d[0] * speech, speech))
        print(f"| {pv} | {iname} | {'yes' if ovl else 'no'} | {hyp['speaker'].nunique()} | "
              f"{d[0]:.3f} | {d[1]:.3f} | {d[2]:.3f} | {d[3]:.3f} |")
    print(f"\noverall DER (speech-weighted): {sum(a for a, _ in totals) / sum(b for _, b in totals):.3f}")


if __name__ == "__main__":
    main()
