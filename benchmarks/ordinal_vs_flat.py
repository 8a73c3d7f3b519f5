"""Ordinal (Frank & Hall) vs flat 3-class SVM on synthetic 40-subject cohorts (17/19/4).

Three kinds of effect in the ``coupling`` group (8 columns; pupil and voice are noise):

- monotone: every column shifts by ``d`` SDs per CDR step (0, 1, 2 steps), the order
  an ordinal model assumes;
- unordered: random class means (``d`` times a standard normal per class and column),
  which an ordinal model has no reason to fit better.

For each, five cohorts (seeds 0-4) are evaluated by rebalanced leave-one-subject-out
with 5 draws; the table gives the mean over cohorts of balanced accuracy, macro-F1
and the mean absolute error in CDR steps of the consensus prediction (0.5 -> 2 counts 2).

    .venv/bin/python benchmarks/ordinal_vs_flat.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tables import make_feature_table  # noqa: E402

from cdr.model.estimators import OrdinalClassifier, SVMClassifier  # noqa: E402
from cdr.model.evaluate import evaluate  # noqa: E402
from cdr.model.split import RebalancedLeaveOneSubjectOut  # noqa: E402
from cdr.model.tasks import make_dataset  # noqa: E402

CONDITIONS = {"monotone d=1.0": {"monotone": {"coupling": 1.0}},
              "monotone d=0.6": {"monotone": {"coupling": 0.6}},
              "monotone d=0.3": {"monotone": {"coupling": 0.3}},
              "unordered d=0.8": {"signal": {"coupling": 0.8}}}


def main() -> int:
    print("| effect | estimator | balanced accuracy | macro-F1 | MAE (CDR steps) | "
          "ordinal better in |")
    print("|---|---|---:|---:|---:|---:|")
    for name, kw in CONDITIONS.items():
        scores = {"svm": [], "ordinal": []}
        for seed in range(5):
            table, labels = make_feature_table((17, 19, 4), seed=seed, **kw)
            d = make_dataset(table, labels, "cdr3", ("pupil", "coupling", "voice"))
            for est, model in (("svm", SVMClassifier()), ("ordinal", OrdinalClassifier())):
                r = evaluate(model, d, RebalancedLeaveOneSubjectOut(5, seed), n_jobs=2)
                m = r.metrics
                scores[est].append((m["balanced_accuracy"], m["macro_f1"],
                                    np.abs(r.y_true - r.y_pred).mean()))
        s, o = np.array(scores["svm"]), np.array(scores["ordinal"])
        wins = int(np.sum(o[:, 0] > s[:, 0]))
        for est, a in (("flat SVM", s), ("ordinal", o)):
            print(f"| {name} | {est} | {a[:, 0].mean():.3f} | {a[:, 1].mean():.3f} | "
                  f"{a[:, 2].mean():.3f} | {f'{wins}/5 cohorts' if est == 'ordinal' else ''} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
