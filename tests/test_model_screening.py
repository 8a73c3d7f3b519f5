"""Screening figures of the binary task, against hand-counted truth."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cdr.errors import ParameterError
from cdr.model.screening import screening


def test_counts_rates_and_auc_match_a_hand_count():
    y = np.array([1, 1, 1, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.3, 0.7])
    s = screening(y, p, n_bootstrap=50)
    assert (s.tp, s.fn, s.tn, s.fp) == (2, 1, 1, 1)
    assert s.sensitivity == pytest.approx(2 / 3) and s.specificity == pytest.approx(1 / 2)
    assert s.ppv == pytest.approx(2 / 3) and s.npv == pytest.approx(1 / 2)
    assert s.auc == pytest.approx(4 / 6)  # 4 of the 6 positive-negative pairs are ordered
    assert s.interval_method == "wilson"
    assert list(s.roc.columns) == ["fpr", "tpr", "threshold"]
    assert s.roc.tpr.iloc[-1] == 1 and s.roc.fpr.iloc[-1] == 1


def test_perfect_separation_gives_the_wilson_bound_and_auc_one():
    y = np.r_[np.ones(20), np.zeros(20)]
    p = np.r_[np.linspace(0.6, 1, 20), np.linspace(0, 0.4, 20)]
    s = screening(y, p, n_bootstrap=200)
    assert s.sensitivity == 1 and s.specificity == 1 and s.auc == 1
    # Wilson's lower bound for 20/20 is n / (n + z^2) with z = 1.96
    assert s.ci95["sensitivity"][0] == pytest.approx(20 / (20 + 1.959964 ** 2), abs=1e-4)
    assert s.ci95["auc"] == [1.0, 1.0]


def test_the_threshold_decides_and_intervals_hold_the_estimates():
    rng = np.random.default_rng(3)
    y = np.r_[np.ones(23), np.zeros(17)].astype(int)
    p = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, y.size), 0, 1)
    s = screening(y, p, threshold=0.7, n_bootstrap=300)
    assert s.tp == int(np.sum((p >= 0.7) & (y == 1)))
    assert s.auc == pytest.approx(roc_auc_score(y, p))
    for k in ("sensitivity", "specificity", "ppv", "npv", "auc"):
        lo, hi = s.ci95[k]
        assert 0 <= lo <= getattr(s, k) <= hi <= 1


def test_several_videos_per_subject_use_the_subject_bootstrap():
    rng = np.random.default_rng(4)
    y = np.r_[np.ones(20), np.zeros(20)].astype(int)
    p = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.25, y.size), 0, 1)
    one = screening(y, p, n_bootstrap=1000)
    subjects = np.r_[np.arange(40), np.arange(40)]
    two = screening(np.r_[y, y], np.r_[p, p], subjects, n_bootstrap=1000)
    assert two.interval_method == "bootstrap over subjects" and two.n_subjects == 40
    assert two.auc == pytest.approx(one.auc) and two.sensitivity == pytest.approx(one.sensitivity)
    # the same subjects resampled: the two AUC intervals agree (duplicates add nothing)
    assert np.allclose(two.ci95["auc"], one.ci95["auc"], atol=0.05)
    # and the duplicated videos do not narrow the interval of the rates below Wilson's on 40
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(two.ci95["sensitivity"]) > 0.7 * width(one.ci95["sensitivity"])


@pytest.mark.parametrize("y, p, subjects, words", [
    ([0, 1, 2], [0.1, 0.2, 0.3], None, "y_true holds [2]"),
    ([0, 1], [0.1, 1.2], None, "probabilities in [0, 1]"),
    ([0, 1], [0.1], None, "one length"),
    ([0, 1], [0.1, 0.9], ["a", "a"], "subject a has recordings of both classes"),
])
def test_bad_inputs_are_refused_with_the_reason(y, p, subjects, words):
    with pytest.raises(ParameterError, match=words.replace("[", r"\[").replace("]", r"\]")):
        screening(y, p, subjects)
