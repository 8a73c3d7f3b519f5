"""What a screening study reports for the binary task (CDR 0.5 vs >= 1).

From out-of-fold probabilities: sensitivity, specificity, PPV and NPV at the
decision threshold, each with a 95 % interval, and the ROC curve with its AUC
and a 95 % interval.  The positive class is CDR >= 1 (the one a screen looks for).

Intervals
---------
* Sensitivity, specificity, PPV, NPV: Wilson score intervals on the counts
  when every subject has one tested recording; when a subject has several,
  their errors are not independent, and the interval is the percentile
  bootstrap over subjects instead (``interval_method`` says which).
* AUC: always the percentile bootstrap over subjects, stratified by class
  (subjects are resampled within each class, so every replicate has both),
  as pROC does.

PPV and NPV depend on the share of positives in this cohort, which is not the
share in a clinic; they do not carry over to another population.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binomtest, mannwhitneyu
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from cdr.errors import ParameterError

N_BOOTSTRAP = 1000
"""Bootstrap replicates for the AUC interval (and the others, with several videos per subject)."""
RATES = ("sensitivity", "specificity", "ppv", "npv")


@dataclass
class Screening:
    """Screening figures of one binary classifier on one cohort.

    Attributes
    ----------
    threshold : float
        A recording is called positive when its probability is >= this.
    tp, fp, tn, fn : int
        Counts of recordings at the threshold.
    sensitivity, specificity, ppv, npv : float
        NaN when undefined (no positive, say).
    ci95 : dict
        Name (the four above and ``auc``) -> ``[low, high]``.
    interval_method : str
        ``"wilson"`` or ``"bootstrap over subjects"`` (for the four rates).
    auc : float
        Area under the ROC curve (NaN with a single class).
    roc : pd.DataFrame
        Columns ``fpr``, ``tpr``, ``threshold`` (:func:`sklearn.metrics.roc_curve`).
    """

    threshold: float
    tp: int
    fp: int
    tn: int
    fn: int
    sensitivity: float
    specificity: float
    ppv: float
    npv: float
    auc: float
    ci95: dict
    interval_method: str
    n_subjects: int
    n_bootstrap: int
    roc: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-ready figures (NaN as None), without the ROC curve's points."""
        def clean(v):
            return None if isinstance(v, float) and np.isnan(v) else v
        out = {k: clean(getattr(self, k)) for k in
               ("threshold", "tp", "fp", "tn", "fn", *RATES, "auc", "interval_method",
                "n_subjects", "n_bootstrap")}
        out["ci95"] = {k: [clean(float(a)) for a in v] for k, v in self.ci95.items()}
        return out


