"""``cdr-predict`` on one 60-s recording against tracking that recording alone, in one run.

A 60-s 720p 30 fps interview clip with speech is generated (as in extract_speed.py), and a
model is trained by ``cdr-train`` on a small table of random values under the real column
names (only the time matters). Then, ``--rounds`` times in turn, each in a fresh process:

- tracking only: decode + FaceMesh + pose of the clip (``cdr.face.track.track_video``);
- ``cdr-predict CLIP --model MODEL``: the whole command, models, speech and all.

The table gives each round's wall seconds and the ratio cdr-predict ÷ tracking only, with
the median over rounds. Usage::

    .venv/bin/python benchmarks/predict_speed.py [--rounds 3] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from extract_speed import interview_audio  # noqa: E402
from long_recording import TRACK_ONLY, toy_model  # noqa: E402
from track_speed import make_video  # noqa: E402


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=60)
    args = ap.parse_args()
    py = sys.executable
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        make_video(clip, args.seconds, audio=interview_audio(args.seconds), seed=0)
        model = toy_model(tmp)
        rows = []
        for r in range(args.rounds):
            track = wall([py, "-c", TRACK_ONLY, str(clip)])
            pred = wall([py, "-m", "cdr.cli.predict", str(clip), "--model", str(model)])
            rows.append((track, pred))
            print(f"round {r + 1}: tracking only {track:.1f} s, cdr-predict {pred:.1f} s", file=sys.stderr)
    print(f"\n{args.seconds:.0f}-s 720p 30 fps clip with speech; load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} cores\n")
    print("| round | tracking only (s) | cdr-predict (s) | cdr-predict ÷ tracking only |")
    print("|---|---:|---:|---:|")
    for i, (track, pred) in enumerate(rows, 1):
        print(f"| {i} | {track:.1f} | {pred:.1f} | {pred / track:.2f} |")
    ratios = [p / t for t, p in rows]
    print(f"| median | {statistics.median(t for t, _ in rows):.1f} | {statistics.median(p for _, p in rows):.1f} | "
          f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")


if __name__ == "__main__":
    main()
