"""End-to-end ``cdr-extract`` throughput: seconds of video per wall-clock second.

Generates N face videos (720p, 30 fps, 2 minutes, H.264 + AAC speech: the CMU
Arctic sentence with pauses), then runs ``cdr-extract --jobs 2`` with every group
on (and ``expr.`` when ``--scn`` is given) in a fresh process, and reports the
throughput, the same for ``--stride 2``, and the peak resident memory of the
largest process (main or worker). For scale, the same run measures the ceiling that
face tracking alone sets: the videos tracked (decode + FaceMesh + pose, nothing else)
by ``--jobs`` processes side by side. It also times a worker's start-up: from launching a
fresh interpreter that runs one recording as a cdr-extract worker does (``cdr.table._work``)
to its first tracked frame. Usage::

    .venv/bin/python benchmarks/extract_speed.py [--videos 4] [--seconds 120] [--jobs 2] [--scn CKPT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from track_speed import make_video  # noqa: E402


def interview_audio(seconds: float) -> np.ndarray:
    from cdr.io import read_audio
    from cdr.resources import arctic_wav

    s = read_audio(arctic_wav())
    turn = np.r_[s, np.zeros(12000, np.float32), s[: len(s) // 2], np.zeros(24000, np.float32)]
    n = int(seconds * 16000)
    return np.resize(turn, n).astype(np.float32)


def run(folder: Path, out: Path, jobs: int, extra: list[str]) -> tuple[float, float, int]:
    cmd = [sys.executable, "-m", "cdr.cli.extract", str(folder), "-o", str(out), "--jobs", str(jobs),
           "--quiet", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    import pandas as pd

    table = pd.read_parquet(out / "features.parquet")
    return wall, peak, len(table)


FIRST_FRAME = """
import os, sys, time
import cdr.face.track as tr
process = tr.FaceTracker.process
def first(self, frame):
    out = process(self, frame)
    print(time.time() - float(sys.argv[2]), flush=True)
    os._exit(0)
tr.FaceTracker.process = first
from cdr.table import _work
_work(sys.argv[1], "v", dict(scn=sys.argv[3] or None, device="cpu", augment=(), width=None, stride=1))
"""


def first_frame_s(path: Path, scn: str | None) -> float:
    """Seconds from launching a worker-like process to its first tracked frame (median of 3)."""
    runs = []
    for _ in range(3):
        t = time.time()
        out = subprocess.run([sys.executable, "-c", FIRST_FRAME, str(path), repr(t), scn or ""],
                             check=True, capture_output=True, text=True).stdout
        runs.append(float(out.split()[-1]))
    return sorted(runs)[1]


def _track_only(path: str) -> float:
    from cdr.face.track import track_video

    t0 = time.perf_counter()
    track_video(path, crop_rate=0)
    return time.perf_counter() - t0


def track_ceiling(folder: Path, jobs: int) -> float:
    """Wall seconds to track every video of ``folder`` in ``jobs`` processes (loky)."""
    from joblib import Parallel, delayed

    paths = sorted(str(p) for p in folder.glob("*.mp4"))
    t0 = time.perf_counter()
    Parallel(n_jobs=jobs, backend="loky")(delayed(_track_only)(p) for p in paths)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scn", help="SCN checkpoint folder, to include the expr. group")
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        audio = interview_audio(args.seconds)
        t0 = time.perf_counter()
        for i in range(args.videos):
            make_video(folder / f"v{i}.mp4", args.seconds, audio=audio, seed=i)
        print(f"generated {args.videos} x {args.seconds:.0f} s 720p30 in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr)
        media = args.videos * args.seconds
        scn = ["--scn", args.scn] if args.scn else []
        rows = []
        first = first_frame_s(folder / "v0.mp4", args.scn)
        wall = track_ceiling(folder, args.jobs)
        rows.append((f"tracking only ({args.jobs} processes): the ceiling", wall, media / wall, float("nan")))
        for label, extra in (("all groups", scn), ("all groups, --stride 2", [*scn, "--stride", "2"])):
            wall, peak, n = run(folder, Path(tmp) / label.replace(" ", "_"), args.jobs, extra)
            assert n == args.videos, f"{n} rows"
            rows.append((label, wall, media / wall, peak))
    print(f"\n{args.videos} videos x {args.seconds:.0f} s, 720p 30 fps H.264 + AAC, --jobs {args.jobs}, "
          f"expr {'on' if args.scn else 'off'}; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, "
          f"{os.cpu_count()} cores\n")
    ceiling = rows[0][2]
    print("| run | wall (s) | x real time | ÷ tracking-only | peak RSS of the largest process (MB) |")
    print("|---|---:|---:|---:|---:|")
    for label, wall, rt, peak in rows:
        print(f"| {label} | {wall:.1f} | {rt:.1f} | {rt / ceiling:.2f} | {'' if peak != peak else f'{peak:.0f}'} |")
    print(f"\nworker start to first tracked frame: {first:.2f} s (median of 3, fresh process)")
    print(json.dumps({r[0]: round(r[2], 2) for r in rows}), file=sys.stderr)


if __name__ == "__main__":
    main()
