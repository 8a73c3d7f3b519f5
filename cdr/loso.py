"""Nested, class-balanced leave-one-subject-out evaluation (the fast engine).

Outer loop: each subject is held out in turn (all its original videos are
tested).  Its training fold leaves out, besides the held-out subject, one
random subject of every other class, so that every fold trains on the same
class counts (see :func:`training_subjects` for why).  Inner loop: C and gamma
are chosen by stratified group folds over the training subjects, again with
equal training class counts, scored by the balanced accuracy of the pooled
inner predictions.  Augmented rows (``<id>#flip``) belong to their subject:
they train only folds that exclude it and are never tested, in either loop.

Speed: the permutation test reruns all of this hundreds of times, so the
model's preprocessing is done in numpy (:func:`standardise`, identical to the
Pipeline's imputer and scaler), RBF kernels are computed once per split and
shared by every C, and the SVC is fitted through
scikit-learn's libsvm binding (checked against ``SVC`` at first use, with a
fallback to it).  The tests check that the predictions equal those of
:func:`cdr.classify.make_model` fitted on the same rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from cdr.classify import (C_GRID, GAMMA_SCALES, Task, balanced_accuracy_fast, feature_columns,
                          fit_predict_svc, get_task, make_model, present_groups)
from cdr.errors import ParameterError
from cdr.labels import FLIP_SUFFIX, base_id

INNER_SPLITS = 3
"""Folds of the inner, group-aware cross-validation that tunes C and gamma."""


# --------------------------------------------------------------------------- design
@dataclass
class Design:
    """The rows, labels and subjects of one evaluation, and its outer folds.

    Attributes
    ----------
    ids : np.ndarray [shape=(n_rows,)]
        Row ids; augmented rows follow the originals.
    X : np.ndarray [shape=(n_rows, n_features)]
        Feature values (NaN where not measured).
    y : np.ndarray [shape=(n_rows,)]
        Class codes; an augmented row has its original's code.
    subject : np.ndarray [shape=(n_rows,)]
        Subject code of each row, an index into ``subject_names``.
    subject_names : np.ndarray [shape=(n_subjects,)]
        The labels file's ``subject_id`` of each code.
    base : np.ndarray [shape=(n_rows,)]
        Index of each row's original row (itself for originals).
    first_row : np.ndarray [shape=(n_subjects,)]
        Each subject's first original row; its class is the subject's class
        when training folds are balanced.
    tested : np.ndarray [shape=(n_tested,)]
        Indices of the original rows, in the order predictions are returned.
    orders : np.ndarray [shape=(n_subjects, n_subjects)]
        Row f: a seeded random order of all subjects, used by outer fold f
        (held-out subject f) to pick which subjects to leave out of training.
    """

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    subject: np.ndarray
    subject_names: np.ndarray
    base: np.ndarray
    first_row: np.ndarray
    tested: np.ndarray
    orders: np.ndarray
    columns: list[str]
    task: Task
    gammas: tuple[float, ...]
    seed: int = 0
    subject_consistent: bool = True
    is_orig: np.ndarray = field(default_factory=lambda: np.empty(0, bool))


def select_rows(table: pd.DataFrame, labels: pd.DataFrame, task: Task, flip: bool):
    """Return ``(ids, codes, subjects, is_aug)`` for the rows a task uses.

    Originals need a label inside the task; augmented rows are kept when
    ``flip`` is true and their original is kept.
    """
    ids, codes, subjects, aug = [], [], [], []
    cdr = labels["cdr"].to_dict()
    subj = labels["subject_id"].to_dict()
    present = set(map(str, table.index))
    for vid in map(str, table.index):
        is_aug = vid.endswith(FLIP_SUFFIX)
        b = base_id(vid)
        if (is_aug and (not flip or b not in present)) or cdr.get(b) not in task.cdr_to_class:
            continue
        ids.append(vid)
        codes.append(task.cdr_to_class[cdr[b]])
        subjects.append(subj[b])
        aug.append(is_aug)
    order = np.argsort(np.asarray(aug, bool), kind="stable")
    return (np.asarray(ids, dtype=object)[order], np.asarray(codes, int)[order],
            np.asarray(subjects, dtype=object)[order], np.asarray(aug, bool)[order])


def build_design(table: pd.DataFrame, labels: pd.DataFrame, task: str | Task,
                 groups: tuple[str, ...] | list[str], flip: bool = False,
                 seed: int = 0) -> Design:
    """Select rows and columns, and fix the outer folds' random orders.

    Raises
    ------
    ParameterError
        When the groups have no columns, or a class has fewer than 3 subjects
        (a balanced LOSO training fold then keeps fewer than 2 of them).
    """
    task = get_task(task) if isinstance(task, str) else task
    columns = feature_columns(table, groups)
    if not columns:
        raise ParameterError(f"groups={','.join(groups)} have no columns in the feature table; "
                             f"present groups: {', '.join(present_groups(table))}")
    ids, y, subjects, aug = select_rows(table, labels, task, flip)
    try:
        X = table.loc[ids, columns].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"feature columns must be numeric ({exc})") from None
    names, subject = np.unique(subjects.astype(str), return_inverse=True)
    for code, name in enumerate(task.classes):
        n = np.unique(subject[(y == code) & ~aug]).size
        if n < 3:
            raise ParameterError(
                f"task {task.name}: class CDR {name} has {n} subject(s); leave-one-subject-out "
                "needs at least 3 per class ("
                + ("add subjects)" if task.name == "binary" else "use --task binary, or add subjects)"))
    tested = np.flatnonzero(~aug)
    first_row = np.full(names.size, -1)
    for r in tested[::-1]:
        first_row[subject[r]] = r
    consistent = bool((pd.Series(y[tested]).groupby(subject[tested]).nunique() == 1).all())
    position = {v: i for i, v in enumerate(ids)}
    rng = np.random.default_rng([seed, 7])
    return Design(ids=ids.astype(str), X=X, y=y, subject=subject, subject_names=names,
                  base=np.array([position[base_id(v)] for v in ids]), first_row=first_row,
                  tested=tested, orders=np.array([rng.permutation(names.size)
                                                  for _ in range(names.size)]),
                  columns=columns, task=task, gammas=tuple(g / len(columns) for g in GAMMA_SCALES),
                  seed=seed, subject_consistent=consistent, is_orig=~aug)


# --------------------------------------------------------------------------- balanced folds
def _keep_per_class(order: np.ndarray, label: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The first ``target[c]`` subjects of each class ``c`` in ``order``."""
    keep = np.zeros(order.size, bool)
    for c, t in enumerate(target):
        keep[np.flatnonzero(label[order] == c)[:max(int(t), 0)]] = True
    return order[keep]


