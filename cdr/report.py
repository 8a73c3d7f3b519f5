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
from sklearn.metrics import ConfusionMatrixDisplay

from cdr.classify import QC_GROUP, feature_columns, present_groups
from cdr.labels import FLIP_SUFFIX
from cdr.outdir import atomic_write
from cdr import report_sections as sections

Block = tuple  # ("h1"|"h2"|"h3"|"p"|"banner", text) | ("table", DataFrame) | ("img", file, alt)

METHOD = (
    "Leave-one-subject-out: each subject's videos are predicted by a model that never saw "
    "that subject. The model is median imputation, standard scaling and an RBF SVM with "
    "class-balanced weights; its C and gamma are chosen inside each training fold by a "
    "group-aware inner cross-validation (balanced accuracy). Each training fold also leaves "
    "out one random subject of every other class, so that all folds train on the same class "
    "counts: otherwise the counts would give away the held-out subject's class, and "
    "class-balanced weights turn that into above-chance scores on features that carry no "
    "information. Mirrored copies (#flip) only train folds that exclude their subject and "
    "are never tested. The permutation p-value reruns the whole procedure, tuning included, "
    "after shuffling the labels between subjects (a subject's videos and copies keep one "
    "label); p = (1 + number of shuffles scoring at least the observed balanced accuracy) / "
    "(1 + number of shuffles). The predicted class is the SVM's class-balanced decision; "
    "probabilities come from Platt scaling fitted by cross-validation and follow the "
    "training cohort's class frequencies, so for a rare class they can favour another class "
    "than the decision.")


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


def support_statement(task: str, m: dict) -> str:
    """Plain words on what this task's numbers can and cannot support at this n."""
    n, lo, hi = m["n"], *m["accuracy_ci95"]
    counts = m["n_per_class"]
    small = min(counts, key=counts.get)
    parts = [
        f"With {n} videos the 95% interval on accuracy runs from {_pct(lo, 0)} to "
        f"{_pct(hi, 0)}: any accuracy in that range is consistent with these data.",
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
        "site, camera, language or interviewer, per-class claims for classes with few videos, "
        "or a ranking of feature sets whose intervals overlap: the ablation rows are all "
        "computed on the same subjects, and with many rows some reach p < 0.05 by chance.")
    return " ".join(parts)


