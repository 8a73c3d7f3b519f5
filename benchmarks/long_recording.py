"""Long recordings and single-recording scoring: wall time, real-time factor, peak memory.

1. A 60-s 720p 30 fps interview clip with speech is generated (as in extract_speed.py),
   then looped by PyAV (packets copied, timestamps shifted; nothing re-encoded) into
   recordings of ``--minutes`` each. For each length, ``cdr-extract --jobs 1`` runs in a
   fresh process (with ``--long-ceiling``, beside the tracking-only ceiling: decode +
   FaceMesh + pose in a fresh process), and the peak RSS of the largest process is read
   from the kernel.
2. ``--predict``: a model is trained by ``cdr-train`` on a small table of random values
   under the real column names (its accuracy is meaningless; only the time matters), then
   ``cdr-predict`` scores the 60-s clip, timed against tracking the clip alone, same run.
3. The speech stage alone (``speech_features``) on ``--speech-minutes`` of audio: peak RSS.

Usage::

    .venv/bin/python benchmarks/long_recording.py [--minutes 5 20] [--predict] [--speech-minutes 60]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from extract_speed import interview_audio  # noqa: E402
from track_speed import make_video  # noqa: E402

TRACK_ONLY = "import sys; from cdr.face.track import track_video; track_video(sys.argv[1], crop_rate=0)"
SPEECH_ONLY = """
import resource, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from extract_speed import interview_audio
from cdr.features.speech import speech_features
y = interview_audio(60 * float(sys.argv[1]))
y += 0.003 * np.random.default_rng(0).standard_normal(y.size, dtype=np.float32)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
speech_features(y, 16000)
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def loop_video(src: Path, dst: Path, times: int, seconds: float) -> None:
    """Concatenate ``times`` copies of ``src`` (``seconds`` long) by copying packets."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        pairs = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("video", "audio")}
        last = dict.fromkeys(pairs, -(1 << 62))
        for k in range(times):
            inp.seek(0)
            for packet in inp.demux(*[inp.streams[i] for i in pairs]):
                if packet.dts is None:
                    continue
                src_stream = packet.stream
                shift = int(round(k * seconds / src_stream.time_base))
                if packet.dts + shift <= last[src_stream.index]:
                    continue  # the audio encoder's priming packet overlaps the previous copy's end
                packet.pts += shift
                packet.dts += shift
                last[src_stream.index] = packet.dts
                packet.stream = pairs[src_stream.index]
                out.mux(packet)


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds of a command in a fresh process, and the peak RSS (MB) of its largest process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, (after / 1024 if after > before else float("nan"))


def toy_model(tmp: Path) -> Path:
    """A model folder trained by cdr-train on random values under the real column names."""
    import pandas as pd

    from cdr.extract import feature_names

    names = feature_names()
    rng = np.random.default_rng(0)
    ids = [f"s{i:02d}" for i in range(12)]
    table = pd.DataFrame(rng.normal(size=(len(ids), len(names))), index=pd.Index(ids, name="video_id"), columns=names)
    table.to_parquet(tmp / "features.parquet")
    pd.DataFrame({"video_id": ids, "cdr": [0.5, 1.0, 2.0] * 4}).to_csv(tmp / "labels.csv", index=False)
    model = tmp / "model"
    subprocess.run([sys.executable, "-m", "cdr.cli.train", str(tmp / "features.parquet"), "--labels",
                    str(tmp / "labels.csv"), "-o", str(model), "--permutations", "0", "--jobs", "1"],
                   check=True, stdout=subprocess.DEVNULL)
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="*", default=[5, 20])
    ap.add_argument("--predict", action="store_true", help="also time cdr-predict on the 60-s clip")
    ap.add_argument("--long-ceiling", action="store_true", help="also track each long recording alone, for the ratio")
    ap.add_argument("--speech-minutes", type=float, nargs="*", default=[60])
    args = ap.parse_args()
    py = sys.executable
    rows: list[tuple[str, float, float, float, float]] = []
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clip = tmp / "clip.mp4"
        make_video(clip, 60, audio=interview_audio(60), seed=0)
        if args.predict:
            try:
                model = toy_model(tmp)
                track, _ = timed([py, "-c", TRACK_ONLY, str(clip)])
                pred, peak = timed([py, "-m", "cdr.cli.predict", str(clip), "--model", str(model)])
                rows.append(("60-s clip: tracking only (fresh process)", 60, track, 1.0, float("nan")))
                rows.append(("60-s clip: cdr-predict", 60, pred, pred / track, peak))
            except subprocess.CalledProcessError as exc:  # the long recordings are still worth measuring
                print(f"cdr-predict timing skipped: {exc}", file=sys.stderr)
        for minutes in args.minutes:
            folder = tmp / f"m{minutes:g}"
            folder.mkdir()
            loop_video(clip, folder / "long.mp4", int(round(minutes)), 60.0)
            track, tpeak = (timed([py, "-c", TRACK_ONLY, str(folder / "long.mp4")]) if args.long_ceiling
                            else (float("nan"), float("nan")))
            wall, peak = timed([py, "-m", "cdr.cli.extract", str(folder), "-o", str(tmp / f"out{minutes:g}"),
                                "--jobs", "1", "--quiet"])
            if args.long_ceiling:
                rows.append((f"{minutes:g}-min recording: tracking only", 60 * minutes, track, 1.0, tpeak))
            rows.append((f"{minutes:g}-min recording: cdr-extract --jobs 1, all groups", 60 * minutes, wall,
                         wall / track, peak))
        for minutes in args.speech_minutes:
            p = subprocess.run([py, "-c", SPEECH_ONLY, str(minutes), str(Path(__file__).parent)],
                               check=True, capture_output=True, text=True)
            base, peak = (float(v) for v in p.stdout.split())
            rows.append((f"{minutes:g}-min audio: speech stage alone (signal held: {base:.0f} MB)",
                         60 * minutes, float("nan"), float("nan"), peak))
    print(f"\nload average after: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| run | media (s) | wall (s) | x real time | ÷ tracking-only time | peak RSS, largest process (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, media, wall, ratio, peak in rows:
        f = (lambda v, d=1: "" if v != v else f"{v:.{d}f}")
        print(f"| {label} | {media:.0f} | {f(wall)} | {f(media / wall if wall == wall else float('nan'))} | "
              f"{f(ratio, 2)} | {f(peak, 0)} |")


if __name__ == "__main__":
    main()
