"""The classifiers, as scikit-learn estimators: a calibrated SVM and an ordinal model.

:class:`SVMClassifier` is median imputation, standard scaling and an RBF SVC
whose decision values are turned into probabilities by cross-validated Platt
(sigmoid) calibration, all inside one ``Pipeline``.  Training rows are
weighted so that every class weighs the same in the SVC and in the
calibration, so the probabilities are those of a cohort with equal class
shares.  ``predict`` is the argmax of ``predict_proba``: a printed class never
disagrees with its printed probabilities.

:class:`OrdinalClassifier` is Frank & Hall's decomposition of the ordered
classes 0 < 1 < ... < k-1 into the k-1 binary questions "is the class above
j?", each answered by an :class:`SVMClassifier`;
P(class j) = P(above j-1) - P(above j).

Both accept ``groups`` (subjects) in ``fit``: the calibration folds then keep a
subject's rows (and its ``#flip`` copies) together.

Speed: an evaluation fits these models thousands of times on ~40 subjects, where
scikit-learn's input validation costs more than the solver.  Each estimator
therefore offers ``_fold_proba(X_train, y_train, groups_train, X_test)``, the
same computation in plain numpy with one RBF kernel per training fold, shared by
the calibration folds and the final fit, and libsvm called through
scikit-learn's binding.  ``tests/test_model_estimators.py`` checks that it equals
``fit(...).predict_proba(...)``; :func:`cdr.model.evaluate.evaluate` uses it when
it is there.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV, _sigmoid_calibration
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, _libsvm
from sklearn.utils.multiclass import _ovr_decision_function

from cdr.errors import ParameterError

_libsvm.set_verbosity_wrap(0)

CALIBRATION_FOLDS = 3
"""Group-aware folds of the Platt calibration (fewer when a class has fewer subjects)."""


def calibration_folds(y: np.ndarray, groups: np.ndarray | None, n_folds: int = CALIBRATION_FOLDS,
                      random_state: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified group folds: each class's subjects dealt round-robin in a seeded order.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Class codes 0..k-1.
    groups : np.ndarray [shape=(n,)] or None
        Subject of each row (None: every row is its own subject).

    Raises
    ------
    ParameterError
        When a class has fewer than 2 subjects (it could not be calibrated).
    """
    groups = np.arange(y.size) if groups is None else np.asarray(groups)
    subjects, first, where = np.unique(groups, return_index=True, return_inverse=True)
    ys = y[first]
    counts = np.bincount(ys)
    present = counts[counts > 0]
    if present.min() < 2:
        raise ParameterError(f"a class has {present.min()} subject(s) in a training fold; "
                             "the calibration needs at least 2 per class")
    n = max(2, min(n_folds, int(present.min())))
    order = np.random.default_rng(random_state).permutation(subjects.size)
    fold = np.empty(subjects.size, int)
    offset = 0
    for c in np.flatnonzero(counts):
        members = order[ys[order] == c]
        fold[members] = (offset + np.arange(members.size)) % n
        offset += members.size
    row_fold = fold[where]
    return [(np.flatnonzero(row_fold != j), np.flatnonzero(row_fold == j)) for j in range(n)]


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Row weights n / (k * n_c): every class weighs the same (sklearn's "balanced")."""
    counts = np.bincount(y)
    present = np.count_nonzero(counts)
    return (y.size / (present * counts.astype(np.float64)))[y]


def make_pipeline(C: float, gamma: float | str, cv) -> Pipeline:
    """Impute -> scale -> Platt-calibrated RBF ``SVC`` (the plain, slow path)."""
    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("svm", CalibratedClassifierCV(SVC(kernel="rbf", C=C, gamma=gamma), method="sigmoid",
                                       ensemble=False, cv=cv)),
    ])


def _encode(y) -> tuple[np.ndarray, np.ndarray]:
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    return classes, codes


