"""Is a new recording within what the model was trained on?  Warnings for cdr-predict.

Two checks, each giving a warning on every task of a model:

* **Imputed groups.**  When half or more of the model's feature groups were not
  measured in the recording (an audio-only file scored by a video model), their
  values are the training cohort's medians and the prediction rests on the few
  groups that remain.
* **Unlike the training cohort.**  The *distance* of a recording to the cohort
  is its distance to the nearest training recording, where the distance
  between two recordings is the mean, over the feature groups measured in both,
  of the root-mean-square difference of their standardised feature values
  (each column centred and scaled by the training recordings' mean and SD).
  Every group weighs the same whatever its number of columns, and a group that
  was not measured is left out rather than imputed.  The threshold comes from
  the training cohort itself: each training recording's distance to the
  nearest recording of *another* subject (leave-one-subject-out); the
  threshold is their conformal (1 - alpha) quantile, the
  ``ceil((1 - alpha)(n + 1))``-th smallest of the n, so that a new recording
  exchangeable with the training ones exceeds it with probability <= alpha.

:func:`fit_reference` runs at training time and returns a JSON-ready dict kept
in the model card; :func:`assess` runs at prediction time.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics.pairwise import nan_euclidean_distances

from cdr.errors import ParameterError
from cdr.labels import FLIP_SUFFIX

ALPHA = 0.05
"""Share of recordings like the training ones that may be flagged as unlike them."""
IMPUTED_SHARE = 0.5
"""Warn when at least this share of the model's feature groups is imputed."""
DISTANCE = ("mean over the feature groups measured in both recordings of the RMS difference of "
            "standardised feature values, to the nearest training recording")
DIGITS = 5


def _blocks(columns) -> dict[str, np.ndarray]:
    out: dict[str, list[int]] = {}
    for j, c in enumerate(columns):
        out.setdefault(str(c).split(".", 1)[0], []).append(j)
    return {g: np.asarray(v) for g, v in out.items()}


def group_distances(A: np.ndarray, B: np.ndarray, columns) -> np.ndarray:
    """Distances between the rows of ``A`` and of ``B`` (standardised, NaN where not measured).

    Returns
    -------
    np.ndarray [shape=(len(A), len(B))]
        Mean over groups of the RMS difference over the columns present in
        both rows; NaN where the two rows share no measured group.
    """
    per_group = []
    for cols in _blocks(columns).values():
        d = nan_euclidean_distances(A[:, cols], B[:, cols])  # scaled up to all columns
        per_group.append(d / math.sqrt(cols.size))
    stack = np.stack(per_group)
    with np.errstate(invalid="ignore"):
        counts = np.sum(~np.isnan(stack), axis=0)
        total = np.nansum(stack, axis=0)
    return np.where(counts > 0, total / np.maximum(counts, 1), np.nan)


def _list(a: np.ndarray) -> list:
    return [None if np.isnan(v) else float(f"{v:.{DIGITS}g}") for v in np.ravel(a)]


def _array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def fit_reference(X: pd.DataFrame, subjects, alpha: float = ALPHA) -> dict:
    """The training cohort's reference for :func:`assess`, as a JSON-ready dict.

    Parameters
    ----------
    X : pd.DataFrame [shape=(n_rows, n_features)]
        The training table in the model's columns; ``#flip`` rows are dropped.
    subjects : array-like [shape=(n_rows,)]
        Subject of each row.
    alpha : float
        Target false-warning rate for recordings like the training ones.

    Returns
    -------
    dict
        ``distance`` (the definition), ``alpha``, ``threshold``,
        ``loo_distances`` (one per training recording), ``columns``,
        ``center``, ``scale`` and ``rows`` (the standardised training
        recordings, NaN as None).
    """
    if not 0 < alpha < 1:
        raise ParameterError(f"alpha={alpha} must be in (0, 1)")
    subjects = np.asarray(subjects).astype(str)
    if len(X) != subjects.size:
        raise ParameterError(f"X has {len(X)} rows but subjects has {subjects.size}")
    keep = ~X.index.astype(str).str.endswith(FLIP_SUFFIX)
    values, subjects = X.loc[keep].to_numpy(dtype=float), subjects[keep]
    if np.unique(subjects).size < 2:
        raise ParameterError("the training cohort needs at least 2 subjects for a reference")
    with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
        sup.filter(RuntimeWarning)
        center = np.nanmean(values, axis=0)
        scale = np.nanstd(values, axis=0)
    center = np.where(np.isnan(center), 0.0, center)
    scale = np.where(np.isnan(scale) | (scale <= 1e-12 * (1 + np.abs(center))), 1.0, scale)
    Z = (values - center) / scale
    D = group_distances(Z, Z, X.columns)
    D[subjects[:, None] == subjects[None, :]] = np.inf
    loo = np.min(np.where(np.isnan(D), np.inf, D), axis=1)
    finite = np.sort(loo[np.isfinite(loo)])
    k = min(math.ceil((1 - alpha) * (finite.size + 1)), finite.size)
    return {"distance": DISTANCE, "alpha": alpha,
            "threshold": float(finite[k - 1]) if finite.size else None,
            "loo_distances": _list(loo), "columns": [str(c) for c in X.columns],
            "center": _list(center), "scale": _list(scale),
            "rows": [_list(r) for r in Z]}


