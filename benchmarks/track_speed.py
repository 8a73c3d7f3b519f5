"""Face-tracking speed: decode-only fps vs full-track fps, in one run.

Generates a 720p 30 fps 60 s face video (a real photograph, moving), then
measures, each in a fresh process pinned to one core:

- decode only (frames decoded, not converted);
- decode + RGB conversion at full size;
- the full track (decode, crop, FaceMesh with iris, pose, eye measures);
- the full track with ``--stride 2``;
- with ``--baseline REF`` (default ``main``): the full track by the package as it is
  at that git revision (exported with ``git archive``), an A/B in the same run;
- the full track of a second video with two faces in view (the astronaut, who is
  tracked, and Grace Hopper), as a ratio to the one-face track;
- FaceMesh's own multi-face mode (``max_num_faces=2``, full frame, public API) on
  the two-face video, as the alternative to one tracked crop.

The stages run in turn, ``--rounds`` times (default 3), so that a change in
the machine's load touches every stage alike; the table gives each stage's median
fps, the median over rounds of its ratio to that round's decode-only fps, and each
process's peak resident memory. A second table counts frames per second of the
process's own CPU time (user + system), which a loaded machine disturbs far less
than wall-clock time; the A/B ratios are best read from it. Usage::

    .venv/bin/python benchmarks/track_speed.py [--seconds 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_video(path: Path, seconds: float, fps: int = 30, size=(1280, 720), audio: np.ndarray | None = None,
               seed: int = 0, second_face: bool = False) -> None:
    """A face that drifts, turns in the image plane and scales, as in an interview.

    ``audio``: optional mono float32 samples at 16 kHz, muxed as AAC.
    ``second_face``: the astronaut on the left third, Grace Hopper on the right, both moving.
    """
    import av
    import cv2
    import skimage.data

    face = skimage.data.astronaut()
    w, h = size
    if second_face:
        import matplotlib.cbook
        import skimage.io

        other = skimage.io.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))[..., :3]
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"preset": "veryfast", "crf": "23"}
    astream = container.add_stream("aac", rate=16000, layout="mono") if audio is not None else None
    bg = np.full((h, w, 3), 90, np.uint8)
    for i in range(int(seconds * fps)):
        t = i / fps + 7.3 * seed
        m = cv2.getRotationMatrix2D((256, 256), 8 * np.sin(2 * np.pi * 0.2 * t), 1.1 + 0.1 * np.sin(0.3 * t))
        cx = w * (0.3 if second_face else 0.5)
        m[:, 2] += [cx - 256 + 60 * np.sin(0.5 * t), h / 2 - 256 + 20 * np.cos(0.4 * t)]
        frame = cv2.warpAffine(face, m, (w, h), dst=bg.copy(), borderMode=cv2.BORDER_TRANSPARENT)
        if second_face:
            m2 = cv2.getRotationMatrix2D((300, 256), 6 * np.sin(2 * np.pi * 0.15 * t), 0.9)
            m2[:, 2] += [w * 0.75 - 300 + 40 * np.sin(0.6 * t), h / 2 - 256]
            frame = cv2.warpAffine(other, m2, (w, h), dst=frame, borderMode=cv2.BORDER_TRANSPARENT)
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    if astream is not None:
        for start in range(0, len(audio), 1024):
            chunk = np.ascontiguousarray(audio[None, start:start + 1024].astype(np.float32))
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in astream.encode(frame):
                container.mux(packet)
        for packet in astream.encode():
            container.mux(packet)
    container.close()


def _run(kind: str, path: str, queue, root: str | None = None) -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    if root:  # the package as exported from another revision
        sys.path.insert(0, root)
    import av

    from cdr import io
    from cdr.face.track import track_video

    t0 = time.perf_counter()
    cpu0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    if kind == "decode":
        with av.open(path) as c:
            s = c.streams.video[0]
            s.thread_type = "AUTO"
            n = sum(1 for _ in c.decode(s))
    elif kind == "decode+rgb":
        n = sum(1 for _ in io.iter_frames(path))
    elif kind.startswith("track") and "stride" not in kind:
        tr = track_video(path, crop_rate=0)
        n = len(tr.frames)
        queue.put(("face", float(tr.frames["face"].mean())))
    elif kind == "track stride 2":
        tr = track_video(path, stride=2, crop_rate=0)
        n = len(tr.frames) * 2
    elif kind == "facemesh max_num_faces=2":
        import mediapipe as mp

        with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=2,
                                             refine_landmarks=True) as mesh:
            n = sum(1 for _, rgb in io.iter_frames(path) if mesh.process(rgb) is not None)
    dt = time.perf_counter() - t0
    use = resource.getrusage(resource.RUSAGE_SELF)
    cpu = use.ru_utime + use.ru_stime - cpu0
    queue.put((kind, n, dt, use.ru_maxrss / 1024, cpu))


def measure(kind: str, path: Path, root: str | None = None) -> tuple:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run, args=(kind, str(path), q, root))
    p.start()
    out = [q.get()]
    if kind.startswith("track") and "stride" not in kind:
        out.append(q.get())
    p.join()
    face = next((o[1] for o in out if o[0] == "face"), None)
    row = next(o for o in out if o[0] != "face")
    return row, face


def export_revision(ref: str, dest: Path) -> str:
    """Export the package at git revision ``ref`` into ``dest``; returns the commit id."""
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", ref], check=True,
                            capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "cdr"], check=True, capture_output=True).stdout
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return commit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", default="main", help="git revision to A/B against ('' for none)")
    args = ap.parse_args()
    base_kind = f"track at {args.baseline}"
    kinds = ["decode", "decode+rgb", "track", "track stride 2"] + ([base_kind] if args.baseline else []) + [
        "track two faces", "facemesh max_num_faces=2"]
    fps = {k: [] for k in kinds}
    cpu_fps = {k: [] for k in kinds}
    peak = {k: 0.0 for k in kinds}
    face_ratio = {}
    with tempfile.TemporaryDirectory() as tmp:
        path, two = Path(tmp) / "face_720p30.mp4", Path(tmp) / "two_faces_720p30.mp4"
        root = None
        if args.baseline:
            commit = export_revision(args.baseline, Path(tmp) / "baseline")
            root = str(Path(tmp) / "baseline")
            print(f"baseline: {args.baseline} = {commit}", file=sys.stderr)
        t0 = time.perf_counter()
        make_video(path, args.seconds)
        make_video(two, args.seconds, second_face=True)
        print(f"generated 2 x {args.seconds:.0f} s of 720p30 in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for r in range(args.rounds):
            for kind in kinds:
                video = two if kind in ("track two faces", "facemesh max_num_faces=2") else path
                (k, n, dt, mb, cpu), face = measure(kind, video, root if kind == base_kind else None)
                fps[k].append(n / dt)
                cpu_fps[k].append(n / cpu)
                peak[k] = max(peak[k], mb)
                if face is not None:
                    face_ratio[k] = face
            print(f"round {r + 1}: " + ", ".join(f"{k} {fps[k][-1]:.0f}" for k in kinds), file=sys.stderr)
    base = np.array(fps["decode"])
    one = np.array(fps["track"])
    print(f"\n{args.seconds:.0f} s 720p 30 fps H.264, one core per process, median of {args.rounds} "
          f"rounds; face tracked in " + ", ".join(f"{100 * v:.1f}% ({k})" for k, v in face_ratio.items()) + "\n")
    print("| stage | fps | x real time | ÷ decode-only fps (per round) | ÷ track fps (per round) | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in kinds:
        f = np.array(fps[k])
        spread = lambda r: f" ({r.min():.2f}-{r.max():.2f})" if args.rounds > 1 else ""  # noqa: E731
        by_decode = f"{np.median(f / base):.2f}{spread(f / base)}" if k != "decode" else ""
        by_track = f"{np.median(f / one):.3f}{spread(f / one)}" if k not in ("decode", "decode+rgb", "track") else ""
        print(f"| {k} | {np.median(f):.0f} | {np.median(f) / 30:.1f} | {by_decode} | {by_track} | {peak[k]:.0f} |")
    one = np.array(cpu_fps["track"])
    print("\nFrames per second of CPU time (user + system) of each process:\n")
    print("| stage | fps of CPU time | ÷ track (per round) |")
    print("|---|---:|---:|")
    for k in kinds:
        f = np.array(cpu_fps[k])
        spread = f" ({(f / one).min():.3f}-{(f / one).max():.3f})" if args.rounds > 1 else ""
        ratio = f"{np.median(f / one):.3f}{spread}" if k not in ("decode", "decode+rgb", "track") else ""
        print(f"| {k} | {np.median(f):.0f} | {ratio} |")


if __name__ == "__main__":
    main()
