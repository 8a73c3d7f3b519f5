"""Speech-feature speed: real-time factor of each group on a 10-minute recording.

Builds an interview-like recording at 16 kHz from espeak-ng sentences (male and
female voices, 120-220 words per minute), the CMU Arctic sentence, and pauses of
0.3-3 s, tiled to the requested length. Then times, on one core (the process is
pinned), the best of ``--repeat`` runs of:

- ``vad``: the energy voice-activity detector (shared by mfcc and voice);
- ``mfcc``: MFCC + deltas + functionals (given the VAD);
- ``gemaps``: the 88 eGeMAPSv02 functionals (openSMILE);
- ``voice``: pauses, voicing and syllable nuclei (given the VAD);
- ``turns``: speaker turns (resemblyzer embeddings + clustering, given the VAD);
- ``attribution``: naming the patient from a 25 fps track's ``mouth_open``;
- ``total``: :func:`cdr.features.speech.speech_features` end to end, from a 16 kHz array
  (turns included);
- ``total (44.1 kHz stereo)``: the same from 44.1 kHz stereo, resampling included.

The real-time factor is compute seconds per second of audio (lower is faster),
given both for wall-clock and for CPU time.
Usage::

    .venv/bin/python benchmarks/speech_speed.py [--minutes 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd
import soxr

from cdr.features import gemaps, mfcc, voice
from cdr.features.speech import RATE, speech_features
from cdr.io import read_audio
from cdr.resources import arctic_wav, speak
from cdr.speakers.diarize import diarize
from cdr.speakers.patient import attribute

SENTENCES = [
    "The old man walked slowly to the market",
    "She bought fresh bread and sweet apples",
    "I do not remember where I put my keys this morning",
    "We used to live in a small house near the river",
    "My daughter visits me every Sunday afternoon",
]


def build_recording(seconds: float, seed: int = 0) -> np.ndarray:
    """Speech and pauses at 16 kHz, about ``seconds`` long: float32 [shape=(seconds * 16000,)]."""
    rng = np.random.default_rng(seed)
    pieces = [read_audio(arctic_wav(), sr=RATE)]
    for i, text in enumerate(SENTENCES):
        pieces.append(speak(text, voice="en" if i % 2 else "en+f3", speed=120 + 25 * i, sr=RATE))
    block = []
    for piece in pieces:
        block.append(piece)
        block.append(np.zeros(int(rng.uniform(0.3, 3.0) * RATE), np.float32))
    block = np.concatenate(block)
    n = int(seconds * RATE)
    y = np.tile(block, int(np.ceil(n / block.size)))[:n]
    return (y + 0.002 * rng.standard_normal(n)).astype(np.float32)  # a quiet room's noise


def best_of(fn, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds of ``repeat`` calls (CPU time is less hurt by a busy machine)."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), min(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    warnings.simplefilter("ignore")
    y = build_recording(args.minutes * 60)
    seconds = y.size / RATE
    stereo44 = np.stack([soxr.resample(y, RATE, 44100)] * 2, axis=1)
    speech_features(y[: 5 * RATE], RATE)  # warm-up: imports, openSMILE set-up
    act = voice.voice_activity(y, RATE)
    turns = diarize(y, act)
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 25)) / 25.0
    track = pd.DataFrame({"t": t, "face": True, "mouth_open": 0.2 + 0.05 * rng.random(t.size)})
    rows = [
        ("vad", best_of(lambda: voice.voice_activity(y, RATE), args.repeat)),
        ("mfcc", best_of(lambda: mfcc.mfcc_features(y, RATE, active=act.active), args.repeat)),
        ("gemaps", best_of(lambda: gemaps.gemaps_features(y, RATE), args.repeat)),
        ("voice", best_of(lambda: voice.voice_features(y, RATE, act), args.repeat)),
        ("turns", best_of(lambda: diarize(y, act), args.repeat)),
        ("attribution", best_of(lambda: attribute(turns, track), args.repeat)),
        ("total", best_of(lambda: speech_features(y, RATE), args.repeat)),
        ("total (44.1 kHz stereo)", best_of(lambda: speech_features(stereo44, 44100), args.repeat)),
    ]
    load = os.getloadavg()[0]
    print(f"recording: {seconds:.0f} s, speech ratio {act.speech_ratio:.2f}, one core, best of {args.repeat}, "
          f"load average {load:.1f}")
    print("| step | wall s | CPU s | real-time factor (wall) | real-time factor (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in rows:
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {wall / seconds:.4f} | {cpu / seconds:.4f} |")


if __name__ == "__main__":
    main()
