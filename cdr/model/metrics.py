"""Metrics of repeated out-of-fold predictions: means over draws, intervals, calibration.

An evaluation gives ``R`` draws of out-of-fold predictions of the same videos
(:mod:`cdr.model.split`).  Accuracy, balanced accuracy and macro-F1 are the
means over draws, with their standard deviation.  Intervals:

- accuracy: Wilson 95 % interval (``scipy.stats.binomtest``) around the mean
  number of correct videos;
- balanced accuracy and macro-F1: percentile bootstrap over subjects (a
  resampled subject brings all its videos), of the same mean over draws.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import (accuracy_score, balanced_accuracy_score, brier_score_loss,
                             confusion_matrix, f1_score)

N_BOOTSTRAP = 2000
"""Bootstrap resamples of subjects for the 95 % intervals."""


def confusion_scores(C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Balanced accuracy and macro-F1 from confusion counts ``[shape=(..., k, k)]``.

    Rows are true classes.  Balanced accuracy is the mean recall over the classes
    present (as ``balanced_accuracy_score``); macro-F1 averages all k classes, 0
    where a class is never true nor predicted (as ``f1_score(labels=range(k),
    zero_division=0)``).  ``tests/test_model_metrics.py`` checks both against sklearn.
    """
    diag = np.diagonal(C, axis1=-2, axis2=-1)
    rows, cols = C.sum(axis=-1), C.sum(axis=-2)
    present = rows > 0
    recall = np.divide(diag, rows, out=np.zeros_like(diag, dtype=float), where=present)
    bacc = recall.sum(axis=-1) / present.sum(axis=-1)
    denom = rows + cols
    f1 = np.divide(2 * diag, denom, out=np.zeros_like(diag, dtype=float), where=denom > 0)
    return bacc, f1.mean(axis=-1)


def bootstrap_ci(y_true: np.ndarray, pred_draws: np.ndarray, subjects: np.ndarray, k: int,
                 n_boot: int = N_BOOTSTRAP, seed: int = 0) -> tuple[list, list]:
    """95 % percentile intervals of mean balanced accuracy and mean macro-F1 over draws.

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)]
    pred_draws : np.ndarray [shape=(R, n)]
    subjects : np.ndarray [shape=(n,)]
        Subject code of each video; subjects are resampled with replacement.
    """
    _, code = np.unique(subjects, return_inverse=True)
    rng = np.random.default_rng([seed, 13])
    picks = rng.integers(0, code.max() + 1, size=(n_boot, code.max() + 1))
    counts = np.stack([np.bincount(p, minlength=code.max() + 1) for p in picks])
    weights = counts[:, code].astype(float)                     # (B, n)
    cell = y_true[None, :] * k + pred_draws                     # (R, n)
    onehot = np.zeros(cell.shape + (k * k,))
    np.put_along_axis(onehot, cell[..., None], 1.0, axis=-1)
    C = np.einsum("bn,rnq->brq", weights, onehot).reshape(n_boot, -1, k, k)
    bacc, f1 = confusion_scores(C)
    q = [2.5, 97.5]
    return ([float(v) for v in np.percentile(bacc.mean(axis=1), q)],
            [float(v) for v in np.percentile(f1.mean(axis=1), q)])


def summarise(y_true: np.ndarray, pred_draws: np.ndarray, proba: np.ndarray,
              subjects: np.ndarray, classes: tuple[str, ...], seed: int = 0) -> dict:
    """The metrics of one evaluation (keys as in CONTRACT.md, plus spreads and calibration).

    Parameters
    ----------
    y_true : np.ndarray [shape=(n,)]
    pred_draws : np.ndarray [shape=(R, n)]
        Class codes predicted in each draw.
    proba : np.ndarray [shape=(n, k)]
        Out-of-fold probabilities, averaged over draws.
    """
    k, n = len(classes), int(y_true.size)
    labels = list(range(k))
    acc = np.array([accuracy_score(y_true, p) for p in pred_draws])
    bacc = np.array([balanced_accuracy_score(y_true, p) for p in pred_draws])
    f1 = np.array([f1_score(y_true, p, labels=labels, average="macro", zero_division=0.0)
                   for p in pred_draws])
    correct = int(round(acc.mean() * n))
    wilson = binomtest(correct, n).proportion_ci(confidence_level=0.95, method="wilson")
    bacc_ci, f1_ci = bootstrap_ci(y_true, pred_draws, subjects, k, seed=seed)
    consensus = np.argmax(proba, axis=1)
    recall = np.diag(confusion_matrix(y_true, consensus, labels=labels)) / np.maximum(
        np.bincount(y_true, minlength=k), 1)
    return {
        "accuracy": float(acc.mean()), "balanced_accuracy": float(bacc.mean()),
        "macro_f1": float(f1.mean()),
        "accuracy_ci95": [float(wilson.low), float(wilson.high)],
        "balanced_accuracy_ci95": bacc_ci, "macro_f1_ci95": f1_ci,
        "accuracy_sd": float(acc.std()), "balanced_accuracy_sd": float(bacc.std()),
        "macro_f1_sd": float(f1.std()),
        "balanced_accuracy_range": [float(bacc.min()), float(bacc.max())],
        "repeats": int(pred_draws.shape[0]), "n": n,
        "n_per_class": {c: int(np.sum(y_true == i)) for i, c in enumerate(classes)},
        "recall_per_class": {c: float(r) for c, r in zip(classes, recall)},
        "confusion": confusion_matrix(y_true, consensus, labels=labels).tolist(),
        "brier": brier(y_true, proba),
        "classes": list(classes),
    }


def brier(y_true: np.ndarray, proba: np.ndarray) -> float:
    """Multi-class Brier score: mean over videos of sum_c (p_c - [y = c])^2 (0 is perfect)."""
    return float(brier_score_loss(y_true, proba, labels=list(range(proba.shape[1])),
                                  scale_by_half=False))


def wilson(correct: int, n: int) -> list[float]:
    """Wilson 95 % interval of a proportion."""
    ci = binomtest(int(correct), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]
