"""Score one feature row with a trained model folder: predict, explain, check.

:class:`Predictor` loads every task model of a ``cdr-train`` folder after checking
the folder against its manifest, under the folder's lock (so a concurrent
``cdr-train`` cannot change it while it is read).  It refuses a recording whose
quality is too poor (:func:`quality_problem`) and extraction options that differ
from those the training table was made with (:func:`extraction_mismatch`).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from cdr.errors import CdrError, ModelFileError
from cdr.model import store
from cdr.model.estimators import standardise

MIN_DURATION_S = 10.0
"""Recordings shorter than this are refused (seconds)."""
MIN_FACE_RATIO = 0.05
"""Below this share of frames with a face, the recording has no usable face."""
MIN_SPEECH_RATIO = 0.05
"""Below this share of speech in the audio, the recording has no usable speech."""
LOCK_WAIT_S = 10.0
"""How long to wait for a cdr-train writing the folder before giving up (seconds)."""


def _num(row: pd.Series, name: str) -> float:
    try:
        return float(row.get(name, np.nan))
    except (TypeError, ValueError):
        return math.nan


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
    face, speech, audio = (_num(row, n) for n in ("qc.face_ratio", "qc.speech_ratio",
                                                  "qc.audio_present"))
    no_face = math.isnan(face) or face < MIN_FACE_RATIO
    no_speech = audio == 0 or math.isnan(speech) or speech < MIN_SPEECH_RATIO
    if no_face and no_speech:
        face_txt = "n/a" if math.isnan(face) else f"{100 * face:.0f}%"
        speech_txt = ("no audio track" if audio == 0 else
                      "n/a" if math.isnan(speech) else f"{100 * speech:.0f}%")
        return (f"no usable face (face found in {face_txt} of frames) and no usable speech "
                f"({speech_txt})")
    return None


def extraction_mismatch(trained: dict | None, given: dict) -> str | None:
    """The first extraction option that differs, as a sentence, or None.

    ``trained`` is the card's ``extraction`` (None when the training table did
    not record it); ``given`` holds the same keys for this recording.
    """
    if not trained:
        return None
    for key, value in trained.items():
        if key in given and given[key] != value:
            return (f"option {key} differs: the model was trained on features extracted "
                    f"with {key}={value!r}, this recording with {key}={given[key]!r}")
    return None


class Predictor:
    """The models of one ``cdr-train`` folder, checked and loaded.

    Attributes
    ----------
    models : dict
        Task -> ``(estimator, card, background)``.
    manifest : dict
    """

    def __init__(self, models: dict, manifest: dict):
        self.models = models
        self.manifest = manifest

    @classmethod
    def from_folder(cls, model_dir: str | Path) -> "Predictor":
        """Check ``model_dir`` against its manifest and load every task's model.

        Raises
        ------
        ModelFileError
            One line naming what does not belong together (see :func:`store.check_folder`).
        CdrError
            A cdr-train is writing the folder.
        """
        d = Path(model_dir)
        if not d.is_dir():
            raise ModelFileError(f"{d}: not a folder; pass the MODEL_DIR written by cdr-train")
        lock = FileLock(str(d / ".lock"))
        try:
            lock.acquire(timeout=LOCK_WAIT_S)
        except Timeout:
            raise CdrError(f"{d}: a cdr-train is writing this folder (lock {d / '.lock'}); "
                           "wait for it to finish") from None
        except OSError:
            lock = None  # a read-only folder: nothing can write it either
        try:
            manifest = store.check_folder(d)
            models = {t: store.load_model(d, t) for t in manifest["tasks"]}
        finally:
            if lock is not None:
                lock.release()
        return cls(models, manifest)

    @property
    def extraction(self) -> dict | None:
        """The extraction options of the training table (same for every task)."""
        return next(iter(self.models.values()))[1].get("extraction")

    def check_features(self, names, model_dir: str | Path, scn: str | None = None) -> None:
        """Refuse models whose features are not among ``names`` (what cdr-extract computes).

        Such a model was trained on a table from another cdr-extract version or made by
        hand; scoring would impute every such column.  ``expr.`` columns are exempt
        without ``--scn`` (the caller warns that they are imputed).
        """
        known = set(names)
        for task, (_, card, _) in self.models.items():
            unknown = [n for n in card["feature_names"] if n not in known
                       and not (n.startswith("expr.") and not scn)]
            if unknown:
                raise ModelFileError(
                    f"{store.model_paths(model_dir, task)[0]}: {len(unknown)} of its "
                    f"{len(card['feature_names'])} features are not computed by this "
                    f"cdr-extract ({', '.join(unknown[:3])}{', ...' if len(unknown) > 3 else ''}"
                    "); retrain it with cdr-train on a features.parquet written by this "
                    "version of cdr-extract")

    def predict(self, row: pd.Series) -> dict:
        """Task -> :func:`explain` of ``row``."""
        return {t: explain(row, m, card, bg) for t, (m, card, bg) in self.models.items()}


def explain(row: pd.Series, model, card: dict, background: np.ndarray) -> dict:
    """Predict one feature row and say how much each feature group contributed.

    Returns
    -------
    dict
        ``predicted_cdr`` (the most probable class), ``probabilities`` (class ->
        probability), ``contributions`` (group -> change of the predicted class's
        probability), ``missing_groups`` (no value here, imputed from training) and
        ``similarity_to_training`` (largest RBF similarity, on the training rows'
        standardised features with gamma = 1 / n_features, to any training row; near 0
        the recording resembles none of them).

    Notes
    -----
    The contribution of a group is the predicted class's probability minus its
    average when that group's values are replaced by those of each training
    video (the background rows).  Positive: the group pushed toward the prediction.
    """
    names = card["feature_names"]
    x = row.reindex(names).to_numpy(dtype=np.float64)
    classes = card["classes"]
    proba = model.predict_proba(x[None, :])[0]
    code = int(np.argmax(proba))
    prefix = np.array([n.split(".", 1)[0] for n in names])
    groups = [g for g in card["groups"] if (prefix == g).any()]
    swapped = []
    for g in groups:
        B = np.repeat(x[None, :], len(background), axis=0)
        B[:, prefix == g] = background[:, prefix == g]
        swapped.append(B)
    p_swapped = model.predict_proba(np.vstack(swapped))[:, code]
    contributions = {g: float(proba[code] - part.mean())
                     for g, part in zip(groups, np.split(p_swapped, len(groups)))}
    missing = [g for g in groups if np.isnan(x[prefix == g]).all()]
    Z, z = standardise(background, x[None, :])
    similarity = float(np.exp(-((Z - z) ** 2).sum(axis=1) / len(names)).max())
    return {"predicted_cdr": classes[code],
            "probabilities": {c: float(p) for c, p in zip(classes, proba)},
            "contributions": contributions, "missing_groups": missing,
            "similarity_to_training": similarity}
