"""Evaluate any estimator with any subject-wise splitter: out-of-fold probabilities, metrics, p.

:func:`evaluate` is the one entry point for one estimator on one feature set;
:func:`evaluate_many` runs several (an ablation) in one pool of processes, with
the same label permutations for all, so their p-values can be corrected together
(:func:`familywise`).

The statistic is the balanced accuracy of the class predicted for each video
(the argmax of its out-of-fold probabilities), averaged over the splitter's
repeats.  The permutation test permutes labels between subjects
(:func:`cdr.model.split.permute_subject_labels`) and recomputes that same mean
statistic, whole procedure included (the rebalancing depends on the labels);
``p = (1 + #{null >= observed}) / (1 + N)``.  Permutation ``i`` uses the same
random stream whatever the chunking or the number of processes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone
from threadpoolctl import threadpool_limits

from cdr.model.metrics import confusion_scores, summarise
from cdr.model.split import permute_subject_labels
from cdr.parallel import quiet_worker_restarts

CHUNK = 5
"""Permutations per parallel work unit."""


@dataclass
class EvaluationResult:
    """Outcome of one evaluation.

    Attributes
    ----------
    ids, subjects : np.ndarray [shape=(n,)]
        Tested videos (originals only) and their subject ids.
    y_true : np.ndarray [shape=(n,)]
        Class codes.
    proba : np.ndarray [shape=(n, k)]
        Out-of-fold probabilities averaged over the splitter's repeats (the hook
        for screening metrics, ROC curves and calibration).
    proba_draws : np.ndarray [shape=(R, n, k)]
        The same, per repeat.
    pred_draws : np.ndarray [shape=(R, n)]
        Predicted class codes per repeat (argmax of ``proba_draws``).
    y_pred : np.ndarray [shape=(n,)]
        Consensus class: argmax of ``proba``.
    null : np.ndarray [shape=(N,)]
        The statistic under each label permutation.
    metrics : dict
        :func:`cdr.model.metrics.summarise` plus ``permutation_p`` and ``permutations``.
    """

    name: str
    task: str
    classes: tuple[str, ...]
    ids: np.ndarray
    subjects: np.ndarray
    y_true: np.ndarray
    proba: np.ndarray
    proba_draws: np.ndarray
    pred_draws: np.ndarray
    y_pred: np.ndarray
    null: np.ndarray
    metrics: dict
    columns: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def mean_balanced_accuracy(y_true: np.ndarray, pred_draws: np.ndarray, k: int) -> float:
    """Balanced accuracy of each repeat's predictions, averaged over repeats."""
    cell = y_true[None, :] * k + pred_draws
    C = np.stack([np.bincount(c, minlength=k * k) for c in cell]).reshape(-1, k, k)
    return float(confusion_scores(C)[0].mean())


def oof_proba(estimator, X, y, groups, augmented, cv) -> np.ndarray:
    """Out-of-fold probabilities ``[shape=(R, n_tested, k)]`` of every repeat of ``cv``.

    Uses the estimator's ``_fold_proba`` (a direct computation of
    ``fit(...).predict_proba(...)``) when it has one.
    """
    k = int(y.max()) + 1
    tested = np.flatnonzero(~augmented)
    where = np.full(y.size, -1)
    where[tested] = np.arange(tested.size)
    R = cv.n_repeats
    out = np.full((R, tested.size, k), np.nan)
    fast = getattr(estimator, "_fold_proba", None)
    for r, _, train, test in cv.folds(X, y, groups, augmented):
        if fast is not None:
            p = fast(X[train], y[train], groups[train], X[test])
        else:
            model = clone(estimator).fit(X[train], y[train], groups=groups[train])
            p = np.zeros((test.size, k))
            p[:, model.classes_] = model.predict_proba(X[test])
        out[r, where[test]] = p
    return out


def _unit(i: int, estimator, X, y, groups, augmented, cv, lo: int, hi: int, real: bool,
          seed: int) -> dict:
    with threadpool_limits(limits=1):
        t0 = time.process_time()
        out = {"row": i, "lo": lo}
        k = int(y.max()) + 1
        tested = ~augmented
        if real:
            out["proba_draws"] = oof_proba(estimator, X, y, groups, augmented, cv)
        t1 = time.process_time()
        null = np.empty(hi - lo)
        for j, index in enumerate(range(lo, hi)):
            yp = permute_subject_labels(y, groups, augmented, index, seed)
            draws = oof_proba(estimator, X, yp, groups, augmented, cv).argmax(axis=2)
            null[j] = mean_balanced_accuracy(yp[tested], draws, k)
        out["null"] = null
        out["seconds"] = {"real": t1 - t0, "permutations": time.process_time() - t1}
        return out


@dataclass
class Job:
    """One evaluation for :func:`evaluate_many`: an estimator on a :class:`Dataset`."""

    name: str
    estimator: object
    data: object  # cdr.model.tasks.Dataset
    n_permutations: int = 0


