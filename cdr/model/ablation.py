"""The study's ablation over feature-group sets, as evaluation jobs and a table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdr.labels import FLIP_SUFFIX
from cdr.model.tasks import present_groups

ABLATION_SETS: tuple[tuple[str, tuple[str, ...] | None, bool], ...] = (
    ("pupil", ("pupil",), False),
    ("coupling", ("coupling",), False),
    ("visual", ("pupil", "coupling"), False),
    ("visual+flip", ("pupil", "coupling"), True),
    ("mfcc", ("mfcc",), False),
    ("gemaps", ("gemaps",), False),
    ("mfcc+gemaps", ("mfcc", "gemaps"), False),
    ("voice", ("voice",), False),
    ("turns", ("turns",), False),
    ("expr", ("expr",), False),
    ("visual+speech", ("pupil", "coupling", "mfcc", "gemaps"), False),
    ("all", None, False),
)
"""(name, groups or None for every present group, flip)."""


def has_flip_rows(table: pd.DataFrame) -> bool:
    """Whether the table holds augmented ``<id>#flip`` rows."""
    return bool(table.index.astype(str).str.endswith(FLIP_SUFFIX).any())


def ablation_sets(table: pd.DataFrame) -> list[tuple[str, tuple[str, ...], bool, str]]:
    """``(name, groups present, flip, note)`` per set; unrunnable sets have no groups.

    ``expr`` and ``turns`` are left out when the table has none of their columns.
    """
    present = set(present_groups(table))
    flip_ok = has_flip_rows(table)
    out = []
    for name, groups, flip in ABLATION_SETS:
        if name in ("expr", "turns") and name not in present:
            continue
        wanted = tuple(groups) if groups is not None else present_groups(table)
        have = tuple(g for g in wanted if g in present)
        lacking = [g for g in wanted if g not in present]
        note = f"no columns for {', '.join(lacking)}" if lacking else ""
        if flip and not flip_ok:
            have, note = (), "no #flip rows (extract with --augment flip)"
        out.append((name, have, flip, note))
    return out


def ablation_frame(rows: list[tuple[str, str, tuple, bool, str]], results: list,
                   corrected: list) -> pd.DataFrame:
    """One row per (set, task), written to ablation.csv.

    Parameters
    ----------
    rows : list of (set name, task, groups, flip, note)
    results : list of EvaluationResult or None (not run)
    corrected : list of float or None
        Family-wise corrected p of each result.
    """
    table = []
    for (name, task, groups, flip, note), r, pc in zip(rows, results, corrected):
        m = r.metrics if r is not None else {}
        get = lambda k, i=None: (np.nan if k not in m or m[k] is None  # noqa: E731
                                 else (m[k][i] if i is not None else m[k]))
        table.append({
            "set": name, "task": task, "groups": "+".join(groups), "flip": flip,
            "n": get("n"), "n_augmented_rows": get("n_augmented_rows"),
            "n_features": get("n_features"), "accuracy": get("accuracy"),
            "accuracy_ci_low": get("accuracy_ci95", 0), "accuracy_ci_high": get("accuracy_ci95", 1),
            "balanced_accuracy": get("balanced_accuracy"),
            "balanced_accuracy_sd": get("balanced_accuracy_sd"),
            "balanced_accuracy_ci_low": get("balanced_accuracy_ci95", 0),
            "balanced_accuracy_ci_high": get("balanced_accuracy_ci95", 1),
            "macro_f1": get("macro_f1"), "permutation_p": get("permutation_p"),
            "permutation_p_fwe": np.nan if pc is None else pc,
            "permutations": m.get("permutations", 0), "note": note,
        })
    return pd.DataFrame(table)
