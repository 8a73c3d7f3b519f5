"""Visual-feature speed: seconds of computation per hour of face track.

Builds a synthetic one-hour 30 fps face track with realistic gaps (the face is
lost for 0.2-3 s about every 20 s, so both bridged and unbridged gaps occur),
then times :func:`cdr.features.visual.visual_features` and each of its groups,
pinned to one core, best of ``--repeat`` runs. Tracking costs about 2-3 ms per
frame, i.e. 216-324 s per hour of 30 fps video; the table gives the ratio.

Usage::

    .venv/bin/python benchmarks/visual_features_speed.py [--hours 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

from cdr.features.coupling import coupling_features
from cdr.features.pose import pose_features
from cdr.features.pupil import pupil_features
from cdr.features.visual import visual_features

TRACKING_MS_PER_FRAME = 2.5


def synthetic_track(hours: float, fps: float = 30.0, seed: int = 0) -> pd.DataFrame:
    """A face track [shape=(hours * 3600 * fps, 11)] with head motion, saccades, blinks and gaps."""
    rng = np.random.default_rng(seed)
    n = int(hours * 3600 * fps)
    t = np.arange(n) / fps
    walk = lambda s: np.cumsum(rng.normal(0, s, n))  # noqa: E731
    yaw = 15 * np.tanh(walk(0.05) / 15)
    pitch = 10 * np.tanh(walk(0.04) / 10)
    roll = 5 * np.tanh(walk(0.02) / 5)
    gaze_x = np.repeat(rng.normal(0, 0.08, n // 10 + 1), 10)[:n]  # a fixation every 1/3 s
    gaze_y = np.repeat(rng.normal(0, 0.05, n // 10 + 1), 10)[:n]
    ear = np.where((t % 4) < 0.15, 0.1, 0.3) + rng.normal(0, 0.01, n)
    face = np.ones(n, bool)
    for start in np.arange(0, t[-1], 20.0) + rng.uniform(0, 20, int(np.ceil(t[-1] / 20))):
        face[(t >= start) & (t < start + rng.uniform(0.2, 3.0))] = False
    cols = {
        "yaw": yaw, "pitch": pitch, "roll": roll,
        "pupil_left_x": gaze_x + rng.normal(0, 0.01, n), "pupil_left_y": gaze_y + rng.normal(0, 0.01, n),
        "pupil_right_x": gaze_x + rng.normal(0, 0.01, n), "pupil_right_y": gaze_y + rng.normal(0, 0.01, n),
        "ear_left": ear, "ear_right": ear + rng.normal(0, 0.01, n),
    }
    for side in ("left", "right"):  # eye-in-head gaze: the image-axes pupil without the head turn's parallax
        cols[f"gaze_head_{side}_x"] = cols[f"pupil_{side}_x"] - 0.0015 * yaw
        cols[f"gaze_head_{side}_y"] = cols[f"pupil_{side}_y"] - 0.001 * pitch
    df = pd.DataFrame({"t": t, "face": face, **cols})
    df.loc[~face, list(cols)] = np.nan
    return df


def best_of(fn, track, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn(track)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    track = synthetic_track(args.hours)
    n = len(track)
    print(f"track: {args.hours:g} h, {n} frames at 30 fps, face in {track.face.mean():.1%} of frames")
    print(f"{'step':<20} {'s per hour':>11} {'ms per frame':>13} {'share of tracking':>18}")
    for name, fn in (
        ("pupil", pupil_features), ("coupling", coupling_features),
        ("pose + blinks", pose_features), ("visual_features", visual_features),
    ):
        s = best_of(fn, track, args.repeat) / args.hours
        ms = 1000 * s / (n / args.hours)
        print(f"{name:<20} {s:11.2f} {ms:13.4f} {ms / TRACKING_MS_PER_FRAME:17.2%}")


if __name__ == "__main__":
    main()