def _rates(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    tn, fp, fn, tp = confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()
    frac = (lambda a, b: a / (a + b) if a + b else np.nan)
    return {"tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
            "sensitivity": frac(tp, fn), "specificity": frac(tn, fp),
            "ppv": frac(tp, fp), "npv": frac(tn, fn)}


def _wilson(k: int, n: int) -> list[float]:
    if n == 0:
        return [np.nan, np.nan]
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return [float(ci.low), float(ci.high)]


def _bootstrap(y_true, p, y_pred, subjects, n_boot: int, seed: int) -> dict[str, np.ndarray]:
    """Replicates of the AUC and the four rates, resampling subjects within each class.

    With one recording per subject the AUC replicates are computed together, as
    the Mann-Whitney U of positives over negatives divided by ``n1 * n0``
    (equal to :func:`~sklearn.metrics.roc_auc_score`), and the rates are not
    needed (their intervals are Wilson's).
    """
    codes, subj = np.unique(subjects, return_inverse=True)
    rng = np.random.default_rng(seed)
    reps = {k: np.full(n_boot, np.nan) for k in ("auc", *RATES)}
    if codes.size == y_true.size:
        pos, neg = p[y_true == 1], p[y_true == 0]
        if pos.size and neg.size:
            P = pos[rng.integers(0, pos.size, (n_boot, pos.size))]
            N = neg[rng.integers(0, neg.size, (n_boot, neg.size))]
            reps["auc"] = mannwhitneyu(P, N, axis=1).statistic / (pos.size * neg.size)
        return reps
    rows_of = [np.flatnonzero(subj == s) for s in range(codes.size)]
    subj_class = np.array([y_true[r[0]] for r in rows_of])
    by_class = [np.flatnonzero(subj_class == c) for c in (0, 1)]
    for b in range(n_boot):
        picked = np.concatenate([rng.choice(s, s.size) for s in by_class if s.size])
        rows = np.concatenate([rows_of[s] for s in picked])
        yt = y_true[rows]
        if np.unique(yt).size == 2:
            reps["auc"][b] = roc_auc_score(yt, p[rows])
        r = _rates(yt, y_pred[rows])
        for k in RATES:
            reps[k][b] = r[k]
    return reps


def _percentile(values: np.ndarray) -> list[float]:
    v = values[~np.isnan(values)]
    return [float(q) for q in np.quantile(v, [0.025, 0.975])] if v.size else [np.nan, np.nan]


def screening(y_true, p_positive, subjects=None, *, threshold: float = 0.5,
              n_bootstrap: int = N_BOOTSTRAP, seed: int = 0) -> Screening:
    """Screening figures from out-of-fold probabilities of the positive class.

    Parameters
    ----------
    y_true : array-like [shape=(n,)]
        1 for positive (CDR >= 1), 0 for negative (CDR 0.5).
    p_positive : array-like [shape=(n,)]
        Out-of-fold probability of the positive class, in [0, 1].
    subjects : array-like [shape=(n,)], optional
        Subject of each recording (default: one subject per recording).
    threshold : float
        Decision threshold: positive when ``p_positive >= threshold``.  For a
        two-class model whose decision is the argmax of its probabilities, 0.5.
    n_bootstrap : int
        Bootstrap replicates over subjects.
    seed : int
        Seeds the bootstrap.

    Raises
    ------
    ParameterError
        Lengths differ, labels are not 0/1, probabilities outside [0, 1], or a
        subject carries both labels.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(p_positive, dtype=float)
    subj = np.asarray(np.arange(y.size) if subjects is None else subjects).astype(str)
    if not (y.shape == p.shape == subj.shape) or y.ndim != 1 or y.size == 0:
        raise ParameterError(f"y_true, p_positive and subjects must be 1-d of one length; got "
                             f"{y.shape}, {p.shape}, {subj.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ParameterError(f"y_true holds {sorted(set(y.tolist()) - {0, 1})}; pass 1 for "
                             "CDR >= 1 and 0 for CDR 0.5")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ParameterError("p_positive must be probabilities in [0, 1], without NaN")
    mixed = pd.Series(y).groupby(subj).nunique()
    if (mixed > 1).any():
        raise ParameterError(f"subject {mixed.index[mixed > 1][0]} has recordings of both "
                             "classes; a subject has one CDR")
    y_pred = (p >= threshold).astype(int)
    r = _rates(y, y_pred)
    two = np.unique(y).size == 2
    auc = float(roc_auc_score(y, p)) if two else np.nan
    fpr, tpr, thr = roc_curve(y, p) if two else (np.array([]),) * 3
    n_subjects = int(np.unique(subj).size)
    one_each = n_subjects == y.size
    reps = _bootstrap(y, p, y_pred, subj, n_bootstrap, seed)
    ci = {"auc": _percentile(reps["auc"])}
    if one_each:
        method = "wilson"
        ci.update(sensitivity=_wilson(r["tp"], r["tp"] + r["fn"]),
                  specificity=_wilson(r["tn"], r["tn"] + r["fp"]),
                  ppv=_wilson(r["tp"], r["tp"] + r["fp"]),
                  npv=_wilson(r["tn"], r["tn"] + r["fn"]))
    else:
        method = "bootstrap over subjects"
        ci.update({k: _percentile(reps[k]) for k in RATES})
    return Screening(threshold=float(threshold), **r, auc=auc, ci95=ci,
                     interval_method=method, n_subjects=n_subjects, n_bootstrap=n_bootstrap,
                     roc=pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thr}))
