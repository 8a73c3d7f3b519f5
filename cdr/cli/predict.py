"""``cdr-predict RECORDING --model MODEL_DIR``: score one recording with trained models.

Features come from :func:`cdr.extract.extract_recording`, the code path of
``cdr-extract``.  For each task whose model is in ``MODEL_DIR`` it prints the
predicted CDR class, the class probabilities and each feature group's
contribution, plus the recording's ``qc.`` values.  A recording that fails
quality control is refused with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from cdr.classify import TASKS, decide
from cdr.errors import CdrError, ModelFileError
from cdr.modelio import load_model, model_paths

MIN_DURATION_S = 10.0
"""Recordings shorter than this are refused (seconds)."""
MIN_FACE_RATIO = 0.05
"""Below this share of frames with a face, the recording has no usable face."""
MIN_SPEECH_RATIO = 0.05
"""Below this share of speech in the audio, the recording has no usable speech."""
EXIT_QC = 2


def _num(row: pd.Series, name: str) -> float:
    v = row.get(name, np.nan)
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _plain(v):
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and math.isnan(v) else v


def quality_problem(row: pd.Series, min_duration: float = MIN_DURATION_S) -> str | None:
    """Why a feature row cannot be scored, or None when it can.

    Refused: duration unknown or shorter than ``min_duration`` seconds, or no
    usable face (``qc.face_ratio`` < 5 % or NaN) together with no usable speech
    (no audio track, or ``qc.speech_ratio`` < 5 % or NaN).
    """
    duration = _num(row, "qc.duration_s")
    if math.isnan(duration):
        return "its duration could not be measured (qc.duration_s is missing)"
    if duration < min_duration:
        return f"it lasts {duration:.1f} s, less than the {min_duration:g} s needed"
    face = _num(row, "qc.face_ratio")
    speech = _num(row, "qc.speech_ratio")
    audio = _num(row, "qc.audio_present")
    no_face = math.isnan(face) or face < MIN_FACE_RATIO
    no_speech = audio == 0 or math.isnan(speech) or speech < MIN_SPEECH_RATIO
    if no_face and no_speech:
        face_txt = "n/a" if math.isnan(face) else f"{100 * face:.0f}%"
        speech_txt = ("no audio track" if audio == 0 else
                      "n/a" if math.isnan(speech) else f"{100 * speech:.0f}%")
        return (f"no usable face (face found in {face_txt} of frames) and no usable speech "
                f"({speech_txt})")
    return None


def score(row: pd.Series, model, card: dict) -> dict:
    """Predict one feature row with one task's model.

    Returns
    -------
    dict
        ``predicted_cdr`` (the class-balanced SVC decision), ``probabilities``
        (class -> calibrated probability), ``contributions``, ``missing_groups``
        (groups with no value here, imputed from training) and
        ``similarity_to_training`` (the largest RBF kernel value between this
        recording and the model's training videos, in (0, 1]; near 0 the
        recording resembles none of them and the prediction says little).

    Notes
    -----
    The contribution of a group is the predicted class's probability minus its
    average when that group's values are replaced by those of each training
    video the model kept (its support vectors, mapped back to feature units).
    Positive: the group pushed toward the prediction.  Replacing a group by its
    training mean instead would put the recording where no training video
    lies, which an RBF model reads as a large change for any big group (156
    MFCC columns of noise outweighed 8 informative ones in a planted test).
    """
    names = card["feature_names"]
    x = row.reindex(names).to_numpy(dtype=np.float64)
    X = pd.DataFrame([x], columns=names)
    classes = card["classes"]
    proba = model.predict_proba(X)[0]
    code = int(decide(model, X)[0])
    svc = model[-1].calibrated_classifiers_[0].estimator
    background = model.named_steps["scale"].inverse_transform(svc.support_vectors_)
    groups = [g for g in card["groups"] if any(n.split(".", 1)[0] == g for n in names)]
    swapped = []
    for g in groups:
        cols = np.array([n.split(".", 1)[0] == g for n in names])
        B = np.repeat(x[None, :], len(background), axis=0)
        B[:, cols] = background[:, cols]
        swapped.append(B)
    p_swapped = model.predict_proba(pd.DataFrame(np.vstack(swapped), columns=names))[:, code]
    contributions = {g: float(proba[code] - part.mean())
                     for g, part in zip(groups, np.split(p_swapped, len(groups)))}
    missing = [g for g in groups if np.isnan(x[[n.split(".", 1)[0] == g for n in names]]).all()]
    z = model[:-1].transform(X)
    similarity = float(np.exp(-svc.gamma * ((svc.support_vectors_ - z) ** 2).sum(axis=1)).max())
    return {"predicted_cdr": classes[code],
            "probabilities": {c: float(p) for c, p in zip(classes, proba)},
            "contributions": contributions, "missing_groups": missing,
            "similarity_to_training": similarity}


def unknown_features(names, models: dict, model_dir: str | Path, scn: str | None = None) -> None:
    """Refuse models whose features are not among ``names``, the columns cdr-extract computes.

    Checked before any decoding, so that a mismatched model costs no extraction.

    Such a model was trained on a table from another cdr-extract version (or on
    a table made by hand); scoring would impute every such column and return a
    prediction that rests on nothing measured.  ``expr.`` columns are exempt
    without ``--scn``: the caller warns that they are imputed.

    Raises
    ------
    ModelFileError
        Naming the model file, the count and the first few unknown names.
    """
    known = set(names)
    for task, (_, card) in models.items():
        unknown = [n for n in card["feature_names"] if n not in known
                   and not (n.startswith("expr.") and not scn)]
        if unknown:
            path = model_paths(model_dir, task)[0]
            raise ModelFileError(
                f"{path}: {len(unknown)} of its {len(card['feature_names'])} features are not "
                f"computed by this cdr-extract ({', '.join(unknown[:3])}"
                f"{', ...' if len(unknown) > 3 else ''}); retrain it with cdr-train on a "
                "features.parquet written by this version of cdr-extract")


def load_models(model_dir: str | Path) -> dict:
    """Every task model present in ``model_dir``: task -> (model, card)."""
    found = {t: load_model(model_dir, t) for t in TASKS if model_paths(model_dir, t)[0].exists()}
    if not found:
        raise ModelFileError(f"{model_dir}: holds no model_<task>.skops; train one with "
                             "cdr-train first")
    return found


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdr-predict", description=__doc__.splitlines()[0])
    p.add_argument("recording", help="a video or audio file")
    p.add_argument("--model", required=True, help="MODEL_DIR written by cdr-train")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--scn", help="SCN checkpoint, for models trained with expr features")
    p.add_argument("--min-duration", type=float, default=MIN_DURATION_S,
                   help="refuse recordings shorter than this, seconds (default %(default)s)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cdr-predict``; returns the exit status (2: refused by QC)."""
    args = build_parser().parse_args(argv)
    try:
        models = load_models(args.model)
        if not args.scn and any("expr" in card["groups"] for _, card in models.values()):
            print("cdr-predict: warning: the model uses expr features; pass --scn with the "
                  "checkpoint given to cdr-extract, or they are imputed", file=sys.stderr)
        from cdr.extract import extract_recording, feature_names
        unknown_features(feature_names(scn=args.scn), models, args.model, args.scn)
        row = extract_recording(Path(args.recording), video_id=None, scn=args.scn)
    except CdrError as exc:
        print(f"cdr-predict: error: {exc}", file=sys.stderr)
        return 1
    qc = {str(k): _plain(v) for k, v in row.items() if str(k).startswith("qc.")}
    reason = quality_problem(row, args.min_duration)
    if reason:
        message = (f"{args.recording}: refused by quality control: {reason}; score a recording "
                   f"of at least {args.min_duration:g} s with the patient's face or speech in it")
        if args.json:
            print(json.dumps({"recording": str(args.recording), "refused": True,
                              "reason": reason, "qc": qc}))
        print(f"cdr-predict: {message}", file=sys.stderr)
        return EXIT_QC
    from cdr.model.readout import readout, text

    cards = {t: card for t, (_, card) in models.items()}
    out = readout(args.recording, row, {t: score(row, m, card) for t, (m, card) in models.items()},
                  cards, qc)
    if args.json:
        print(json.dumps(out, allow_nan=False, default=str))
    else:
        print(text(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
