"""Read the feature table cdr-train learns from, keeping only real feature columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from cdr.errors import InputError
from cdr.model.tasks import KNOWN_GROUPS, is_feature_column, present_groups

EXTRACTION_FILE = "extraction.json"
"""Written by cdr-extract beside features.parquet: the options the table was made with."""


def read_table(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """Read features.parquet (or .csv) indexed by ``video_id``.

    Only ``<group>.<feature>`` columns of known groups are kept: a saved row index
    (``Unnamed: 0``), a merged ``cdr`` label or any other column would otherwise be
    learned from (a label column makes the task trivial; a row index that follows
    the class order too).

    Returns
    -------
    table : pd.DataFrame
        Numeric feature columns, indexed by ``video_id`` (str).
    ignored : list of str
        The columns left out, for the caller's one-line warning.

    Raises
    ------
    InputError
        Unreadable; no ``video_id``; duplicate ``video_id`` values; no feature
        column; a cell that is not a number.  The message names the file.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
    except FileNotFoundError:
        raise InputError(f"{path}: not found; pass the features.parquet written by cdr-extract")
    except Exception as exc:
        raise InputError(f"{path}: cannot be read as a feature table ({exc}); pass the "
                         "features.parquet or features.csv written by cdr-extract") from None
    if "video_id" in table.columns:
        table = table.set_index("video_id")
    if table.index.name != "video_id":
        raise InputError(f"{path}: has no video_id index or column; pass the table written "
                         "by cdr-extract")
    table.index = table.index.astype(str)
    dup = table.index[table.index.duplicated()].unique()
    if len(dup):
        raise InputError(f"{path}: video_id {', '.join(dup[:5])}"
                         f"{f' (and {len(dup) - 5} more)' if len(dup) > 5 else ''} appear "
                         "more than once; keep one row per recording")
    ignored = [str(c) for c in table.columns if not is_feature_column(c)]
    table = table[[c for c in table.columns if is_feature_column(c)]]
    if not present_groups(table):
        raise InputError(f"{path}: has no feature columns (<group>.<feature> with group one of "
                         f"{', '.join(g for g in KNOWN_GROUPS if g != 'qc')}); pass the "
                         "features.parquet written by cdr-extract")
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in table.columns if (numeric[c].isna() & table[c].notna()).any()]
    if bad:
        first = table.loc[numeric[bad[0]].isna() & table[bad[0]].notna(), bad[0]].iloc[0]
        raise InputError(f"{path}: column{'s' * (len(bad) > 1)} {', '.join(bad[:5])}"
                         f"{f' (and {len(bad) - 5} more)' if len(bad) > 5 else ''} not numeric "
                         f"(e.g. {first!r}); pass the table written by cdr-extract, or fix "
                         "those cells")
    return numeric, ignored


def read_extraction(features: str | Path) -> dict | None:
    """The extraction options recorded beside a feature table, or None."""
    p = Path(features).parent / EXTRACTION_FILE
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