class SVMClassifier(ClassifierMixin, BaseEstimator):
    """Class-balanced, Platt-calibrated RBF SVM.

    Parameters
    ----------
    C : float
        SVC regularisation.
    gamma : float or "auto"
        RBF width on standardised features; "auto" is 1 / n_features.
    random_state : int
        Seeds the calibration folds.
    """

    def __init__(self, C: float = 1.0, gamma: float | str = "auto", random_state: int = 0):
        self.C = C
        self.gamma = gamma
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        """Fit on rows ``X [shape=(n, n_features)]`` with labels ``y``; returns self."""
        X = np.asarray(X, dtype=np.float64)
        self.classes_, codes = _encode(y)
        folds = calibration_folds(codes, groups, random_state=self.random_state)
        self.pipeline_ = make_pipeline(self.C, self.gamma, folds)
        self.pipeline_.fit(X, codes, svm__sample_weight=balanced_weights(codes))
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``[shape=(n, n_classes)]``, columns in ``classes_`` order."""
        return self.pipeline_.predict_proba(np.asarray(X, dtype=np.float64))

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    # ------------------------------------------------------------------ fast path
    def _fold_proba(self, X, y, groups, X_test) -> np.ndarray:
        """``clone(self).fit(X, y, groups).predict_proba(X_test)``, computed directly."""
        k = int(y.max()) + 1
        K, Kt = _fold_kernels(X, X_test, self.gamma)
        return platt_svm(K, y, Kt, k, self.C, calibration_folds(y, groups, random_state=self.random_state))


def _fold_kernels(X, X_test, gamma) -> tuple[np.ndarray, np.ndarray]:
    """RBF kernels of a training fold ``(n, n)`` and of its test rows against it ``(m, n)``,
    after standardising both with the fold's mean and SD."""
    Z, Zt = standardise(X, X_test)
    gamma = 1.0 / X.shape[1] if gamma == "auto" else float(gamma)
    K_all = np.exp(-gamma * sq_distances(Z, np.vstack([Z, Zt])))
    return K_all[:len(Z)], K_all[len(Z):]


class OrdinalClassifier(ClassifierMixin, BaseEstimator):
    """Frank & Hall ordinal classifier over ordered classes, with SVMs for each threshold.

    Parameters
    ----------
    C, gamma, random_state
        As :class:`SVMClassifier`, for every threshold's model.
    """

    def __init__(self, C: float = 1.0, gamma: float | str = "auto", random_state: int = 0):
        self.C = C
        self.gamma = gamma
        self.random_state = random_state

    def fit(self, X, y, groups=None):
        """Fit the k-1 threshold models "class > j"; returns self."""
        self.classes_, codes = _encode(y)
        self.estimators_ = [SVMClassifier(self.C, self.gamma, self.random_state)
                            .fit(X, (codes > j).astype(int), groups)
                            for j in range(len(self.classes_) - 1)]
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X) -> np.ndarray:
        """P(class j) = P(> j-1) - P(> j), clipped at 0 and renormalised."""
        above = np.column_stack([e.predict_proba(X)[:, 1] for e in self.estimators_])
        return _frank_hall(above)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _fold_proba(self, X, y, groups, X_test) -> np.ndarray:
        k = int(y.max()) + 1
        K, Kt = _fold_kernels(X, X_test, self.gamma)
        above = []
        for j in range(k - 1):
            yj = (y > j).astype(int)
            folds = calibration_folds(yj, groups, random_state=self.random_state)
            above.append(platt_svm(K, yj, Kt, 2, self.C, folds)[:, 1])
        return _frank_hall(np.column_stack(above))


def _frank_hall(above: np.ndarray) -> np.ndarray:
    n, m = above.shape
    cum = np.column_stack([np.ones(n), above, np.zeros(n)])
    proba = np.clip(cum[:, :-1] - cum[:, 1:], 0.0, None)
    return proba / proba.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- numpy engine