def training_subjects(design: Design, held: int, ys: np.ndarray) -> np.ndarray:
    """Subjects that train the outer fold holding out subject ``held``.

    LOSO alone would leave the held-out subject's class one short in every
    training fold, so the training class counts would reveal the held-out
    label, and ``class_weight="balanced"`` turns that into predictions: on
    pure-noise features it scored a balanced accuracy of ~0.7 in the binary
    task.  One random subject of every other class is therefore left out too,
    so every fold trains on ``N_c - 1`` subjects of each class ``c``.

    Parameters
    ----------
    held : int
        Subject code held out.
    ys : np.ndarray [shape=(n_subjects,)]
        Class code of each subject.
    """
    order = design.orders[held]
    order = order[order != held]
    target = np.bincount(ys, minlength=len(design.task.classes)) - 1
    return _keep_per_class(order, ys, target)


def inner_splits(design: Design, subjects: np.ndarray, ys: np.ndarray
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified group folds over ``subjects``, with equal training class counts.

    Each class's subjects are dealt round-robin (in ``subjects``' random order)
    into ``INNER_SPLITS`` folds; each inner training set then keeps, per class,
    as many subjects as the smallest of them has, for the reason given in
    :func:`training_subjects`.

    Returns
    -------
    list of (train_subjects, test_subjects)
    """
    k = len(design.task.classes)
    n = INNER_SPLITS
    fold = np.empty(subjects.size, int)
    offset = 0
    for c in range(k):
        members = np.flatnonzero(ys[subjects] == c)
        fold[members] = (offset + np.arange(members.size)) % n
        offset += members.size
    counts = np.array([np.bincount(ys[subjects[fold == j]], minlength=k) for j in range(n)])
    target = np.bincount(ys[subjects], minlength=k) - counts.max(axis=0)
    return [(_keep_per_class(subjects[fold != j], ys, target), subjects[fold == j])
            for j in range(n)]


def _rows(design: Design, subjects: np.ndarray, originals_only: bool) -> np.ndarray:
    mask = np.zeros(design.subject_names.size, bool)
    mask[subjects] = True
    hit = mask[design.subject]
    return np.flatnonzero(hit & design.is_orig if originals_only else hit)


def subject_classes(design: Design, y: np.ndarray) -> np.ndarray:
    """Class code of each subject (its first original row's) under row labels ``y``."""
    return y[design.first_row]


# --------------------------------------------------------------------------- fast engine
def standardise(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Impute and scale as ``make_model()[:-1]`` does, in plain numpy (no per-call validation).

    Median imputation (0 for a column with no value, as ``keep_empty_features``),
    then centring and scaling by the training standard deviation; near-constant
    columns are only centred (the test used by ``StandardScaler``).

    Parameters
    ----------
    X_train : np.ndarray [shape=(n_train, n_features)]
    X_test : np.ndarray [shape=(n_test, n_features)]
    """
    gaps, test_gaps = np.isnan(X_train), np.isnan(X_test)
    holed = gaps.any(axis=0)
    need = holed | test_gaps.any(axis=0)  # a median is only needed where something is missing
    fill = np.zeros(X_train.shape[1])
    if need.any():
        fill[need] = _nanmedian(X_train[:, need])
    A = np.where(gaps, fill, X_train) if holed.any() else X_train
    B = np.where(test_gaps, fill, X_test)
    mean, var = A.mean(axis=0), A.var(axis=0)
    eps, n = np.finfo(np.float64).eps, A.shape[0]
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    return (A - mean) / scale, (B - mean) / scale


def sq_distances(design: Design, train: np.ndarray, test: np.ndarray):
    """Squared distances (train x train, test x train) after the train rows' scaling.

    Computed as |a|^2 + |b|^2 - 2 a.b, the arithmetic libsvm's own RBF kernel uses.
    """
    Z, Zt = standardise(design.X[train], design.X[test])
    both = np.vstack([Z, Zt])
    norms = np.einsum("ij,ij->i", both, both)
    D = norms[:, None] + norms[None, :Z.shape[0]] - 2.0 * (both @ Z.T)
    np.maximum(D, 0.0, out=D)
    return D[:Z.shape[0]], D[Z.shape[0]:]


def _nanmedian(X: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN, 0 for an all-NaN column (as ``keep_empty_features``).

    ``np.nanmedian`` goes through masked arrays on small inputs and costs ~0.3 ms
    here; sorting puts NaN last, so the median sits in the first ``m`` rows.
    """
    S = np.sort(X, axis=0)
    m = (~np.isnan(X)).sum(axis=0)
    lo = np.take_along_axis(S, np.maximum((m - 1) // 2, 0)[None, :], axis=0)[0]
    hi = np.take_along_axis(S, np.maximum(m // 2, 0)[None, :] - (m == 0), axis=0)[0]
    return np.where(m > 0, (lo + hi) / 2.0, 0.0)


def _kernels(design: Design, train: np.ndarray, test: np.ndarray):
    """RBF kernels (train x train, test x train), one pair per gamma."""
    D, Dt = sq_distances(design, train, test)
    return [(np.exp(-g * D), np.exp(-g * Dt)) for g in design.gammas]

def grid(design: Design) -> list[tuple[float, int]]:
    """The inner grid as ``(C, gamma index)`` pairs, in tie-break order."""
    return [(C, gi) for gi in range(len(design.gammas)) for C in C_GRID]


def tune(design: Design, subjects: np.ndarray, ys: np.ndarray, y: np.ndarray
         ) -> tuple[float, int]:
    """Choose ``(C, gamma index)`` by the pooled balanced accuracy of the inner folds.

    Parameters
    ----------
    subjects : np.ndarray
        The training subjects of the outer fold.
    ys, y : np.ndarray
        Class codes per subject and per design row.
    """
    inner = []
    for tr_s, te_s in inner_splits(design, subjects, ys):
        tr, te = _rows(design, tr_s, False), _rows(design, te_s, True)
        inner.append((tr, te, _kernels(design, tr, te)))
    truth = y[np.concatenate([te for _, te, _ in inner])]
    best, best_score = None, -1.0
    for C, gi in grid(design):
        got = np.concatenate([fit_predict_svc(ks[gi][0], y[tr], ks[gi][1], C)
                              for tr, _, ks in inner])
        score = balanced_accuracy_fast(truth, got, len(design.task.classes))
        if score > best_score + 1e-12:
            best, best_score = (C, gi), score
    return best


def nested_predict(design: Design, y: np.ndarray, keep_rows: bool = False):
    """Run the nested, class-balanced leave-one-subject-out for row labels ``y``.

    Returns
    -------
    pred : np.ndarray [shape=(n_tested,)]
        Out-of-fold class codes for ``design.tested``.
    params : list of (C, gamma)
        The inner loop's choice for each outer fold (= held-out subject code).
    trains : list of np.ndarray
        Training rows of each outer fold (only with ``keep_rows``).
    """
    ys = subject_classes(design, y)
    where = np.empty(len(design.ids), int)
    where[design.tested] = np.arange(design.tested.size)
    pred = np.empty(design.tested.size, dtype=int)
    params, trains = [], []
    for held in range(design.subject_names.size):
        subjects = training_subjects(design, held, ys)
        C, gi = tune(design, subjects, ys, y)
        train = _rows(design, subjects, False)
        test = _rows(design, np.array([held]), True)
        D, Dt = sq_distances(design, train, test)
        g = design.gammas[gi]
        pred[where[test]] = fit_predict_svc(np.exp(-g * D), y[train], np.exp(-g * Dt), C)
        params.append((C, g))
        if keep_rows:
            trains.append(train)
    return pred, params, trains


def permuted_labels(design: Design, rng: np.random.Generator) -> np.ndarray:
    """Shuffle labels between subjects; augmented rows follow their original.

    When every subject has one label, whole subjects exchange labels: subjects,
    not videos, are what LOSO treats as exchangeable.  Otherwise the original
    rows are shuffled.  ``permutation_test_score(groups=...)`` is not used: it
    permutes labels *within* each group, which with one video per subject
    leaves every label in place (p = 1).

    Returns
    -------
    np.ndarray [shape=(n_rows,)]
        Class codes for every design row.
    """
    if design.subject_consistent:
        ys = subject_classes(design, design.y)
        return ys[rng.permutation(ys.size)][design.subject]
    y = design.y.copy()
    orig = design.tested
    y[orig] = design.y[orig][rng.permutation(orig.size)]
    return y[design.base]


def calibration_splits(y: np.ndarray, subject: np.ndarray, seed: int = 0) -> list:
    """Group-aware, stratified splits for the Platt calibration of one training set."""
    per_class = min(np.unique(subject[y == c]).size for c in np.unique(y))
    n = max(2, min(3, per_class))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return list(StratifiedGroupKFold(n, shuffle=True, random_state=seed)
                    .split(y, y, groups=subject))


def fold_probabilities(design: Design, params: list, trains: list) -> np.ndarray:
    """Calibrated out-of-fold probabilities ``[shape=(n_tested, n_classes)]``, real labels."""
    proba = np.full((design.tested.size, len(design.task.classes)), np.nan)
    where = np.empty(len(design.ids), int)
    where[design.tested] = np.arange(design.tested.size)
    with threadpool_limits(limits=1):  # BLAS threads only slow these tiny fits down
        for held, ((C, gamma), tr) in enumerate(zip(params, trains)):
            te = _rows(design, np.array([held]), True)
            cv = calibration_splits(design.y[tr], design.subject[tr], design.seed)
            model = make_model(C, gamma, cv).fit(design.X[tr], design.y[tr])
            proba[np.ix_(where[te], model[-1].classes_)] = model.predict_proba(design.X[te])
    return proba


def fit_final(design: Design) -> tuple[Pipeline, tuple[float, float]]:
    """Tune C and gamma on every subject (balanced group CV) and fit the model on all rows."""
    ys = subject_classes(design, design.y)
    C, gi = tune(design, np.arange(ys.size), ys, design.y)
    gamma = design.gammas[gi]
    model = make_model(C, gamma, calibration_splits(design.y, design.subject, design.seed))
    with threadpool_limits(limits=1):
        model.fit(pd.DataFrame(design.X, columns=design.columns), design.y)
    return model, (C, gamma)


