"""``cdr-demo -o DIR``: the whole pipeline on built-in synthetic recordings.

SYNTHETIC DATA: every recording the demo makes is rendered from public
photographs and synthetic or public-domain speech; none is a patient.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _make_recordings(folder: Path, *, seconds: float = 8.0, fps: int = 25) -> None:
    from ..io import read_audio
    from ..resources import arctic_wav
    from ..synth.video import render_face_video

    folder.mkdir(parents=True, exist_ok=True)
    speech = read_audio(arctic_wav())
    t = np.arange(int(seconds * fps)) / fps
    sched = pd.DataFrame({
        "yaw": 15 * np.sin(2 * np.pi * 0.3 * t), "pitch": 6 * np.sin(2 * np.pi * 0.2 * t),
        "roll": 4 * np.sin(2 * np.pi * 0.15 * t), "gaze_x": 0.12 * np.sin(2 * np.pi * 1.5 * t),
        "blink": (np.mod(t, 3.0) < 0.15).astype(float),
    })
    audio = np.r_[np.zeros(16000, np.float32), speech, np.zeros(8000, np.float32), speech]
    render_face_video(folder / "demo01.mp4", sched, fps=fps, audio=audio, background=1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cdr-demo", description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", default="demo-out", help="folder for everything the demo makes")
    args = ap.parse_args(argv)
    from ..table import extract_folder

    out = Path(args.out)
    rec = out / "recordings"
    t0 = time.perf_counter()
    if not (rec / "demo01.mp4").exists():
        print(f"rendering a synthetic interview clip into {rec} ...")
        _make_recordings(rec)
    print("extracting features (cdr-extract --keep-tracks) ...")
    s = extract_folder(rec, out / "features", keep_tracks=True)
    track = pd.read_parquet(out / "features" / "tracks" / "demo01.parquet")
    table = pd.read_parquet(s.table_path)
    print(f"\ntrack of demo01: {len(track)} frames, {track['t'].iloc[-1]:.1f} s, face in "
          f"{100 * track['face'].mean():.0f}% of frames")
    print(track[["yaw", "pitch", "roll", "pupil_left_x", "pupil_right_x"]].describe().round(3).to_string())
    print(f"\nfeature table {s.table_path}: {table.shape[0]} row(s) x {table.shape[1]} columns")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
