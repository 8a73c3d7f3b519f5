"""The report's reader-facing sections: banner, headline, screening, importance, predictions.

Each function returns report blocks (see :mod:`cdr.report`) from plain inputs,
so it can be tested without running an evaluation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdr.model.importance import LABEL as IMPORTANCE_LABEL
from cdr.model.screening import Screening
from cdr.provenance import banner

DECISION_RULE = ("The predicted class is the class with the highest probability; in the "
                 "binary task, CDR >= 1 when its probability is at least 0.5.")


def _pct(x, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else \
        f"{100 * x:.{digits}f}%"


def banner_blocks(dataset: dict | None) -> list:
    """A SYNTHETIC DATA banner for a synthetic dataset; the note as a paragraph otherwise."""
    text = banner(dataset)
    if text:
        return [("banner", text)]
    if dataset and dataset.get("note"):
        return [("p", f"Dataset note ({dataset.get('source', 'features.parquet')}): "
                      f"{dataset['note']}")]
    return []


def headline_blocks(main: dict, ablation: pd.DataFrame | None) -> list:
    """One statement of which result is the headline, and why the ablation's may differ.

    Parameters
    ----------
    main : dict
        Task -> ``{"groups": [...], "flip": bool, "balanced_accuracy": float}``
        of the main evaluation.
    ablation : pd.DataFrame or None
        :func:`cdr.evaluate.ablation_frame`.
    """
    flip = {bool(m["flip"]) for m in main.values()}
    groups = {"+".join(m["groups"]) for m in main.values()}
    text = ("The headline result is the main evaluation: balanced accuracy "
            + ", ".join(f"{_pct(m['balanced_accuracy'])} ({task})" for task, m in main.items())
            + f", on {' / '.join(sorted(groups))}"
            + (" with the mirrored #flip copies in training." if flip == {True} else "."))
    twins = []
    if ablation is not None and len(ablation):
        for task, m in main.items():
            same = ablation[(ablation.task == task) & ablation.groups.astype(str).map(
                lambda g: sorted(g.split("+")) == sorted(m["groups"]))
                & (ablation.flip.astype(bool) != bool(m["flip"]))
                & ablation.balanced_accuracy.notna()]
            twins += [(task, r) for _, r in same.iterrows()]
    if twins:
        sets = sorted({r.set for _, r in twins})
        text += (f" The ablation's '{', '.join(sets)}' row{'s' * (len(twins) > 1)} use"
                 f"{'' if len(twins) > 1 else 's'} the same groups "
                 f"{'with' if twins[0][1].flip else 'without'} the #flip copies ("
                 + ", ".join(f"{_pct(r.balanced_accuracy)} ({t})" for t, r in twins)
                 + "): the copies add a mirrored training row per video, which changes the "
                   "fitted model and its tuning but is never tested, so the two can differ.")
    if ablation is not None and len(ablation):
        text += (" The ablation's rows are exploratory: the best of many rows, chosen after "
                 "seeing the results, overstates what that set would do on new patients.")
    return [("h2", "Headline result"), ("p", text)]


def screening_blocks(s: Screening, roc_image: str | None) -> list:
    """Sensitivity, specificity, PPV, NPV and AUC with intervals, and the ROC curve."""
    def ci(name):
        lo, hi = s.ci95[name]
        return f"{_pct(lo)} - {_pct(hi)}"

    how = ("Wilson score" if s.interval_method == "wilson"
           else f"bootstrap over subjects ({s.n_bootstrap} resamples)")
    table = pd.DataFrame({
        "measure": ["sensitivity (CDR >= 1 called >= 1)", "specificity (CDR 0.5 called 0.5)",
                    "PPV (called >= 1 that are)", "NPV (called 0.5 that are)", "ROC AUC"],
        "value": [_pct(s.sensitivity), _pct(s.specificity), _pct(s.ppv), _pct(s.npv),
                  "n/a" if np.isnan(s.auc) else f"{s.auc:.3f}"],
        "95% interval": [ci("sensitivity"), ci("specificity"), ci("ppv"), ci("npv"),
                         "n/a" if np.isnan(s.ci95["auc"][0]) else
                         f"{s.ci95['auc'][0]:.3f} - {s.ci95['auc'][1]:.3f}"],
        "counts": [f"{s.tp} of {s.tp + s.fn}", f"{s.tn} of {s.tn + s.fp}",
                   f"{s.tp} of {s.tp + s.fp}", f"{s.tn} of {s.tn + s.fn}", ""],
    })
    out = [("h3", "Screening figures (positive: CDR >= 1)"),
           ("p", f"From the out-of-fold probabilities, at the decision threshold "
                 f"p(CDR >= 1) >= {s.threshold:g}. Intervals: {how} for the four rates, "
                 f"bootstrap over subjects stratified by class ({s.n_bootstrap} resamples) for "
                 "the AUC. PPV and NPV depend on this cohort's share of CDR >= 1, which is not "
                 "a clinic's; they do not carry over to another population."),
           ("table", table)]
    if roc_image:
        out.append(("img", roc_image, "ROC curve of the binary task, out-of-fold"))
    return out


def importance_blocks(importance: dict[str, pd.DataFrame]) -> list:
    """Per task, the grouped permutation importance of the final model (descriptive)."""
    out = [("h2", "What drives the final model (descriptive)"), ("p", IMPORTANCE_LABEL)]
    for task, imp in importance.items():
        shown = pd.DataFrame({
            "group": imp.group, "columns": imp.n_features,
            "balanced accuracy drop (SD)": [f"{100 * m:.1f} ({100 * s:.1f}) points" for m, s in
                                            zip(imp.balanced_accuracy_drop,
                                                imp.balanced_accuracy_drop_sd)],
            "log-loss increase (SD)": [f"{m:.3f} ({s:.3f})" for m, s in
                                       zip(imp.log_loss_drop, imp.log_loss_drop_sd)]})
        base = imp.balanced_accuracy_baseline.iloc[0]
        out += [("h3", f"Task {task} (training balanced accuracy {_pct(base)}, unshuffled)"),
                ("table", shown)]
    return out


def predictions_blocks(predictions: pd.DataFrame) -> list:
    """Every tested video's out-of-fold class and probabilities, per task.

    ``predictions`` has the columns of ``predictions.csv``: ``video_id``,
    ``task``, ``true_class``, ``predicted_class`` and ``p_cdr_<class>``.  A row
    whose class is not the one of highest probability says why, in the row.
    """
    out = [("h2", "Out-of-fold predictions per video")]
    for task, f in predictions.groupby("task", sort=False):
        pcols = [c for c in f.columns if c.startswith("p_cdr_") and f[c].notna().any()]
        classes = [c[len("p_cdr_"):] for c in pcols]
        top = [classes[i] for i in np.argmax(f[pcols].to_numpy(), axis=1)]
        shown = pd.DataFrame({"video": f.video_id.to_numpy(), "true CDR": f.true_class.to_numpy(),
                              "predicted CDR": f.predicted_class.to_numpy()})
        for c, col in zip(classes, pcols):
            shown[f"p(CDR {c})"] = f[col].map("{:.2f}".format).to_numpy()
        differs = shown["predicted CDR"].astype(str).to_numpy() != np.array(top)
        if differs.any():
            shown["note"] = np.where(differs, "class-balanced SVM decision, not the highest "
                                              "probability (see Method)", "")
        out += [("h3", f"Task {task}"), ("table", shown)]
    rule = (DECISION_RULE if not any("note" in b[1] for b in out if b[0] == "table") else
            "The predicted class is the SVM's class-balanced decision; where that is not the "
            "class of highest probability, the row says so.")
    out.insert(1, ("p", rule + " Each video was predicted by a model that never saw its "
                               "subject."))
    return out


def held_out_sentence(predicted: str, true: str, predictions: pd.DataFrame, task: str) -> str:
    """Plain words on a held-out prediction, with how often that call is right out-of-fold."""
    f = predictions[predictions.task == task]
    called = f[f.predicted_class.astype(str) == str(predicted)]
    right = int((called.true_class.astype(str) == str(predicted)).sum())
    verdict = "right" if str(predicted) == str(true) else "wrong"
    rate = (f"in cross-validation, {right} of the {len(called)} videos predicted CDR {predicted} "
            f"were CDR {predicted} ({_pct(right / len(called), 0)})" if len(called) else
            f"cross-validation never predicted CDR {predicted}, so how often it is right is unknown")
    return (f"[{task}] predicted CDR {predicted}, true CDR {true}: the prediction is {verdict}; "
            f"{rate}.")
