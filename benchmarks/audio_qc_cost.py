"""What the audio-track checks (cdr/features/audio_qc.py) add to the speech stage.

A stereo 48 kHz, 16-bit WAV of ``--minutes`` minutes (the Arctic sentence, repeated, on both
channels) is decoded and measured three ways, in one run, each ``--repeat`` times (median):

- ``read_audio``: decoding, resampling and the downmix, with the meter watching the native
  samples (clipping histogram, polarity), as cdr-extract does now;
- ``audio_quality``: the qc values after decoding (a second energy VAD, the active-speech level);
- ``speech_features``: the mfcc., gemaps. and voice. groups, for scale.

Usage::

    .venv/bin/python benchmarks/audio_qc_cost.py [--minutes 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from cdr import io
from cdr.features import audio_qc
from cdr.features.speech import speech_features
from cdr.resources import arctic_wav


def timed(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    y = io.read_audio(arctic_wav(), sr=48_000)
    n = int(args.minutes * 60 * 48_000)
    y = np.tile(y, n // y.size + 1)[:n]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stereo.wav"
        sf.write(path, np.stack([y, y], axis=1), 48_000, subtype="PCM_16")
        meter = audio_qc.AudioMeter()
        t_read, y16 = timed(lambda: io.read_audio(path, meter=audio_qc.AudioMeter()), args.repeat)
        io.read_audio(path, meter=meter)
        t_qc, _ = timed(lambda: audio_qc.audio_quality(y16, io.AUDIO_RATE, meter, source="bench"), args.repeat)
        t_speech, _ = timed(lambda: speech_features(y16, io.AUDIO_RATE, source="bench"), args.repeat)
    total = t_read + t_speech
    print(f"{args.minutes:g} min stereo 48 kHz WAV, median of {args.repeat}")
    print(f"{'step':<18}{'seconds':>9}{'x real time':>13}{'share of read+speech':>22}")
    for name, t in (("read_audio", t_read), ("audio_quality", t_qc), ("speech_features", t_speech)):
        print(f"{name:<18}{t:>9.2f}{args.minutes * 60 / t:>13.0f}{t / total:>22.3f}")


if __name__ == "__main__":
    main()
