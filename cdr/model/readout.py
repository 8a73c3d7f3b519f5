"""What cdr-predict shows for one recording: the JSON object and its text.

:func:`readout` adds to each task's prediction whether the model applies to
the recording (:mod:`cdr.model.applicability`), and to the whole the dataset
note of the training cohort (:mod:`cdr.provenance`) and the extraction
warnings.  :func:`text` renders it for a person: the SYNTHETIC DATA banner
first, per task the class, its probabilities, the decision rule in one
sentence, every warning, and the contributions (never ``-0.000``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cdr.model.applicability import assess
from cdr.provenance import banner


def readout(recording: str | Path, row: pd.Series, tasks: dict, cards: dict, qc: dict) -> dict:
    """The JSON object of cdr-predict.

    Parameters
    ----------
    recording : str or Path
    row : pd.Series
        The recording's features; ``row.attrs["warnings"]`` holds what the
        extraction could not measure.
    tasks : dict
        Task -> prediction (``predicted_cdr``, ``probabilities``,
        ``contributions``, ``missing_groups``, ...).
    cards : dict
        Task -> model card (``feature_names``, ``applicability``, ``dataset``).
    qc : dict
        The recording's ``qc.`` values.

    Returns
    -------
    dict
        ``recording``, ``refused`` (False), ``banner`` (str or None),
        ``dataset``, ``tasks`` (each with ``applicability`` and a ``warnings``
        list), ``qc`` and ``warnings`` (the extraction's).
    """
    out_tasks = {}
    for task, r in tasks.items():
        card = cards[task]
        a = assess(row, card.get("applicability"), card["feature_names"])
        out_tasks[task] = dict(r, warnings=a.pop("warnings"), applicability=a)
    dataset = next((c["dataset"] for c in cards.values() if c.get("dataset")), {})
    return {"recording": str(recording), "refused": False, "banner": banner(dataset),
            "dataset": dataset, "tasks": out_tasks, "qc": qc,
            "warnings": [str(w) for w in row.attrs.get("warnings", [])]}


def signed(d: float) -> str:
    """``+0.123``; a value that rounds to zero prints as ``+0.000``, never ``-0.000``."""
    v = round(d, 3)
    return f"{0.0 if v == 0 else v:+.3f}"


def rule(r: dict) -> str:
    """The decision rule in one sentence, and whether this prediction follows it."""
    top = max(r["probabilities"], key=r["probabilities"].get)
    if top == r["predicted_cdr"]:
        return ("rule: the predicted class is the class of highest probability (probabilities "
                "as for a cohort with equal class shares)")
    return (f"rule: this model's decision is not its class of highest probability (CDR {top}); "
            "retrain it with this version of cdr-train")


def text(out: dict) -> str:
    """cdr-predict's text output for :func:`readout`'s object."""
    lines = [out["banner"]] if out.get("banner") else []
    lines.append(f"recording: {out['recording']}")
    for task, r in out["tasks"].items():
        probs = "  ".join(f"CDR {c}: {p:.2f}" for c, p in r["probabilities"].items())
        lines.append(f"[{task}] predicted CDR {r['predicted_cdr']}   ({probs})")
        lines.append("    " + rule(r))
        lines += [f"    WARNING: {w}" for w in r["warnings"]]
        lines += [f"    {g:10s} {signed(d)}" for g, d in
                  sorted(r["contributions"].items(), key=lambda kv: -abs(kv[1]))]
        if r["missing_groups"]:
            lines.append(f"    not measured (imputed from training): "
                         f"{', '.join(r['missing_groups'])}")
    lines.append("qc: " + ", ".join(f"{k[3:]}={v:.3g}" if isinstance(v, float) else
                                    f"{k[3:]}={v}" for k, v in out["qc"].items()))
    if out["warnings"]:
        lines.append(f"extraction warnings ({len(out['warnings'])}):")
        lines += [f"    {w}" for w in out["warnings"]]
    lines.append("Contributions: how much the predicted class's probability drops when a group "
                 "takes training videos' values.")
    return "\n".join(lines)
