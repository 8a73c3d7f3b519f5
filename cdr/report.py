"""Write the evaluation report: report.md, report.html and confusion_<task>.png.

The report is built once as a list of blocks (headings, paragraphs, tables,
images) and rendered twice, to Markdown and to HTML, so the two never differ.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import ConfusionMatrixDisplay

from cdr.labels import FLIP_SUFFIX
from cdr.model.confounds import plain_words
from cdr.model.tasks import QC_GROUP, feature_columns, present_groups
from cdr import report_sections as sections
from cdr.outdir import atomic_write

Block = tuple  # ("h1"|"h2"|"h3"|"p"|"banner", text) | ("table", DataFrame) | ("img", file, alt)

METHOD = (
    "Leave-one-subject-out, rebalanced: each subject's videos are predicted by a model that "
    "never saw that subject. Each training fold also leaves out one random subject of every "
    "other class, so that all folds train on the same class counts (otherwise the counts "
    "would give away the held-out subject's class; Austin, Pe'er & Korem, Sci Adv 2025). "
    "Which subjects are left out is random, so the whole scheme is repeated with independent "
    "draws, and every figure below is the mean over the draws, with its spread (SD and "
    "range): a result that held for one draw only would show a wide spread. The model is "
    "median imputation, standard scaling and a classifier (an RBF SVM, or with --estimator "
    "ordinal Frank & Hall's ordinal model built from such SVMs, which uses the order "
    "CDR 0.5 < 1 < 2); its probabilities are Platt-calibrated by cross-validation within "
    "the training fold, with every class weighted equally, so they are the probabilities "
    "for a cohort with equal class shares, and the predicted class is the most probable "
    "one. Mirrored copies (#flip) only train folds that exclude their subject and are never "
    "tested. Intervals: Wilson for accuracy; for balanced accuracy and macro-F1, a "
    "bootstrap over subjects (2000 resamples). The permutation p-value shuffles the labels "
    "between subjects and reruns everything, the repeated draws included; p = (1 + number "
    "of shuffles whose mean balanced accuracy reaches the observed one) / (1 + number of "
    "shuffles). The confusion matrix and predictions.csv show each video's consensus: the "
    "class with the highest probability averaged over the draws.")


def reliability_png(y_true: np.ndarray, proba: np.ndarray, classes: list[str],
                    path: str | Path, title: str) -> Path:
    """Reliability diagram: mean predicted probability vs observed share, per class."""
    fig = Figure(figsize=(4.2, 3.6), dpi=120)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfectly calibrated")
    shown = [1] if len(classes) == 2 else range(len(classes))
    for c in shown:
        frac, mean = calibration_curve(y_true == c, proba[:, c], n_bins=5, strategy="quantile")
        ax.plot(mean, frac, marker="o", label=f"CDR {classes[c]}")
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed share")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write(Path(path), lambda p: fig.savefig(p, format="png"))
    return Path(path)


def confusion_png(confusion: list[list[int]], classes: list[str], path: str | Path,
                  title: str) -> Path:
    """Draw a confusion matrix (rows: true CDR, columns: predicted) to a PNG file."""
    fig = Figure(figsize=(3.2 + 0.5 * len(classes), 3.0 + 0.4 * len(classes)), dpi=120)
    ax = fig.add_subplot()
    ConfusionMatrixDisplay(np.asarray(confusion), display_labels=[f"CDR {c}" for c in classes]
                           ).plot(ax=ax, cmap="Blues", colorbar=False, values_format="d")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    atomic_write(Path(path), lambda p: fig.savefig(p, format="png"))
    return Path(path)


def roc_png(roc: pd.DataFrame, auc: float, path: str | Path, title: str) -> Path:
    """Draw an ROC curve (``fpr``, ``tpr`` columns) with the chance diagonal to a PNG file."""
    fig = Figure(figsize=(3.6, 3.4), dpi=120)
    ax = fig.add_subplot()
    ax.plot(roc["fpr"], roc["tpr"], drawstyle="steps-post", label=f"AUC {auc:.2f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title(title, fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    atomic_write(Path(path), lambda p: fig.savefig(p, format="png"))
    return Path(path)


def missing_by_group(table: pd.DataFrame) -> pd.DataFrame:
    """Share of NaN columns per original video and feature group (qc included).

    Returns
    -------
    pd.DataFrame [shape=(n_videos, n_groups)]
        Values in [0, 1]; 1 where the group is entirely missing.
    """
    rows = table.loc[[i for i in table.index if not str(i).endswith(FLIP_SUFFIX)]]
    groups = list(present_groups(table)) + ([QC_GROUP] if any(
        c.startswith(QC_GROUP + ".") for c in table.columns) else [])
    return pd.DataFrame({g: rows[feature_columns(rows, [g])].isna().mean(axis=1)
                         for g in groups})


def _pct(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{100 * x:.{digits}f}%"


def _p(p: float | None, n: int) -> str:
    return "not run" if p is None else f"{p:.3f} ({n} permutations)"


def _ci(ci, pct=True) -> str:
    f = _pct if pct else (lambda v: f"{v:.3f}")
    return f"{f(ci[0])} - {f(ci[1])}"


def support_statement(task: str, m: dict) -> str:
    """Plain words on what this task's numbers can and cannot support at this n."""
    n = m["n"]
    counts = m["n_per_class"]
    small = min(counts, key=counts.get)
    lo, hi = m["balanced_accuracy_ci95"]
    parts = [
        f"With {n} videos the 95% interval on balanced accuracy runs from {_pct(lo, 0)} to "
        f"{_pct(hi, 0)}: any value in that range is consistent with these data.",
        f"The smallest class, CDR {small}, has {counts[small]} videos, so one video more or "
        f"less classified correctly moves its recall by {_pct(1 / max(counts[small], 1), 0)}.",
    ]
    p = m.get("permutation_p")
    if p is None:
        parts.append("No permutation test was run, so nothing can be said about chance.")
    elif p <= 0.05:
        parts.append(f"The permutation test (p = {p:.3f}) supports that, in this cohort, the "
                     "features carry information about CDR beyond chance.")
    else:
        parts.append(f"The permutation test (p = {p:.3f}) does not show performance above "
                     "chance in this cohort.")
    parts.append(
        "These numbers cannot support a clinical accuracy, performance in another cohort, "
        "site, camera, language or interviewer, or per-class claims for classes with few "
        "videos.")
    return " ".join(parts)