def build_blocks(results: dict, table: pd.DataFrame, labels: pd.DataFrame,
                 ablation: pd.DataFrame | None, settings: dict, images: dict,
                 extras: dict | None = None) -> list[Block]:
    """Assemble the report's blocks.

    Parameters
    ----------
    results : dict
        Task -> :class:`cdr.evaluate.Result` of the main evaluation.
    table, labels : pd.DataFrame
        The feature table and the labels.
    ablation : pd.DataFrame or None
        :func:`cdr.evaluate.ablation_frame`.
    settings : dict
        Run settings shown verbatim (inputs, groups, permutations, seed...).
    images : dict
        Task -> PNG file name of its confusion matrix; ``roc_<task>`` -> its ROC curve.
    extras : dict, optional
        ``dataset`` (:mod:`cdr.provenance` note), ``screening`` (task ->
        :class:`cdr.model.screening.Screening`), ``importance`` (task ->
        :func:`cdr.model.importance.group_importance`) and ``predictions``
        (the rows of predictions.csv); each section is left out without its entry.
    """
    extras = extras or {}
    blocks: list[Block] = [("h1", "cdr-train report")]
    blocks += sections.banner_blocks(extras.get("dataset"))
    blocks += sections.headline_blocks(
        {t: {"groups": r.metrics.get("groups", []), "flip": r.metrics.get("flip", False),
             "balanced_accuracy": r.metrics["balanced_accuracy"]} for t, r in results.items()},
        ablation)
    blocks.append(("table", pd.DataFrame({"setting": list(settings),
                                          "value": [str(v) for v in settings.values()]})))
    blocks.append(("h2", "Method"))
    blocks.append(("p", METHOD))
    for task, r in results.items():
        m = r.metrics
        blocks.append(("h2", f"Task {task}: " + " / ".join(f"CDR {c}" for c in m["classes"])))
        summary = pd.DataFrame({
            "metric": ["n (videos tested)", "accuracy (95% Wilson CI)", "balanced accuracy",
                       "macro-F1", "permutation p (balanced accuracy)",
                       "chance band of accuracy (2.5-97.5% of permutations)",
                       "feature columns", "augmented training rows"],
            "value": [str(m["n"]),
                      f"{_pct(m['accuracy'])} ({_pct(m['accuracy_ci95'][0])} - "
                      f"{_pct(m['accuracy_ci95'][1])})",
                      _pct(m["balanced_accuracy"]), f"{m['macro_f1']:.3f}",
                      _p(m["permutation_p"], m["permutations"]),
                      "n/a" if not m.get("accuracy_null95") else
                      f"{_pct(m['accuracy_null95'][0])} - {_pct(m['accuracy_null95'][1])}",
                      str(m["n_features"]), str(m["n_augmented_rows"])]})
        blocks.append(("table", summary))
        if task in extras.get("screening", {}):
            blocks += sections.screening_blocks(extras["screening"][task],
                                                images.get(f"roc_{task}"))
        per_class = pd.DataFrame({
            "class": [f"CDR {c}" for c in m["classes"]],
            "n": [m["n_per_class"][c] for c in m["classes"]],
            "recall": [_pct(m["recall_per_class"][c]) for c in m["classes"]],
        })
        blocks.append(("h3", "Per class"))
        blocks.append(("table", per_class))
        blocks.append(("h3", "Confusion matrix (rows: true, columns: predicted)"))
        blocks.append(("img", images[task], f"confusion matrix, task {task}"))
        blocks.append(("table", pd.DataFrame(m["confusion"],
                                             index=[f"true CDR {c}" for c in m["classes"]],
                                             columns=[f"pred CDR {c}" for c in m["classes"]]
                                             ).reset_index(names="")))
        blocks.append(("h3", "What these numbers can and cannot support"))
        blocks.append(("p", support_statement(task, m)))
    if ablation is not None:
        blocks.append(("h2", "Ablation: feature-group sets"))
        blocks.append(("p", "Each row is a full nested leave-one-subject-out evaluation on the "
                            "named groups; p is from that row's own permutations, whose number "
                            "limits the smallest p to 1/(N+1)."))
        shown = ablation.assign(
            accuracy=["n/a" if np.isnan(a) else f"{_pct(a)} ({_pct(lo, 0)}-{_pct(hi, 0)})"
                      for a, lo, hi in zip(ablation.accuracy, ablation.accuracy_ci_low,
                                           ablation.accuracy_ci_high)],
            n_features=ablation.n_features.map(lambda v: "" if np.isnan(v) else f"{v:.0f}"),
            balanced_accuracy=ablation.balanced_accuracy.map(_pct),
            macro_f1=ablation.macro_f1.map(lambda v: "n/a" if np.isnan(v) else f"{v:.3f}"),
            permutation_p=ablation.permutation_p.map(lambda v: "" if np.isnan(v) else f"{v:.3f}"))
        blocks.append(("table", shown[["task", "set", "groups", "flip", "n_features", "accuracy",
                                       "balanced_accuracy", "macro_f1", "permutation_p",
                                       "permutations", "note"]]))
    if extras.get("importance"):
        blocks += sections.importance_blocks(extras["importance"])
    blocks.extend(_data_blocks(table, labels))
    if extras.get("predictions") is not None:
        blocks += sections.predictions_blocks(extras["predictions"])
    return blocks


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
            body.append('<div class="table">' + rest[0].to_html(index=False, na_rep="", border=0)
                        + "</div>")
        elif kind == "img":
            body.append(f'<img src="{html.escape(rest[0])}" alt="{html.escape(rest[1])}">')
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cdr-train report"
            f"</title><style>{STYLE}</style></head><body>\n" + "\n".join(body)
            + "\n</body></html>\n")


STYLE = (
    # Tables fit the text column at 1280 px and on A4: long cells wrap, none scrolls away.
    "body{font-family:sans-serif;max-width:72em;margin:1.5em auto;padding:0 1em}"
    ".table{max-width:100%}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.85em;max-width:100%}"
    "td,th{border:1px solid #ccc;padding:.2em .4em;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}"
    ".banner{background:#b00020;color:#fff;font-weight:bold;padding:.6em 1em;margin:.5em 0 1em;"
    "font-size:1.1em}"
    "img{max-width:100%}"
    "@media print{body{max-width:none;margin:0;font-size:10pt}table{font-size:8pt}"
    "h2{break-after:avoid}tr,img{break-inside:avoid}"
    ".banner{-webkit-print-color-adjust:exact;print-color-adjust:exact}}")


def write_report(out_dir: str | Path, results: dict, table: pd.DataFrame,
                 labels: pd.DataFrame, ablation: pd.DataFrame | None = None,
                 settings: dict | None = None, extras: dict | None = None) -> dict[str, Path]:
    """Write report.md, report.html, confusion_<task>.png (and roc_<task>.png) into ``out_dir``.

    ``extras``: see :func:`build_blocks`.

    Returns
    -------
    dict
        Name -> path of every file written.
    """
    out_dir = Path(out_dir)
    written, images = {}, {}
    for task, r in results.items():
        name = f"confusion_{task}.png"
        written[name] = confusion_png(r.metrics["confusion"], r.metrics["classes"],
                                      out_dir / name, f"{task}, leave-one-subject-out")
        images[task] = name
    for task, s in (extras or {}).get("screening", {}).items():
        if len(s.roc):
            name = f"roc_{task}.png"
            written[name] = roc_png(s.roc, s.auc, out_dir / name,
                                    f"{task}, out-of-fold (positive: CDR >= 1)")
            images[f"roc_{task}"] = name
    blocks = build_blocks(results, table, labels, ablation, settings or {}, images, extras)
    for name, text in (("report.md", render_markdown(blocks)),
                       ("report.html", render_html(blocks))):
        atomic_write(out_dir / name, lambda p, text=text: p.write_text(text, encoding="utf-8"))
        written[name] = out_dir / name
    return written
