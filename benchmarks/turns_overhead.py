"""What speaker turns cost inside ``cdr-extract``: one recording's extraction with and without them.

Renders ``--videos`` synthetic interview videos (640x480, 25 fps, ``--seconds`` long; the
demo cohort's speech: an espeak-ng patient and the recorded CMU Arctic interviewer; the
patient's jaw moving with their speech), then extracts each in this process (one core,
pinned) in ``--rounds`` interleaved rounds:

- ``with turns``: :func:`cdr.extract.extract_rows` as shipped (diarization, the patient named
  by the mouth, speech groups on the patient's turns);
- ``without``: the same with the diarization replaced by one speaker holding all speech (the
  old whole-recording behaviour; everything else identical).

It prints the best wall-clock and CPU seconds of each and their ratio. Usage::

    .venv/bin/python benchmarks/turns_overhead.py [--videos 2] [--seconds 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import cdr.speakers.diarize as diarize_module
from cdr.extract import extract_rows
from cdr.features.voice import _runs
from cdr.synth.schedule import jaw_with_speech
from cdr.synth.speech import SpeakerStyle, interview_audio
from cdr.synth.video import render_face_video

REAL_DIARIZE = diarize_module.diarize


def one_speaker(y, activity):
    """All speech to one speaker: extraction as it was before speaker turns."""
    starts, ends, values = _runs(activity.active)
    rows = [(s * activity.hop_s, e * activity.hop_s, "spk0") for s, e, v in zip(starts, ends, values) if v]
    return pd.DataFrame(rows, columns=["start_s", "end_s", "speaker"])


def make(folder: Path, i: int, seconds: float) -> Path:
    rng = np.random.default_rng(i)
    y, seg = interview_audio(seconds, SpeakerStyle("en-gb+f2", 50, 6, 160, 1.0, 0.45), f"awb{i - 1:+d}", rng)
    fps, n = 25.0, int(seconds * 25)
    sched = pd.DataFrame({"yaw": 5 * np.sin(np.arange(n) / 40), "expr_jaw": jaw_with_speech(seg, n, fps)})
    path = folder / f"interview{i}.mp4"
    render_face_video(path, sched, fps=fps, frame_size=(640, 480), face_width=0.3, audio=y, threads=1)
    return path


def timed(path: Path) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    extract_rows(path)
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    warnings.simplefilter("ignore")
    folder = Path(tempfile.mkdtemp(prefix="cdr-turns-bench-"))
    paths = [make(folder, i, args.seconds) for i in range(args.videos)]
    extract_rows(paths[0])  # warm-up: imports, models, numba
    best = {"with turns": [np.inf, np.inf], "without": [np.inf, np.inf]}
    for _ in range(args.rounds):
        for name, fn in (("without", one_speaker), ("with turns", REAL_DIARIZE)):
            diarize_module.diarize = fn
            wall = cpu = 0.0
            for p in paths:
                w, c = timed(p)
                wall, cpu = wall + w, cpu + c
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu)]
    diarize_module.diarize = REAL_DIARIZE
    media = args.videos * args.seconds
    print(f"{args.videos} videos x {args.seconds:.0f} s, one core, best of {args.rounds} interleaved rounds, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("| extraction | wall s | CPU s | x real time (wall) |")
    print("|---|---:|---:|---:|")
    for name, (wall, cpu) in best.items():
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {media / wall:.2f} |")
    w, c = best["with turns"][0] / best["without"][0], best["with turns"][1] / best["without"][1]
    print(f"\nwith / without: wall {w:.3f}, CPU {c:.3f} (throughput drop {1 - 1 / w:.1%} wall, {1 - 1 / c:.1%} CPU)")


if __name__ == "__main__":
    main()