def _summary(m: dict) -> pd.DataFrame:
    sd = lambda k: f" (SD {_pct(m[k + '_sd'])} over {m['repeats']} draws)"  # noqa: E731
    return pd.DataFrame({
        "metric": ["n (videos tested)", "balanced accuracy (95% bootstrap CI)",
                   "accuracy (95% Wilson CI)", "macro-F1 (95% bootstrap CI)",
                   "range of balanced accuracy over the draws",
                   "permutation p (mean balanced accuracy)",
                   "Brier score (0 best; always guessing equal shares: "
                   f"{1 - 1 / len(m['classes']):.2f})",
                   "feature columns", "augmented training rows"],
        "value": [str(m["n"]),
                  f"{_pct(m['balanced_accuracy'])} ({_ci(m['balanced_accuracy_ci95'])})"
                  + sd("balanced_accuracy"),
                  f"{_pct(m['accuracy'])} ({_ci(m['accuracy_ci95'])})" + sd("accuracy"),
                  f"{m['macro_f1']:.3f} ({_ci(m['macro_f1_ci95'], False)})",
                  _ci(m["balanced_accuracy_range"]),
                  _p(m["permutation_p"], m["permutations"]), f"{m['brier']:.3f}",
                  str(m["n_features"]), str(m["n_augmented_rows"])]})


