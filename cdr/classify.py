"""CDR classification tasks, feature groups, the model, and its metrics.

The model is one scikit-learn ``Pipeline``: median imputation, standard
scaling, and an RBF ``SVC(class_weight="balanced")`` whose scores are turned
into probabilities by cross-validated Platt (sigmoid) calibration
(``CalibratedClassifierCV(method="sigmoid", ensemble=False)``).  The predicted
class is the SVC's own class-balanced decision (:func:`decide`); the
probabilities are calibrated to the training cohort's class frequencies, so
for a rare class the two can disagree.

Evaluation (nested leave-one-subject-out) is in :mod:`cdr.loso`; running many
evaluations, the permutation test and the ablation in :mod:`cdr.evaluate`.
"""

from __future__ import annotations


from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.impute import SimpleImputer
from sklearn.metrics import (balanced_accuracy_score, confusion_matrix, f1_score,
                             recall_score)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from scipy.stats import binomtest

from cdr.errors import ParameterError

FEATURE_GROUPS: tuple[str, ...] = ("pupil", "coupling", "pose", "mfcc", "gemaps", "voice", "expr")
"""Groups usable as features, in report order; ``qc`` is never one by default."""
QC_GROUP = "qc"



@dataclass(frozen=True)
class Task:
    """A classification task: which CDR values map to which class.

    Attributes
    ----------
    name : str
        ``"cdr3"`` or ``"binary"``.
    classes : tuple of str
        Class names, indexed by class code 0..k-1.
    cdr_to_class : dict
        CDR value -> class code; values not listed are outside the task.
    """

    name: str
    classes: tuple[str, ...]
    cdr_to_class: dict[float, int]


TASKS: dict[str, Task] = {
    "cdr3": Task("cdr3", ("0.5", "1", "2"), {0.5: 0, 1.0: 1, 2.0: 2}),
    "binary": Task("binary", ("0.5", ">=1"), {0.5: 0, 1.0: 1, 2.0: 1, 3.0: 1}),
}


def get_task(name: str) -> Task:
    """Return the :class:`Task` called ``name`` or raise ParameterError."""
    if name not in TASKS:
        raise ParameterError(f"task={name!r} is unknown; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def feature_columns(table: pd.DataFrame, groups: tuple[str, ...] | list[str]) -> list[str]:
    """Return the table's columns ``<group>.<feature>`` for ``groups``, in table order."""
    wanted = set(groups)
    return [c for c in table.columns if c.split(".", 1)[0] in wanted]


def present_groups(table: pd.DataFrame) -> tuple[str, ...]:
    """Return the feature groups (not ``qc``) that have at least one column in ``table``."""
    have = {c.split(".", 1)[0] for c in table.columns}
    return tuple(g for g in FEATURE_GROUPS if g in have) + tuple(
        sorted(g for g in have - set(FEATURE_GROUPS) - {QC_GROUP}))


def make_model(C: float = 1.0, gamma: float | str = "scale", calibration_cv=3) -> Pipeline:
    """Build the classifier: impute -> scale -> calibrated ``SVC(class_weight="balanced")``.

    Parameters
    ----------
    C, gamma : float
        SVC regularisation and RBF width (gamma in 1 / squared scaled units).
    calibration_cv : int or list of (train, test) index arrays
        Cross-validation of the Platt calibration; pass group-aware splits when
        rows of one subject must stay together.
    """
    svc = SVC(kernel="rbf", C=C, gamma=gamma, class_weight="balanced")
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("svm", CalibratedClassifierCV(svc, method="sigmoid", ensemble=False,
                                       cv=calibration_cv)),
    ])


def decide(model: Pipeline, X) -> np.ndarray:
    """Return the SVC's class-balanced decision (class codes) for rows ``X``.

    ``model.predict`` would instead take the argmax of the calibrated
    probabilities, which favours frequent classes.
    """
    svc = model[-1].calibrated_classifiers_[0].estimator
    return svc.predict(model[:-1].transform(X))


# --------------------------------------------------------------------------- metrics
def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Accuracy, balanced accuracy, macro-F1, Wilson 95 % CI, confusion, per-class recall.

    Parameters
    ----------
    y_true, y_pred : np.ndarray [shape=(n,)]
        Class codes 0..k-1.
    classes : tuple of str
        Class names by code.
    """
    k, n = len(classes), int(y_true.size)
    labels = list(range(k))
    correct = int(np.sum(y_true == y_pred))
    ci = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=np.nan)
    return {
        "accuracy": correct / n,
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                   zero_division=0.0)),
        "accuracy_ci95": [float(ci.low), float(ci.high)],
        "n": n,
        "n_per_class": {c: int(np.sum(y_true == i)) for i, c in enumerate(classes)},
        "recall_per_class": {c: (None if np.isnan(r) else float(r))
                             for c, r in zip(classes, recall)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(classes),
    }
