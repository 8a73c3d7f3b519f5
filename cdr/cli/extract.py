"""``cdr-extract FOLDER -o OUT``: a folder of recordings -> one feature table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import CdrError, DiskFullError
from ..parallel import interruptible

RESUME = "finished recordings are kept; rerun the same command to resume"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cdr-extract",
        description="Extract pupil, head-pose, speech and expression features from every recording "
        "in a folder (searched recursively) into OUT/features.parquet.",
    )
    p.add_argument("folder", help="folder of video (.mp4 .mov .avi .mkv .webm) and audio (.wav .flac .mp3 .m4a .ogg) files")
    p.add_argument("-o", "--out", metavar="OUT", required=True, help="output folder; a rerun skips finished recordings")
    p.add_argument("--jobs", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask distributed scheduler, e.g. tcp://10.0.0.5:8786 "
                   "(refused if it does not answer within 10 s or has no worker within 60 s)")
    p.add_argument("--scn", metavar="CHECKPOINT", help="Self-Cure Network checkpoint folder (from cdr-scn-train); "
                   "without it the expr. group is left out")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device for the expression network")
    p.add_argument("--augment", action="append", default=[], choices=["flip"],
                   help="add mirrored rows <video_id>#flip (computed from the mirrored track)")
    p.add_argument("--keep-tracks", action="store_true",
                   help="also write OUT/tracks/<video_id>.parquet and OUT/turns/<video_id>.rttm")
    p.add_argument("--turns", metavar="DIR", help="folder of your own speaker turns, <video_id>.rttm with speakers "
                   "'patient' and 'interviewer'; a file there replaces the automatic turns of its recording")
    p.add_argument("--width", type=int, help="scale frames to this width in the decoder (default: native)")
    p.add_argument("--stride", type=int, default=1, help="track every n-th frame (default 1; see BENCHMARKS.md)")
    p.add_argument("--face", default="auto", choices=["auto", "largest", "center", "left", "right"],
                   help="whose face is the patient's: auto (default) takes the face present in most of the "
                   "first 10 s, the largest on ties; largest, center, left or right pick by size or place")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.jobs < 1:
        print(f"cdr-extract: --jobs={args.jobs} must be at least 1", file=sys.stderr)
        return 2
    if not Path(args.folder).is_dir():  # before the heavy imports, so that a bad path answers at once
        print(f"cdr-extract: {args.folder}: not a folder; pass the folder that holds the recordings", file=sys.stderr)
        return 2
    with interruptible("cdr-extract", then=RESUME):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..table import extract_folder

    try:
        s = extract_folder(
            args.folder, args.out, jobs=args.jobs, scheduler=args.scheduler, scn=args.scn,
            device=args.device, augment=tuple(args.augment), keep_tracks=args.keep_tracks,
            width=args.width, stride=args.stride, face=args.face, progress=not args.quiet, turns=args.turns,
        )
    except DiskFullError as exc:
        print(f"cdr-extract: {exc}; {RESUME}", file=sys.stderr)
        return 1
    except CdrError as exc:
        print(f"cdr-extract: {exc}", file=sys.stderr)
        return 2
    if s.n_inputs == 0:
        print(f"cdr-extract: no recordings found under {args.folder}; pass the folder that holds "
              "the recordings (.mp4 .mov .avi .mkv .webm .wav .flac .mp3 .m4a .ogg)", file=sys.stderr)
        return 1
    rate = f", {s.media_seconds / s.seconds:.1f}x real time" if s.n_done and s.seconds > 0 else ""
    print(
        f"{s.n_inputs} recordings: {s.n_done} extracted, {s.n_cached} already done, "
        f"{len(s.failures)} failed ({s.seconds:.1f} s{rate})"
    )
    if s.cameras:
        print(s.cameras)
    if s.warnings:
        print(f"{len(s.warnings)} warnings, see {s.table_path.parent / 'extract.log'}")
    if len(s.failures):
        print(f"failures: {s.table_path.parent / 'failures.csv'}")
    print(f"features: {s.table_path}")
    from ..provenance import banner, read_note

    note = read_note(args.folder)
    if note:
        print(banner(note) or f"dataset note ({note['source']}, kept in the table): {note['note']}")
    if not s.ok:
        print(f"cdr-extract: none of the {s.n_inputs} recordings could be processed; see "
              f"{s.table_path.parent / 'failures.csv'} for what to do with each", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
