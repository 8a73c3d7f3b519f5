"""Applicability warnings: imputed groups and the distance to the training cohort."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cdr.model.applicability import assess, fit_reference, group_distances


def _table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    cols = [f"pupil.f{j}" for j in range(10)] + [f"pose.f{j}" for j in range(4)] + \
        [f"mfcc.f{j}" for j in range(30)] + [f"voice.f{j}" for j in range(3)]
    return pd.DataFrame(rng.normal(size=(n, len(cols))), columns=cols,
                        index=[f"s{i:02d}" for i in range(n)])


def test_threshold_is_the_conformal_quantile_of_leave_one_subject_out_distances():
    x = pd.DataFrame({"g.v": [0.0, 1, 3, 6, 10, 10.5]},
                     index=["a", "b", "c", "d", "e", "e#flip"])
    ref = fit_reference(x, ["a", "b", "c", "d", "e", "e"])
    sd = np.std([0, 1, 3, 6, 10])  # flip rows are not part of the reference
    assert ref["loo_distances"] == pytest.approx(np.array([1, 1, 2, 3, 4]) / sd, rel=1e-4)
    # n = 5, alpha = 0.05: the ceil(0.95 * 6) = 6th smallest is beyond n, so the largest
    assert ref["threshold"] == pytest.approx(4 / sd, rel=1e-4)
    json.dumps(ref, allow_nan=False)  # fits in a model card


def test_a_subjects_other_videos_do_not_count_as_its_neighbours():
    x = pd.DataFrame({"g.v": [0.0, 0.0, 5.0, 7.0]}, index=["a1", "a2", "b", "c"])
    ref = fit_reference(x, ["a", "a", "b", "c"])
    sd = np.std([0, 0, 5, 7])
    assert ref["loo_distances"][0] == pytest.approx(5 / sd, rel=1e-4)


def test_every_group_weighs_the_same_and_unmeasured_groups_are_left_out():
    cols = ["a.x"] + [f"b.{j}" for j in range(100)]
    A = np.zeros((1, 101))
    B = np.zeros((1, 101))
    B[0, 0] = 2.0  # one column of the one-column group
    assert group_distances(A, B, cols)[0, 0] == pytest.approx(1.0)  # (2 + 0) / 2 groups
    B[0, 1:] = 2.0
    assert group_distances(A, B, cols)[0, 0] == pytest.approx(2.0)
    A[0, 0] = np.nan
    assert group_distances(A, B, cols)[0, 0] == pytest.approx(2.0)  # only b is shared


def test_a_training_like_recording_passes_and_an_unlike_one_warns():
    train = _table(seed=0)
    ref = fit_reference(train, train.index)
    new = _table(n=200, seed=1)
    flagged = [bool(assess(r, ref, train.columns)["warnings"]) for _, r in new.iterrows()]
    assert np.mean(flagged) <= 0.12  # alpha = 0.05 for exchangeable recordings
    far = assess(new.iloc[0] + 6.0, ref, train.columns)
    assert far["distance"] > far["distance_threshold"]
    assert any("unlike the training cohort" in w for w in far["warnings"])
    assert far["share_of_training_closer"] == 1.0


def test_half_of_the_groups_imputed_warns_and_names_them():
    train = _table()
    ref = fit_reference(train, train.index)
    row = train.iloc[3].copy()
    row[[c for c in row.index if c.startswith(("pupil.", "pose."))]] = np.nan
    out = assess(row, ref, train.columns)
    assert out["imputed_groups"] == ["pupil", "pose"] and out["n_groups"] == 4
    assert "2 of the model's 4 feature groups were not measured" in out["warnings"][0]
    assert "rests on mfcc, voice only" in out["warnings"][0]
    row["mfcc.f0"] = np.nan  # one of 30 columns missing: not a group
    assert assess(row, ref, train.columns)["imputed_groups"] == ["pupil", "pose"]
    one = train.iloc[3].copy()
    one[[c for c in one.index if c.startswith("pupil.")]] = np.nan
    assert assess(one, ref, train.columns)["warnings"] == []  # 1 of 4 is not half


def test_nothing_measured_cannot_be_compared():
    train = _table()
    ref = fit_reference(train, train.index)
    out = assess(pd.Series(np.nan, index=train.columns), ref, train.columns)
    assert out["distance"] is None and out["share_of_training_closer"] is None
    assert len(out["warnings"]) == 2