def imputed_groups(row: pd.Series, columns) -> list[str]:
    """The groups of ``columns`` with no measured value in ``row``."""
    values = pd.to_numeric(row.reindex(list(columns)), errors="coerce").to_numpy(dtype=float)
    return [g for g, cols in _blocks(columns).items() if np.isnan(values[cols]).all()]


def distance_to_cohort(row: pd.Series, reference: dict) -> float:
    """The recording's distance to the nearest training recording (NaN if nothing is shared)."""
    cols = reference["columns"]
    x = pd.to_numeric(row.reindex(cols), errors="coerce").to_numpy(dtype=float)
    z = (x - _array(reference["center"])) / _array(reference["scale"])
    Z = np.array([_array(r) for r in reference["rows"]])
    d = group_distances(z[None, :], Z, cols)[0]
    return float(np.nanmin(d)) if np.isfinite(d).any() else math.nan


def assess(row: pd.Series, reference: dict | None, columns) -> dict:
    """Applicability of a model to one recording.

    Parameters
    ----------
    row : pd.Series
        The recording's features (``cdr.extract.extract_recording``).
    reference : dict or None
        :func:`fit_reference`'s dict from the model card; None for a model
        saved without one (only the imputation check then runs).
    columns : list of str
        The model's feature names.

    Returns
    -------
    dict
        ``imputed_groups``, ``n_groups``, ``distance``, ``distance_threshold``,
        ``share_of_training_closer`` (share of training recordings whose own
        leave-one-subject-out distance is below this one) and ``warnings``
        (sentences, empty when the model applies).
    """
    groups = list(_blocks(columns))
    imputed = imputed_groups(row, columns)
    warnings = []
    if groups and len(imputed) >= IMPUTED_SHARE * len(groups):
        kept = [g for g in groups if g not in imputed]
        warnings.append(
            f"{len(imputed)} of the model's {len(groups)} feature groups were not measured in "
            f"this recording ({', '.join(imputed)}) and take the training cohort's typical "
            f"values: the prediction rests on {', '.join(kept) or 'nothing measured'} only")
    out = {"imputed_groups": imputed, "n_groups": len(groups), "distance": None,
           "distance_threshold": None, "share_of_training_closer": None}
    if reference:
        d = distance_to_cohort(row, reference)
        t = reference["threshold"]
        loo = _array(reference["loo_distances"])
        loo = loo[np.isfinite(loo)]
        out.update(distance=None if math.isnan(d) else d, distance_threshold=t)
        if math.isnan(d):
            warnings.append("no feature group of the model was measured in this recording, so "
                            "it cannot be compared with the training cohort")
        else:
            closer = float(np.mean(loo < d)) if loo.size else math.nan
            out["share_of_training_closer"] = closer
            if t is not None and d > t:
                warnings.append(
                    f"this recording is unlike the training cohort: its distance to the "
                    f"nearest training recording is {d:.2f} (standardised units), beyond the "
                    f"{t:.2f} within which {100 * (1 - reference['alpha']):.0f}% of training "
                    "recordings lie from another subject's; the prediction is an extrapolation")
    out["warnings"] = warnings
    return out