def standardise(X_train: np.ndarray, X_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Impute and scale as the Pipeline's first two steps do, in plain numpy.

    Median imputation (0 for a column with no value, as ``keep_empty_features``),
    then centring and scaling by the training standard deviation; near-constant
    columns are only centred (the test ``StandardScaler`` uses).
    """
    gaps, test_gaps = np.isnan(X_train), np.isnan(X_test)
    holed = gaps.any(axis=0)
    need = holed | test_gaps.any(axis=0)
    fill = np.zeros(X_train.shape[1])
    if need.any():
        fill[need] = nanmedian(X_train[:, need])
    A = np.where(gaps, fill, X_train) if holed.any() else X_train
    B = np.where(test_gaps, fill, X_test)
    mean, var = A.mean(axis=0), A.var(axis=0)
    eps, n = np.finfo(np.float64).eps, A.shape[0]
    constant = var <= n * eps * var + (n * mean * eps) ** 2
    scale = np.where(constant, 1.0, np.sqrt(var))
    return (A - mean) / scale, (B - mean) / scale


def nanmedian(X: np.ndarray) -> np.ndarray:
    """Column medians ignoring NaN, 0 for an all-NaN column (``np.nanmedian`` is slow here)."""
    S = np.sort(X, axis=0)
    m = (~np.isnan(X)).sum(axis=0)
    lo = np.take_along_axis(S, np.maximum((m - 1) // 2, 0)[None, :], axis=0)[0]
    hi = np.take_along_axis(S, np.maximum(m // 2, 0)[None, :] - (m == 0), axis=0)[0]
    return np.where(m > 0, (lo + hi) / 2.0, 0.0)


def sq_distances(Z: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Squared distances ``[shape=(len(rows), len(Z))]``, as libsvm's RBF computes them."""
    nz = np.einsum("ij,ij->i", Z, Z)
    nr = np.einsum("ij,ij->i", rows, rows)
    D = nr[:, None] + nz[None, :] - 2.0 * (rows @ Z.T)
    return np.maximum(D, 0.0, out=D)


def _svc_decision(K: np.ndarray, y: np.ndarray, w: np.ndarray, Kt: np.ndarray, C: float,
                  k: int) -> np.ndarray:
    """``SVC(kernel="precomputed", C).fit(K, y, sample_weight=w).decision_function(Kt)``."""
    fitted = _libsvm.fit(K, y.astype(np.float64), svm_type=0, kernel="precomputed", C=float(C),
                         class_weight=np.ones(k), sample_weight=w, random_seed=0)
    support, sv, n_sv, coef, intercept, pa, pb = fitted[:7]
    dec = _libsvm.decision_function(Kt, support, sv, n_sv, coef, intercept, pa, pb,
                                    svm_type=0, kernel="precomputed")
    if k == 2:
        return -dec.ravel()
    return _ovr_decision_function(dec < 0, -dec, k)


def platt_svm(K: np.ndarray, y: np.ndarray, Kt: np.ndarray, k: int, C: float,
              folds: list) -> np.ndarray:
    """Balanced, cross-validated Platt probabilities of an SVC on a precomputed kernel.

    What ``CalibratedClassifierCV(SVC(C), method="sigmoid", ensemble=False, cv=folds)``
    fitted with ``sample_weight=compute_sample_weight("balanced", y)`` returns.
    """
    w = balanced_weights(y)
    cols = 1 if k == 2 else k
    cv_dec = np.empty((y.size, cols))
    for tr, te in folds:
        cv_dec[te] = _svc_decision(K[np.ix_(tr, tr)], y[tr], w[tr], K[np.ix_(te, tr)], C,
                                   k).reshape(te.size, cols)
    dec = _svc_decision(K, y, w, Kt, C, k).reshape(Kt.shape[0], cols)
    proba = np.zeros((Kt.shape[0], k))
    for j in range(cols):
        target = (y == (1 if k == 2 else j)).astype(np.float64)
        a, b = _sigmoid_calibration(cv_dec[:, j], target, w)
        proba[:, 1 if k == 2 else j] = expit(-(a * dec[:, j] + b))
    if k == 2:
        proba[:, 0] = 1.0 - proba[:, 1]
    else:
        total = proba.sum(axis=1, keepdims=True)
        proba = np.divide(proba, total, out=np.full_like(proba, 1 / k), where=total != 0)
    proba[(1.0 < proba) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


ESTIMATORS = {"svm": SVMClassifier, "ordinal": OrdinalClassifier}
"""``--estimator`` name -> class."""
