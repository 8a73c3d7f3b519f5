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


import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.calibration import CalibratedClassifierCV
from sklearn.impute import SimpleImputer
from sklearn.metrics import (balanced_accuracy_score, confusion_matrix, f1_score,
                             recall_score)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, _libsvm
from scipy.stats import binomtest

from cdr.errors import ParameterError

FEATURE_GROUPS: tuple[str, ...] = ("pupil", "coupling", "pose", "mfcc", "gemaps", "voice", "turns", "expr")
"""Groups usable as features, in report order; ``qc`` is never one by default."""
QC_GROUP = "qc"

C_GRID: tuple[float, ...] = (1.0, 10.0)
"""SVC C values tried in the inner loop (ties go to the earlier value)."""
GAMMA_SCALES: tuple[float, ...] = (1.0, 0.1)
"""RBF gamma values tried, as multiples of 1 / n_features (gamma='scale' on scaled data)."""



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


# --------------------------------------------------------------------------- fast SVC
def balanced_accuracy_fast(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> float:
    """Mean recall over the classes present in ``y_true`` (sklearn's balanced_accuracy_score)."""
    total = np.bincount(y_true, minlength=k)
    hit = np.bincount(y_true[y_true == y_pred], minlength=k)
    present = total > 0
    return float(np.mean(hit[present] / total[present]))


def _svc_public(K, y, Kt, C):
    return SVC(kernel="precomputed", C=C, class_weight="balanced").fit(K, y).predict(Kt)


def _svc_libsvm(K, y, Kt, C):
    """Same as :func:`_svc_public`, calling scikit-learn's libsvm binding directly.

    ``SVC.fit`` spends ~0.8 ms per call validating its input while the solver
    takes ~0.05 ms on 40 rows, and the permutation test fits ~800 SVCs per
    permutation.  ``y`` holds class codes 0..k-1; the class weights are those of
    ``class_weight="balanced"``: n_samples / (n_classes * bincount(y)).
    """
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    if present.size == 1:
        return np.full(Kt.shape[0], present[0])
    enc = y if present.size == counts.size else np.searchsorted(present, y)
    weight = y.size / (present.size * counts[present].astype(np.float64))
    support, sv, n_sv, coef, intercept, pa, pb, _, _ = _libsvm.fit(
        K, enc.astype(np.float64), svm_type=0, kernel="precomputed", C=float(C),
        class_weight=weight, sample_weight=np.empty(0), random_seed=0)
    out = _libsvm.predict(Kt, support, sv, n_sv, coef, intercept, pa, pb,
                          svm_type=0, kernel="precomputed")
    return present[out.astype(np.intp)]


def _pick_svc():
    """Use the direct libsvm call only if it reproduces ``SVC`` exactly here."""
    rng = np.random.default_rng(0)
    try:
        _libsvm.set_verbosity_wrap(0)
        for k in (2, 3):
            Z = rng.normal(size=(30, 5))
            y = rng.integers(0, k, 30)
            D = ((Z[:, None, :] - Z[None, :24, :]) ** 2).sum(-1)
            K, Kt = np.exp(-0.2 * D[:24]), np.exp(-0.2 * D[24:])
            for C in C_GRID:
                if not np.array_equal(_svc_libsvm(K, y[:24], Kt, C),
                                      _svc_public(K, y[:24], Kt, C)):
                    raise RuntimeError("predictions differ")
        return _svc_libsvm
    except Exception as exc:  # the private binding changed: fall back, slower
        warnings.warn(f"fast SVC path unavailable ({exc}); using sklearn.svm.SVC (slower)")
        return _svc_public


_SVC = None


def fit_predict_svc(K: np.ndarray, y: np.ndarray, Kt: np.ndarray, C: float) -> np.ndarray:
    """Fit ``SVC(kernel="precomputed", C, class_weight="balanced")`` on ``K``, predict ``Kt``."""
    global _SVC
    if _SVC is None:
        _SVC = _pick_svc()
    return _SVC(K, y, Kt, C)
