"""Leave-one-subject-out evaluation: known truth on synthetic feature tables.

Chance band: for a classifier that ignores the features, the number of correct
predictions is Binomial(n, p0) with p0 = sum_c (share of class c) * (share of
predictions c).  Its central 99 % interval (scipy.stats.binom.interval) is the
band; leakage of the held-out label pushes accuracy far above it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, binomtest
from sklearn.metrics import balanced_accuracy_score
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from cdr import classify, evaluate, loso
from cdr.errors import ParameterError


def chance_band(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> tuple[float, float]:
    n = y_true.size
    p0 = float(np.bincount(y_true, minlength=k) @ np.bincount(y_pred, minlength=k)) / n**2
    lo, hi = binom.interval(0.99, n, p0)
    return lo / n, hi / n


def run(table, labels, task, groups, flip=False, seed=0):
    design = loso.build_design(table, labels, task, groups, flip, seed)
    pred, params, trains = loso.nested_predict(design, design.y, keep_rows=True)
    return design, pred, params, trains


def test_standardise_equals_the_pipeline_steps():
    rng = np.random.default_rng(0)
    X = rng.normal(3, 2, size=(30, 6))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 2] = np.nan           # never measured
    X[:, 4] = 7.0              # constant
    X[:, 5] = 1e9 + rng.normal(size=30) * 1e-7  # constant up to rounding
    Xt = rng.normal(size=(5, 6))
    Xt[0, 1] = np.nan
    steps = classify.make_model()[:-1].fit(X[:25])
    A, B = loso.standardise(X[:25], np.vstack([X[25:], Xt]))
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
        np.testing.assert_array_equal(loso._nanmedian(X), want)


def test_fast_svc_equals_sklearn_svc():
    rng = np.random.default_rng(1)
    for k in (2, 3):
        for trial in range(5):
            Z = rng.normal(size=(45, 4))
            y = rng.integers(0, k, 45)
            if trial == 4 and k == 3:
                y[y == 2] = 0           # a class absent from training
            D = ((Z[:, None] - Z[None, :40]) ** 2).sum(-1)
            for C in classify.C_GRID:
                K, Kt = np.exp(-0.3 * D[:40]), np.exp(-0.3 * D[40:])
                want = SVC(kernel="precomputed", C=C, class_weight="balanced").fit(
                    K, y[:40]).predict(Kt)
                np.testing.assert_array_equal(classify.fit_predict_svc(K, y[:40], Kt, C), want)


def test_fast_balanced_accuracy_equals_sklearn():
    rng = np.random.default_rng(2)
    for _ in range(20):
        t, p = rng.integers(0, 3, 25), rng.integers(0, 3, 25)
        t[:2] = [0, 1]
        assert classify.balanced_accuracy_fast(t, p, 3) == pytest.approx(
            balanced_accuracy_score(t, p))


def test_folds_never_mix_subjects_and_keep_class_counts_equal():
    table, labels = evaluate.make_feature_table(flip=True, seed=3)
    design = loso.build_design(table, labels, "cdr3", ("pupil", "coupling"), flip=True)
    aug = ~design.is_orig
    assert aug.sum() == 40 and np.all(design.y == design.y[design.base])
    for y in (design.y, loso.permuted_labels(design, np.random.default_rng(0))):
        ys = loso.subject_classes(design, y)
        counts = np.bincount(ys)
        for held in range(ys.size):
            subjects = loso.training_subjects(design, held, ys)
            assert held not in subjects
            np.testing.assert_array_equal(np.bincount(ys[subjects], minlength=3), counts - 1)
            train = loso._rows(design, subjects, False)
            test = loso._rows(design, np.array([held]), True)
            assert not aug[test].any() and set(design.subject[train]).isdisjoint({held})
            inner = loso.inner_splits(design, subjects, ys)
            sizes = {tuple(np.bincount(ys[tr], minlength=3)) for tr, _ in inner}
            assert len(sizes) == 1   # equal training class counts in every inner split
            for tr, te in inner:
                assert set(tr).isdisjoint(te) and set(tr) | set(te) <= set(subjects)
            assert sorted(np.concatenate([te for _, te in inner])) == sorted(subjects)


def test_permutation_moves_whole_subjects_and_flip_rows_follow():
    table, labels = evaluate.make_feature_table(flip=True, seed=4)
    design = loso.build_design(table, labels, "cdr3", ("pupil",), flip=True)
    y = loso.permuted_labels(design, np.random.default_rng(5))
    np.testing.assert_array_equal(y, y[design.base])
    np.testing.assert_array_equal(np.bincount(y), np.bincount(design.y))
    assert (y != design.y).any()


def test_nested_predictions_equal_the_pipeline_fitted_on_the_same_rows():
    table, labels = evaluate.make_feature_table(signal={"coupling": 0.8}, flip=True, seed=6)
    table.iloc[::5, 14] = np.nan
    design, pred, params, trains = run(table, labels, "cdr3", ("pupil", "coupling"), flip=True)
    for held, ((C, gamma), tr) in enumerate(zip(params, trains)):
        if held % 3:
            continue  # a third of the folds keeps the test short
        te = loso._rows(design, np.array([held]), True)
        with threadpool_limits(limits=1):
            model = classify.make_model(C, gamma, loso.calibration_splits(
                design.y[tr], design.subject[tr])).fit(design.X[tr], design.y[tr])
        got = pred[np.searchsorted(design.tested, te)]
        np.testing.assert_array_equal(classify.decide(model, design.X[te]), got)


@pytest.mark.parametrize("task", ["cdr3", "binary"])
def test_null_cohort_stays_inside_the_chance_band(task):
    """No feature carries class information: accuracy must stay at chance (leakage guard)."""
    k = len(classify.TASKS[task].classes)
    pooled_true, pooled_pred = [], []
    for seed in (11, 12, 13):
        table, labels = evaluate.make_feature_table((17, 19, 4), seed=seed)
        design, pred, _, _ = run(table, labels, task, ("pupil", "coupling", "voice"))
        truth = design.y[design.tested]
        lo, hi = chance_band(truth, pred, k)
        acc = np.mean(truth == pred)
        assert lo <= acc <= hi, (seed, acc, lo, hi)
        pooled_true.append(truth)
        pooled_pred.append(pred)
    # The three cohorts together (n = 120) narrow the band: plain LOSO, whose training
    # class counts give away the held-out label, scores ~0.71 here in the binary task.
    truth, pred = np.concatenate(pooled_true), np.concatenate(pooled_pred)
    lo, hi = chance_band(truth, pred, k)
    assert lo <= np.mean(truth == pred) <= hi
    assert classify.balanced_accuracy_fast(truth, pred, k) < 1 / k + 0.1


def test_planted_group_is_recovered_and_the_ablation_points_at_it():
    table, labels = evaluate.make_feature_table(signal={"coupling": 1.5}, flip=True, seed=21)
    specs = evaluate.ablation_specs(table, ["cdr3", "binary"], permutations=0)
    specs.append(evaluate.Spec("main", "cdr3", ("coupling",), permutations=9))
    results = evaluate.run_specs(table, labels, specs, n_jobs=1)
    frame = evaluate.ablation_frame(specs[:-1], results[:-1])
    assert "expr" not in set(frame["set"])  # no expr columns in this table
    assert len(frame) == 20 and frame["balanced_accuracy"].notna().all()
    for task, rows in frame.groupby("task"):
        with_coupling = rows["groups"].str.contains("coupling")
        assert rows.loc[rows["set"] == "coupling", "balanced_accuracy"].item() >= 0.9
        assert rows.loc[with_coupling, "balanced_accuracy"].min() > \
            rows.loc[~with_coupling, "balanced_accuracy"].max()
        singles = rows[~rows["groups"].str.contains(r"\+")]
        assert singles.sort_values("balanced_accuracy")["set"].iloc[-1] == "coupling"
        assert rows.loc[~with_coupling, "balanced_accuracy"].max() < 0.75
    main = results[-1].metrics
    assert main["balanced_accuracy"] >= 0.9
    assert main["permutation_p"] == pytest.approx(1 / 10)  # beats all 9 permutations
    assert results[-1].null[:, 0].max() < 0.7


def test_flip_rows_that_leak_the_label_leave_held_out_accuracy_at_chance():
    table, labels = evaluate.make_feature_table(flip=True, seed=31)
    y = labels["cdr"].map({0.5: 0, 1.0: 1, 2.0: 2})
    flips = table.index.str.endswith("#flip")
    rng = np.random.default_rng(0)
    table["pupil.leak"] = rng.normal(size=len(table))
    table.loc[flips, "pupil.leak"] = 3.0 * y.to_numpy() + 0.05 * rng.normal(size=flips.sum())
    design, pred, _, _ = run(table, labels, "cdr3", ("pupil", "coupling"), flip=True)
    truth = design.y[design.tested]
    lo, hi = chance_band(truth, pred, 3)
    assert pred.size == 40 and lo <= np.mean(truth == pred) <= hi
    # The guard has teeth: were the copies tested as videos of their own, they would be
    # classified from the leaked feature almost perfectly.
    renamed = table.rename(index=lambda v: v.replace("#flip", "_mirror"))
    extra = labels.rename(index=lambda v: v + "_mirror")
    extra["subject_id"] = extra.index
    d2, p2, _, _ = run(renamed, pd.concat([labels, extra]), "cdr3", ("pupil", "coupling"))
    mirrored = np.char.endswith(d2.ids[d2.tested].astype(str), "_mirror")
    assert np.mean(p2[mirrored] == d2.y[d2.tested][mirrored]) >= 0.9


def test_metrics_against_known_values():
    y = np.array([0] * 5 + [1] * 4 + [2] * 3)
    p = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 2, 2, 0])
    m = classify.compute_metrics(y, p, ("0.5", "1", "2"))
    assert m["accuracy"] == pytest.approx(9 / 12)
    assert m["balanced_accuracy"] == pytest.approx((4 / 5 + 3 / 4 + 2 / 3) / 3)
    ci = binomtest(9, 12).proportion_ci(method="wilson")
    assert m["accuracy_ci95"] == pytest.approx([ci.low, ci.high])
    assert m["accuracy_ci95"] == pytest.approx([0.4677, 0.9111], abs=1e-4)
    assert m["confusion"] == [[4, 1, 0], [1, 3, 0], [1, 0, 2]]
    assert m["recall_per_class"] == pytest.approx({"0.5": 0.8, "1": 0.75, "2": 2 / 3})
    assert m["n_per_class"] == {"0.5": 5, "1": 4, "2": 3}


def test_too_few_subjects_in_a_class_is_refused():
    table, labels = evaluate.make_feature_table((10, 10, 2), seed=1)
    with pytest.raises(ParameterError, match="class CDR 2 has 2 subject"):
        loso.build_design(table, labels, "cdr3", ("pupil",))
    loso.build_design(table, labels, "binary", ("pupil",))  # 0.5 vs >=1 is fine


@pytest.mark.slow
def test_results_do_not_depend_on_jobs_or_chunking(monkeypatch):
    table, labels = evaluate.make_feature_table(signal={"pupil": 0.5}, seed=41)
    spec = [evaluate.Spec("main", "binary", ("pupil",), permutations=6)]
    one = evaluate.run_specs(table, labels, spec, n_jobs=1)[0]
    monkeypatch.setattr(evaluate, "CHUNK", 2)
    two = evaluate.run_specs(table, labels, spec, n_jobs=2)[0]
    np.testing.assert_array_equal(one.null, two.null)
    np.testing.assert_array_equal(one.y_pred, two.y_pred)


def test_cdr_0_and_3_are_outside_the_3_class_task():
    table, labels = evaluate.make_feature_table((17, 21, 6), seed=2)
    labels.loc[labels.index[labels.cdr == 1.0][:2], "cdr"] = 0.0
    labels.loc[labels.index[labels.cdr == 2.0][:2], "cdr"] = 3.0
    cdr3 = loso.build_design(table, labels, "cdr3", ("voice",))
    binary = loso.build_design(table, labels, "binary", ("voice",))
    assert cdr3.tested.size == 40 and np.bincount(cdr3.y).tolist() == [17, 19, 4]
    assert binary.tested.size == 42 and np.bincount(binary.y).tolist() == [17, 25]
    assert set(labels.index[labels.cdr == 0.0]).isdisjoint(binary.ids)


def test_why_not_permutation_test_score_with_groups():
    """sklearn permutes *within* groups: with one video per subject nothing moves, p = 1."""
    from sklearn.model_selection import LeaveOneGroupOut, permutation_test_score
    from sklearn.neighbors import NearestCentroid

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 10)
    X = rng.normal(size=(20, 3)) + 2.0 * y[:, None]
    subjects = np.arange(20)
    with threadpool_limits(limits=1):
        score, null, p = permutation_test_score(NearestCentroid(), X, y, groups=subjects,
                                                cv=LeaveOneGroupOut(), n_permutations=5,
                                                random_state=0)
    assert np.all(null == score) and p == 1.0
