"""``cdr-predict RECORDING --model MODEL_DIR``: score one recording with trained models.

Features come from the code path of ``cdr-extract``, with the extraction options the
model's training table was made with.  For each task of the model folder it prints the
predicted CDR class (the most probable one), the class probabilities and each feature
group's contribution, plus the recording's ``qc.`` values.  A recording that fails
quality control is refused with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from cdr.cli import describe
from cdr.errors import CdrError
from cdr.options import predict_options

EXIT_QC = 2
MIN_DURATION_S = 10.0  # as cdr.model.inference.MIN_DURATION_S


def _plain(v):
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and math.isnan(v) else v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdr-predict", description=describe(__doc__))
    p.add_argument("recording", help="a video or audio file")
    p.add_argument("--model", required=True, metavar="MODEL_DIR", help="folder written by cdr-train")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--scn", help="SCN checkpoint, for models trained with expr features")
    p.add_argument("--min-duration", type=float, default=MIN_DURATION_S,
                   help="refuse recordings shorter than this, seconds (default %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cdr-predict``; returns the exit status (2: refused by QC)."""
    args = build_parser().parse_args(argv)
    if Path(args.recording).is_dir():
        print(f"cdr-predict: error: {args.recording}: is a folder; cdr-predict scores one recording, "
              "pass a video or audio file (cdr-extract takes a folder)", file=sys.stderr)
        return 1
    if not Path(args.model).is_dir():  # before the model library's imports: a wrong path answers at once
        print(f"cdr-predict: error: {args.model}: not found; pass the folder written by cdr-train", file=sys.stderr)
        return 1
    from cdr.io import check_file

    try:  # the recording's path too, before the models load: a missing file answers at once
        check_file(args.recording)
    except CdrError as exc:
        print(f"cdr-predict: error: {exc}", file=sys.stderr)
        return 1
    from cdr.model.store import peek_extraction
    from cdr.tracking import start_tracking

    # The face is tracked in a process of its own from now on, while the models load and the
    # audio is decoded here; the folder and the features are still checked before any result.
    early = predict_options(peek_extraction(args.model), None)  # width, stride, face; the SCN is checked later
    tracking = start_tracking(args.recording, width=early["width"], stride=early["stride"],
                              crop_rate=2.0 if args.scn else 0.0, face=early["face"])
    os.nice(max(0, 5 - os.nice(0)))  # the tracking is the critical path: the rest yields to it (nice 5, once)
    try:
        return _predict(args, tracking)
    finally:
        tracking.close()


def _predict(args, tracking) -> int:
    from cdr.model.inference import Predictor, extraction_mismatch, quality_problem

    try:
        predictor = Predictor.from_folder(args.model)
        from cdr.extract import extract_recording, feature_names

        given = predict_options(predictor.extraction, args.scn)
        mismatch = extraction_mismatch(predictor.extraction, given)
        if mismatch:
            raise CdrError(f"{args.model}: {mismatch}; " + (
                "pass --scn with the checkpoint given to cdr-extract for the training table"
                if "scn" in mismatch else "retrain with this version, or use the one that "
                "extracted the training table"))
        if not predictor.extraction and not args.scn and any(
                "expr" in card["groups"] for _, card, _ in predictor.models.values()):
            print("cdr-predict: warning: the model uses expr features; pass --scn with the "
                  "checkpoint given to cdr-extract, or they are imputed", file=sys.stderr)
        predictor.check_features(feature_names(scn=args.scn), args.model, args.scn)
        row = extract_recording(Path(args.recording), video_id=None, scn=args.scn,
                                width=given["width"], stride=given["stride"],
                                face=given["face"], tracking=tracking)
    except CdrError as exc:
        print(f"cdr-predict: error: {exc}", file=sys.stderr)
        return 1
    qc = {str(k): _plain(v) for k, v in row.items() if str(k).startswith("qc.")}
    reason = quality_problem(row, args.min_duration)
    if reason:
        if args.json:
            print(json.dumps({"recording": str(args.recording), "refused": True,
                              "reason": reason, "qc": qc}))
        print(f"cdr-predict: {args.recording}: refused by quality control: {reason}; score a "
              f"recording of at least {args.min_duration:g} s with the patient's face or "
              "speech in it", file=sys.stderr)
        return EXIT_QC
    from cdr.model.readout import readout, text

    out = readout(args.recording, row, predictor.predict(row),
                  {t: card for t, (_, card, _) in predictor.models.items()}, qc)
    print(json.dumps(out, allow_nan=False, default=str) if args.json else text(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
