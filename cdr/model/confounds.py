"""Do recording conditions alone predict the class?  Checked on every cdr-train run.

Two checks, both on the ``qc.`` columns present in the table (read generically:
duration, fps, resolution, face ratio, audio level, speech ratio, number of
speakers... whatever cdr-extract wrote):

1. each column is tested for association with the class: Kruskal-Wallis on the
   subjects' values (one value per subject, the mean of its videos), with the
   Benjamini-Hochberg correction over every column and task;
2. a model trained on the ``qc.`` columns only is evaluated like the main one;
   its balanced accuracy and permutation p say whether the conditions, taken
   together, predict the class.

Whatever is associated (corrected p <= 0.05), or a qc-only model with a
permutation p <= 0.05, is a confound: listed in metrics.json and named at the top
of the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, kruskal

from cdr.labels import FLIP_SUFFIX
from cdr.model.tasks import QC_GROUP, Task, feature_columns

ALPHA = 0.05


def qc_columns(table: pd.DataFrame) -> list[str]:
    """``qc.`` columns with at least two distinct values among the original videos."""
    originals = table.loc[~table.index.astype(str).str.endswith(FLIP_SUFFIX)]
    return [c for c in feature_columns(table, [QC_GROUP])
            if originals[c].dropna().nunique() > 1]


def association_tests(table: pd.DataFrame, labels: pd.DataFrame, tasks: list[Task]
                      ) -> pd.DataFrame:
    """One row per (qc column, task): Kruskal-Wallis H, p, and the BH-corrected p."""
    rows = []
    ids = [i for i in table.index.astype(str) if not i.endswith(FLIP_SUFFIX)]
    for task in tasks:
        lab = labels.loc[labels.index.intersection(ids)]
        lab = lab[lab["cdr"].isin(list(task.cdr_to_class))]
        cls = lab["cdr"].map(task.cdr_to_class)
        for col in qc_columns(table):
            per_subject = pd.DataFrame({"v": table.loc[lab.index, col].to_numpy(dtype=float),
                                        "c": cls.to_numpy(), "s": lab["subject_id"].to_numpy()}
                                       ).groupby("s").agg(v=("v", "mean"), c=("c", "first"))
            samples = [g["v"].dropna().to_numpy() for _, g in per_subject.groupby("c")]
            samples = [s for s in samples if s.size]
            if len(samples) < 2 or np.unique(np.concatenate(samples)).size < 2:
                continue
            h, p = kruskal(*samples)
            rows.append({"column": col, "task": task.name, "test": "kruskal-wallis",
                         "statistic": float(h), "p": float(p)})
    frame = pd.DataFrame(rows, columns=["column", "task", "test", "statistic", "p"])
    frame["p_corrected"] = (false_discovery_control(frame["p"].to_numpy(), method="bh")
                            if len(frame) else [])
    return frame


def confound_list(tests: pd.DataFrame, qc_results: dict) -> list[dict]:
    """The confounds for metrics.json: associated columns, then qc-only models above chance.

    Parameters
    ----------
    tests : pd.DataFrame
        From :func:`association_tests`.
    qc_results : dict
        Task -> :class:`cdr.model.evaluate.EvaluationResult` of the qc-only model.
    """
    out = [dict(r) for r in tests[tests["p_corrected"] <= ALPHA].to_dict("records")]
    for task, r in qc_results.items():
        p = r.metrics.get("permutation_p")
        if p is not None and p <= ALPHA:
            out.append({"column": "qc-only model (" + ", ".join(r.columns) + ")", "task": task,
                        "test": "permutation", "statistic": r.metrics["balanced_accuracy"],
                        "p": p, "p_corrected": p})
    return out


def plain_words(confounds: list[dict]) -> str:
    """One paragraph for the top of the report."""
    if not confounds:
        return ("Recording conditions: no quality or recording value (qc. columns) is "
                "associated with the class, and a model given only those values does not "
                "predict the class better than chance in this cohort.")
    names = sorted({c["column"] for c in confounds})
    return ("WARNING - recording conditions predict the class: " + "; ".join(names) + ". "
            "The classes differ in how they were recorded, so any result below may reflect the "
            "recordings rather than the patients. Record every class under the same conditions, "
            "or check that the result holds within one recording condition.")
