"""Tracking jitter in the pupil bands, at 24 and at 12 fps.

Not a speed benchmark: a measurement of what limits frame-rate invariance. The
astronaut (``cdr.synth.eyes``, eyes about 19 px wide) is encoded at 24 fps and
at 12 fps (every second frame), frame by frame and reproducibly, once with the
irises still in the head (only the head rolls and drifts) and once with the
planted 1-3 Hz iris motion. Each video is tracked and its 0 and 3 Hz pupil band
energies are printed.

With still eyes the bands hold tracking jitter (and the residue of the head's
motion) only. FaceMesh's jitter is close to white from frame to frame, so its
energy density in the bands a camera shows grows as the frame rate falls: half
the frame rate, about twice the jitter in each band. Where the jitter is a large
share of a band's energy with moving eyes, that band reads higher at 12 fps
whatever the resampling does.

Usage::

    .venv/bin/python benchmarks/pupil_jitter.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from cdr.face.track import track_video
from cdr.features.pupil import pupil_spectra
from cdr.synth.eyes import moving_eyes
from cdr.synth.video import write_video


def low_bands(path: Path) -> pd.Series:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f, _ = pupil_spectra(track_video(path, crop_rate=0).frames)
    cols = [c for c in f.index if c.endswith(("_energy_0hz", "_energy_3hz"))]
    return f[cols].rename(lambda c: c.replace("pupil.", "").replace("_energy", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    a = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, amp in (("still eyes", 0.0), ("moving eyes", 1.0)):
            frames = moving_eyes(a.seconds, 24, eye_amplitude=amp)
            for fps, clip in ((24, frames), (12, frames[::2])):
                path = Path(tmp) / f"{amp}_{fps}.mp4"
                write_video(path, clip, fps, reproducible=True, keyint=1)
                rows[(label, f"{fps} fps")] = low_bands(path)
    e = pd.DataFrame(rows).T
    pd.set_option("display.width", 250)
    print(f"load average {os.getloadavg()[0]:.1f}; pupil band energies x 1e4 ((eye widths per 1/30 s)^2)")
    print((e * 1e4).round(3).to_string())
    still, moving = e.loc["still eyes"], e.loc["moving eyes"]
    summary = pd.DataFrame({
        "jitter 12/24 fps": still.loc["12 fps"] / still.loc["24 fps"],
        "jitter share at 24 fps": still.loc["24 fps"] / moving.loc["24 fps"],
        "moving 12/24 fps - 1": moving.loc["12 fps"] / moving.loc["24 fps"] - 1,
    }).T
    print(summary.round(2).to_string())


if __name__ == "__main__":
    main()