def build_blocks(results: dict, table: pd.DataFrame, labels: pd.DataFrame,
                 ablation: pd.DataFrame | None, settings: dict, images: dict,
                 confounds: list | None = None, qc_results: dict | None = None,
                 extras: dict | None = None) -> list[Block]:
    """Assemble the report's blocks.

    Parameters
    ----------
    results : dict
        Task -> :class:`cdr.model.evaluate.EvaluationResult` of the main evaluation.
    ablation : pd.DataFrame or None
        :func:`cdr.model.ablation.ablation_frame`.
    settings : dict
        Run settings shown verbatim.
    images : dict
        Task -> {"confusion": PNG name, "reliability": PNG name}.
    confounds : list of dict
        metrics.json's ``confounds``.
    qc_results : dict
        Task -> EvaluationResult of the qc-only model.
    extras : dict, optional
        ``dataset`` (:mod:`cdr.provenance` note), ``main`` (task -> ``groups``,
        ``flip``, ``balanced_accuracy`` for the headline), ``screening`` (task ->
        :class:`cdr.model.screening.Screening`), ``importance`` (task ->
        :func:`cdr.model.importance.group_importance`), ``predictions`` (the rows
        of predictions.csv); each section is left out without its entry.
    """
    extras = extras or {}
    blocks: list[Block] = [("h1", "cdr-train report")]
    blocks += sections.banner_blocks(extras.get("dataset"))
    blocks.append(("p", plain_words(confounds or [])))
    if qc_results:
        blocks.append(("p", "A model given only the quality and recording values scored: " +
                       "; ".join(f"{t} balanced accuracy {_pct(r.metrics['balanced_accuracy'])}"
                                 f" (p = {r.metrics['permutation_p']:.3f})"
                                 for t, r in qc_results.items()) + "."))
    if extras.get("main"):
        blocks += sections.headline_blocks(extras["main"], ablation)
    blocks.append(("table", pd.DataFrame({"setting": list(settings),
                                          "value": [str(v) for v in settings.values()]})))
    blocks.append(("h2", "Method"))
    blocks.append(("p", METHOD))
    for task, r in results.items():
        m = r.metrics
        blocks.append(("h2", f"Task {task}: " + " / ".join(f"CDR {c}" for c in m["classes"])))
        blocks.append(("table", _summary(m)))
        if task in extras.get("screening", {}):
            blocks += sections.screening_blocks(extras["screening"][task],
                                                images[task].get("roc"))
        blocks.append(("h3", "Per class (consensus predictions)"))
        blocks.append(("table", pd.DataFrame({
            "class": [f"CDR {c}" for c in m["classes"]],
            "n": [m["n_per_class"][c] for c in m["classes"]],
            "recall": [_pct(m["recall_per_class"][c]) for c in m["classes"]]})))
        blocks.append(("h3", "Confusion matrix (rows: true, columns: predicted)"))
        blocks.append(("img", images[task]["confusion"], f"confusion matrix, task {task}"))
        blocks.append(("table", pd.DataFrame(m["confusion"],
                                             index=[f"true CDR {c}" for c in m["classes"]],
                                             columns=[f"pred CDR {c}" for c in m["classes"]]
                                             ).reset_index(names="")))
        blocks.append(("h3", "Calibration: do the probabilities mean what they say?"))
        blocks.append(("p", f"Brier score {m['brier']:.3f} (the mean squared distance between "
                            "the predicted probabilities and what happened; 0 is perfect). In "
                            "the diagram, a well-calibrated model's points lie on the diagonal: "
                            "of the videos given a probability near 70%, about 70% belong to "
                            "the class. With few videos per point, the points scatter."))
        blocks.append(("img", images[task]["reliability"], f"reliability diagram, task {task}"))
        blocks.append(("h3", "What these numbers can and cannot support"))
        blocks.append(("p", support_statement(task, m)))
    if ablation is not None:
        blocks.extend(_ablation_blocks(ablation))
    if extras.get("importance"):
        blocks += sections.importance_blocks(extras["importance"])
    blocks.extend(_data_blocks(table, labels))
    if extras.get("predictions") is not None:
        blocks += sections.predictions_blocks(extras["predictions"])
    return blocks


