"""The estimators: the fast path equals the plain scikit-learn Pipeline; predict is argmax."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from cdr.model import estimators as est
from cdr.model.estimators import OrdinalClassifier, SVMClassifier


def _cohort(k: int, seed: int, n_subjects: int = 30, flip: bool = True):
    rng = np.random.default_rng(seed)
    ys = np.repeat(np.arange(k), n_subjects // k)
    X = rng.normal(size=(ys.size, 12)) + 0.8 * ys[:, None] * (np.arange(12) < 3)
    X[rng.random(X.shape) < 0.08] = np.nan
    X[:, 5] = np.nan        # never measured
    X[:, 6] = 4.0           # constant
    groups = np.arange(ys.size)
    if flip:  # a mirrored copy per subject, in its subject
        X = np.vstack([X, X + 0.05 * rng.normal(size=X.shape)])
        ys, groups = np.r_[ys, ys], np.r_[groups, groups]
    return X, ys, groups, rng.normal(size=(6, 12))


def test_standardise_equals_the_pipeline_steps():
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, size=(30, 6))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 2] = np.nan
    X[:, 4] = 7.0
    X[:, 5] = 1e9 + rng.normal(size=30) * 1e-7
    Xt = rng.normal(size=(5, 6))
    Xt[0, 1] = np.nan
    steps = est.make_pipeline(1.0, "auto", 3)[:-1].fit(X[:25])
    A, B = est.standardise(X[:25], np.vstack([X[25:], Xt]))
    np.testing.assert_allclose(A, steps.transform(X[:25]), atol=1e-9)
    np.testing.assert_allclose(B, steps.transform(np.vstack([X[25:], Xt])), atol=1e-9)


def test_nanmedian_equals_numpy():
    rng = np.random.default_rng(7)
    for n in (1, 2, 5, 8):
        X = rng.normal(size=(n, 12))
        X[rng.random(X.shape) < 0.4] = np.nan
        X[:, 0] = np.nan
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            want = np.nan_to_num(np.nanmedian(X, axis=0), nan=0.0)
        np.testing.assert_array_equal(est.nanmedian(X), want)


def test_balanced_weights_equal_sklearn():
    from sklearn.utils.class_weight import compute_sample_weight

    y = np.array([0, 0, 0, 1, 2, 2, 1, 0])
    np.testing.assert_allclose(est.balanced_weights(y), compute_sample_weight("balanced", y))


@pytest.mark.parametrize("k", [2, 3])
def test_svc_decision_equals_sklearn_svc(k):
    rng = np.random.default_rng(k)
    Z = rng.normal(size=(45, 4))
    y = rng.integers(0, k, 45)
    w = est.balanced_weights(y[:40])
    D = ((Z[:, None] - Z[None, :40]) ** 2).sum(-1)
    K, Kt = np.exp(-0.3 * D[:40]), np.exp(-0.3 * D[40:])
    want = SVC(kernel="precomputed", C=1.0).fit(K, y[:40], sample_weight=w).decision_function(Kt)
    np.testing.assert_allclose(est._svc_decision(K, y[:40], w, Kt, 1.0, k), want, atol=1e-9)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("cls", [SVMClassifier, OrdinalClassifier])
def test_fast_path_equals_fit_predict_proba(cls, k):
    """The evaluation's direct computation is the estimator: same probabilities, same class.

    Kernels differ from libsvm's own RBF in the last bits; Platt's sigmoid fit (L-BFGS,
    gtol 1e-6) turns that into differences of up to ~3e-5 in the probabilities.
    """
    for seed in range(3):
        X, y, groups, Xt = _cohort(k, seed)
        model = cls(random_state=seed)
        with threadpool_limits(limits=1):
            want = clone(model).fit(X, y, groups=groups).predict_proba(Xt)
        got = model._fold_proba(X, y, groups, Xt)
        np.testing.assert_allclose(got, want, atol=2e-4)
        np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))


def test_svm_is_the_plain_calibrated_pipeline():
    """SVMClassifier = impute, scale, CalibratedClassifierCV(SVC) with balanced weights."""
    X, y, groups, Xt = _cohort(3, 5)
    folds = est.calibration_folds(y, groups)
    plain = est.make_pipeline(1.0, "auto", folds).fit(
        X, y, svm__sample_weight=est.balanced_weights(y))
    assert isinstance(plain[-1], CalibratedClassifierCV)
    model = SVMClassifier().fit(X, y, groups=groups)
    np.testing.assert_allclose(model.predict_proba(Xt), plain.predict_proba(Xt))


@pytest.mark.parametrize("cls", [SVMClassifier, OrdinalClassifier])
def test_predict_is_the_argmax_of_predict_proba(cls):
    X, y, groups, Xt = _cohort(3, 1)
    model = cls().fit(X, np.array(["0.5", "1", "2"])[y], groups=groups)
    proba = model.predict_proba(np.vstack([X, Xt]))
    np.testing.assert_array_equal(model.predict(np.vstack([X, Xt])),
                                  model.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_calibration_folds_keep_subjects_together_and_every_class_in_training():
    y = np.repeat([0, 1, 2], [10, 12, 4])
    groups = np.arange(y.size) // 2  # two rows per subject
    y = y[groups * 2 % y.size]
    folds = est.calibration_folds(y, groups, random_state=3)
    assert len(folds) == 2  # class 2 has 2 subjects
    for tr, te in folds:
        assert set(groups[tr]).isdisjoint(groups[te])
        assert set(y[tr]) == {0, 1, 2}
    with pytest.raises(Exception, match="at least 2 per class"):
        est.calibration_folds(np.array([0, 0, 1]), None)


def test_ordinal_probabilities_follow_frank_and_hall():
    above = np.array([[0.9, 0.2], [0.3, 0.4], [0.1, 0.05]])
    p = est._frank_hall(above)
    np.testing.assert_allclose(p[0], [0.1, 0.7, 0.2])
    np.testing.assert_allclose(p[1], np.array([0.7, 0.0, 0.4]) / 1.1)  # clipped, renormalised
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