def evaluate_many(jobs: list[Job], cv, *, random_state: int = 0, n_jobs: int = 1,
                  progress: bool | None = False) -> list[EvaluationResult]:
    """Evaluate every job; the permutations of jobs on the same subjects are shared.

    ``progress``: a bar on stderr counting whole evaluations (each job's real one and
    each permutation, every one over all folds and draws), with tqdm's time estimate;
    None shows it on a terminal only.
    """
    units = []
    for i, job in enumerate(jobs):
        bounds = list(range(0, job.n_permutations, CHUNK)) or [0]
        for c, lo in enumerate(bounds):
            units.append((i, lo, min(lo + CHUNK, job.n_permutations), c == 0))
    units.sort(key=lambda u: -((u[2] - u[1]) + (2 if u[3] else 0)))
    from tqdm.auto import tqdm

    total = sum(hi - lo + real for _, lo, hi, real in units)
    folds = max((int(np.unique(j.data.groups).size) for j in jobs), default=0)
    outs = []
    with quiet_worker_restarts(), tqdm(
            total=total, unit="eval",
            desc=f"evaluations (~{folds} folds x {getattr(cv, 'n_repeats', 1)} draws)",
            disable=None if progress is None else not progress) as bar:
        for o in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(_unit)(i, jobs[i].estimator, jobs[i].data.X, jobs[i].data.y,
                               jobs[i].data.groups, jobs[i].data.augmented, cv, lo, hi, real,
                               random_state) for i, lo, hi, real in units):
            outs.append(o)
            bar.update(len(o["null"]) + ("proba_draws" in o))
    return [_combine(job, [o for o in outs if o["row"] == i], random_state)
            for i, job in enumerate(jobs)]


def _combine(job: Job, outs: list[dict], seed: int) -> EvaluationResult:
    d = job.data
    outs.sort(key=lambda o: o["lo"])
    proba_draws = next(o["proba_draws"] for o in outs if "proba_draws" in o)
    null = np.concatenate([o["null"] for o in outs])
    tested = d.tested
    y_true = d.y[tested]
    pred_draws = proba_draws.argmax(axis=2)
    proba = proba_draws.mean(axis=0)
    subjects = d.subjects[d.groups[tested]]
    metrics = summarise(y_true, pred_draws, proba, d.groups[tested], d.task.classes, seed)
    observed = mean_balanced_accuracy(y_true, pred_draws, len(d.task.classes))
    metrics["permutation_p"] = (float((1 + np.sum(null >= observed - 1e-12)) / (1 + null.size))
                                if null.size else None)
    metrics.update(permutations=int(null.size), permutation_statistic="mean balanced accuracy",
                   n_features=len(d.columns), n_augmented_rows=int(d.augmented.sum()))
    seconds = {k: float(sum(o["seconds"][k] for o in outs)) for k in ("real", "permutations")}
    return EvaluationResult(name=job.name, task=d.task.name, classes=d.task.classes,
                            ids=d.ids[tested], subjects=subjects, y_true=y_true, proba=proba,
                            proba_draws=proba_draws, pred_draws=pred_draws,
                            y_pred=proba.argmax(axis=1), null=null, metrics=metrics,
                            columns=list(d.columns), seconds=seconds)


def evaluate(estimator, data, cv, *, n_permutations: int = 0, random_state: int = 0,
             n_jobs: int = 1) -> EvaluationResult:
    """Evaluate ``estimator`` on a :class:`cdr.model.tasks.Dataset` with splitter ``cv``.

    Parameters
    ----------
    estimator
        A classifier with ``fit(X, y, groups=...)`` and ``predict_proba``.
    cv : RebalancedLeaveOneSubjectOut
        Or any splitter with ``n_repeats`` and ``folds(X, y, groups, augmented)``.
    n_permutations : int
        Label permutations between subjects for the p-value (0: none).
    """
    return evaluate_many([Job("main", estimator, data, n_permutations)], cv,
                         random_state=random_state, n_jobs=n_jobs)[0]


def familywise(results: list[EvaluationResult]) -> list[float | None]:
    """Max-statistic (family-wise) corrected p of each result, within its task.

    Every row of a task is compared with the distribution of the best row's
    statistic under the same permutations (Westfall & Young's single-step
    max-T), over the permutations all rows of that task share.
    """
    out: list[float | None] = [None] * len(results)
    for task in {r.task for r in results}:
        idx = [i for i, r in enumerate(results) if r.task == task and r.null.size]
        if not idx:
            continue
        n = min(results[i].null.size for i in idx)
        top = np.max(np.stack([results[i].null[:n] for i in idx]), axis=0)
        for i in idx:
            obs = results[i].metrics["balanced_accuracy"]
            out[i] = float((1 + np.sum(top >= obs - 1e-12)) / (1 + n))
    return out