def _ablation_blocks(ablation: pd.DataFrame) -> list[Block]:
    out: list[Block] = [("h2", "Ablation: feature-group sets")]
    out.append(("p", "Each row is a full evaluation on the named groups. All rows use the "
                     "same label permutations: 'p' is the row's own, 'p (family-wise)' is "
                     "corrected for having tried every row of the task (the row's score "
                     "compared with the best score of all rows under each permutation). "
                     "Only the family-wise p guards against picking a lucky row."))
    ran = ablation[ablation["balanced_accuracy"].notna()]
    for task, rows in ran.groupby("task"):
        best = rows.sort_values("balanced_accuracy").iloc[-1]
        out.append(("p", f"Task {task}: the best row, '{best['set']}' (balanced accuracy "
                         f"{_pct(best['balanced_accuracy'])}), is exploratory: it was chosen "
                         "after seeing the results, and its score overstates what the same "
                         "choice would reach on new subjects."))
    fmt = lambda v: "" if pd.isna(v) else f"{v:.3f}"  # noqa: E731
    shown = ablation.assign(
        balanced_accuracy=[("n/a" if pd.isna(a) else f"{_pct(a)} ({_pct(lo, 0)}-{_pct(hi, 0)})")
                           for a, lo, hi in zip(ablation.balanced_accuracy,
                                                ablation.balanced_accuracy_ci_low,
                                                ablation.balanced_accuracy_ci_high)],
        n_features=ablation.n_features.map(lambda v: "" if pd.isna(v) else f"{v:.0f}"),
        accuracy=ablation.accuracy.map(_pct), macro_f1=ablation.macro_f1.map(fmt),
        permutation_p=ablation.permutation_p.map(fmt),
        permutation_p_fwe=ablation.permutation_p_fwe.map(fmt))
    out.append(("table", shown[["task", "set", "groups", "flip", "n_features",
                                "balanced_accuracy", "accuracy", "macro_f1", "permutation_p",
                                "permutation_p_fwe", "permutations", "note"]].rename(
        columns={"permutation_p": "p", "permutation_p_fwe": "p (family-wise)"})))
    return out


def _data_blocks(table: pd.DataFrame, labels: pd.DataFrame) -> list[Block]:
    out: list[Block] = [("h2", "Data")]
    counts = labels["cdr"].value_counts().sort_index()
    out.append(("table", pd.DataFrame({"CDR": [f"{v:g}" for v in counts.index],
                                       "videos": counts.to_numpy(),
                                       "subjects": [labels.loc[labels.cdr == v, "subject_id"]
                                                    .nunique() for v in counts.index]})))
    outside = labels.index[~labels["cdr"].isin([0.5, 1.0, 2.0])]
    if len(outside):
        out.append(("p", f"Outside the 3-class task (CDR 0 or 3): {', '.join(outside)}. "
                         "CDR 3 counts as >=1 in the binary task; CDR 0 is in neither."))
    miss = missing_by_group(table)
    out.append(("h3", "Feature groups missing or NaN per video"))
    share = pd.DataFrame({"group": miss.columns,
                          "videos entirely missing": (miss == 1).sum().to_numpy(),
                          "videos partly missing": ((miss > 0) & (miss < 1)).sum().to_numpy()})
    out.append(("table", share))
    bad = miss[(miss > 0).any(axis=1)]
    if len(bad):
        out.append(("p", "Share of NaN columns, for videos with any (missing values are "
                         "imputed with the training median inside each fold):"))
        out.append(("table", bad.map(lambda v: "" if v == 0 else _pct(v, 0))
                    .reset_index(names="video_id")))
    else:
        out.append(("p", "No video has a missing value in any group."))
    return out


def _md_table(df: pd.DataFrame) -> str:
    cells = [[str(c) for c in df.columns]] + [[str(v).replace("|", "\\|") for v in row]
                                              for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(r) + " |" for r in cells]
    lines.insert(1, "|" + "---|" * len(df.columns))
    return "\n".join(lines)


