"""``cdr-extract FOLDER -o OUT``: a folder of recordings -> one feature table."""

from __future__ import annotations

import argparse
import sys

from ..errors import CdrError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cdr-extract",
        description="Extract pupil, head-pose, speech and expression features from every recording "
        "in a folder (searched recursively) into OUT/features.parquet.",
    )
    p.add_argument("folder", help="folder of video (.mp4 .mov .avi .mkv .webm) and audio (.wav .flac .mp3 .m4a .ogg) files")
    p.add_argument("-o", "--out", required=True, help="output folder; a rerun skips finished recordings")
    p.add_argument("--jobs", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask distributed scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--scn", metavar="CHECKPOINT", help="Self-Cure Network checkpoint folder (from cdr-scn-train); "
                   "without it the expr. group is left out")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device for the expression network")
    p.add_argument("--augment", action="append", default=[], choices=["flip"],
                   help="add mirrored rows <video_id>#flip (computed from the mirrored track)")
    p.add_argument("--keep-tracks", action="store_true", help="also write OUT/tracks/<video_id>.parquet")
    p.add_argument("--width", type=int, help="scale frames to this width in the decoder (default: native)")
    p.add_argument("--stride", type=int, default=1, help="track every n-th frame (default 1; see BENCHMARKS.md)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..table import extract_folder

    if args.jobs < 1:
        print(f"cdr-extract: --jobs={args.jobs} must be at least 1", file=sys.stderr)
        return 2
    try:
        s = extract_folder(
            args.folder, args.out, jobs=args.jobs, scheduler=args.scheduler, scn=args.scn,
            device=args.device, augment=tuple(args.augment), keep_tracks=args.keep_tracks,
            width=args.width, stride=args.stride, progress=not args.quiet,
        )
    except CdrError as exc:
        print(f"cdr-extract: {exc}", file=sys.stderr)
        return 2
    rate = f", {s.media_seconds / s.seconds:.1f}x real time" if s.n_done and s.seconds > 0 else ""
    print(
        f"{s.n_inputs} recordings: {s.n_done} extracted, {s.n_cached} already done, "
        f"{len(s.failures)} failed ({s.seconds:.1f} s{rate})"
    )
    if s.warnings:
        print(f"{len(s.warnings)} warnings, see {s.table_path.parent / 'extract.log'}")
    if len(s.failures):
        print(f"failures: {s.table_path.parent / 'failures.csv'}")
    print(f"features: {s.table_path}")
    from ..provenance import banner, read_note

    note = read_note(args.folder)
    if note:
        print(banner(note) or f"dataset note ({note['source']}, kept in the table): {note['note']}")
    if s.n_inputs == 0:
        print(f"cdr-extract: no recordings found under {args.folder}", file=sys.stderr)
        return 1
    if not s.ok:
        print(f"cdr-extract: none of the {s.n_inputs} recordings could be processed; see "
              f"{s.table_path.parent / 'failures.csv'} for what to do with each", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
