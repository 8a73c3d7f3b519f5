"""Grouped permutation importance: a group the model never reads scores exactly 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from cdr.model.importance import group_importance


@pytest.fixture(scope="module")
def fitted():
    """Group ``a`` carries the class and is the only one the model reads; ``b`` is noise."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    X = pd.DataFrame(rng.normal(size=(40, 5)), columns=["a.x", "a.y", "b.x", "b.y", "b.z"],
                     index=[f"s{i}" for i in range(40)])
    X[["a.x", "a.y"]] += 2.5 * y[:, None]
    only_a = ColumnTransformer([("a", "passthrough", ["a.x", "a.y"])])
    model = make_pipeline(only_a, LogisticRegression()).fit(X, y)
    return model, X, y


def test_the_group_the_model_reads_matters_and_the_other_scores_zero(fitted):
    model, X, y = fitted
    imp = group_importance(model, X, y, n_repeats=10, seed=0).set_index("group")
    assert list(imp.index) == ["a", "b"]
    assert imp.loc["b", "balanced_accuracy_drop"] == 0 and imp.loc["b", "log_loss_drop"] == 0
    assert imp.loc["a", "balanced_accuracy_drop"] > 0.3
    assert imp.loc["a", "log_loss_drop"] > 0.3
    assert imp.loc["a", "balanced_accuracy_baseline"] > 0.9
    assert imp.n_features.to_dict() == {"a": 2, "b": 3}


def test_flip_copies_are_not_scored_and_the_seed_fixes_the_result(fitted):
    model, X, y = fitted
    flipped = X.copy()
    flipped.index = [i + "#flip" for i in X.index]
    with_flip = group_importance(model, pd.concat([X, flipped.assign(**{"a.x": 99.0})]),
                                 np.r_[y, y], n_repeats=10, seed=0)
    plain = group_importance(model, X, y, n_repeats=10, seed=0)
    pd.testing.assert_frame_equal(with_flip, plain)


def test_a_model_fitted_on_arrays_gets_arrays(fitted):
    _, X, y = fitted
    model = LogisticRegression().fit(X[["a.x", "a.y"]].to_numpy(), y)

    class OnlyA:  # reads the first two columns of an array, as an estimator fitted on numpy
        classes_ = model.classes_

        def predict(self, A):
            assert isinstance(A, np.ndarray)
            return model.predict(A[:, :2])

        def predict_proba(self, A):
            return model.predict_proba(A[:, :2])

    imp = group_importance(OnlyA(), X, y, n_repeats=5).set_index("group")
    assert imp.loc["a", "balanced_accuracy_drop"] > 0.3 and imp.loc["b", "log_loss_drop"] == 0