def render_markdown(blocks: list[Block]) -> str:
    """Render blocks as GitHub-flavoured Markdown."""
    out = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + rest[0])
        elif kind == "p":
            out.append(rest[0])
        elif kind == "banner":
            out.append(f"> **{rest[0]}**")
        elif kind == "table":
            out.append(_md_table(rest[0]))
        elif kind == "img":
            out.append(f"![{rest[1]}]({rest[0]})")
    return "\n\n".join(out) + "\n"


def render_html(blocks: list[Block]) -> str:
    """Render blocks as a standalone HTML page (images referenced beside it)."""
    body = []
    for kind, *rest in blocks:
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(rest[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{html.escape(rest[0])}</p>")
        elif kind == "banner":
            body.append(f'<div class="banner" role="note">{html.escape(rest[0])}</div>')
        elif kind == "table":
            table = rest[0].to_html(index=False, na_rep="", border=0)
            # long group lists and snake_case headers may wrap after "+" and "_", not mid-word
            body.append('<div class="table">' + table.replace("+", "+<wbr>").replace(
                "_", "_<wbr>") + "</div>")
        elif kind == "img":
            body.append(f'<img src="{html.escape(rest[0])}" alt="{html.escape(rest[1])}">')
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cdr-train report"
            f"</title><style>{STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


STYLE = (
    # Tables fit the text column at 1280 px and on A4: long cells wrap, none runs off the page.
    "body{font-family:sans-serif;max-width:72em;margin:1.5em auto;padding:0 1em}"
    ".table{max-width:100%}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.85em;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:.2em .4em;text-align:left;vertical-align:top;"
    "overflow-wrap:break-word}"
    ".banner{background:#b00020;color:#fff;font-weight:bold;padding:.6em 1em;margin:.5em 0 1em;"
    "font-size:1.1em}"
    "img{max-width:100%}"
    "@media print{body{max-width:none;margin:0;font-size:10pt}table{font-size:8pt}"
    "h2{break-after:avoid}tr,img{break-inside:avoid}"
    ".banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}}")


def write_report(out_dir: str | Path, results: dict, table: pd.DataFrame,
                 labels: pd.DataFrame, ablation: pd.DataFrame | None = None,
                 settings: dict | None = None, confounds: list | None = None,
                 qc_results: dict | None = None, extras: dict | None = None) -> dict[str, Path]:
    """Write report.md, report.html, confusion_<task>.png and reliability_<task>.png.

    With ``extras`` (see :func:`build_blocks`) also roc_<task>.png for the screening figures.

    Returns
    -------
    dict
        Name -> path of every file written.
    """
    out_dir = Path(out_dir)
    written, images = {}, {}
    for task, r in results.items():
        names = {"confusion": f"confusion_{task}.png", "reliability": f"reliability_{task}.png"}
        written[names["confusion"]] = confusion_png(
            r.metrics["confusion"], r.metrics["classes"], out_dir / names["confusion"],
            f"{task}, leave-one-subject-out")
        written[names["reliability"]] = reliability_png(
            r.y_true, r.proba, r.metrics["classes"], out_dir / names["reliability"],
            f"{task}, out-of-fold probabilities")
        images[task] = names
    for task, s in (extras or {}).get("screening", {}).items():
        if len(s.roc):
            name = f"roc_{task}.png"
            written[name] = roc_png(s.roc, s.auc, out_dir / name,
                                    f"{task}, out-of-fold (positive: CDR >= 1)")
            images[task]["roc"] = name
    blocks = build_blocks(results, table, labels, ablation, settings or {}, images, confounds,
                          qc_results, extras)
    for name, text in (("report.md", render_markdown(blocks)),
                       ("report.html", render_html(blocks))):
        atomic_write(out_dir / name, lambda p, text=text: p.write_text(text, encoding="utf-8"))
        written[name] = out_dir / name
    return written
