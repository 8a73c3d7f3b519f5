"""Where a cohort comes from, carried from its folder to every report and prediction.

A folder of recordings may hold a ``dataset.json`` or ``cohort.json`` (the
synthetic cohort's manifest, :mod:`cdr.synth.cohort`) with at least
``{"synthetic": true|false, "note": "..."}``.  ``cdr-extract`` copies that note
into ``features.parquet``'s metadata (``DataFrame.attrs["dataset"]``, kept by
pandas in the Parquet file; ``features.csv`` cannot hold it), ``cdr-train``
copies it into each model card (``card["dataset"]``) and the report, and
``cdr-predict`` prints it.  A synthetic dataset gets a SYNTHETIC DATA banner at
every step.
"""

from __future__ import annotations

import json
from pathlib import Path

NOTE_FILES = ("dataset.json", "cohort.json")
"""Files looked for, in this order, at the top of the recordings folder."""
ATTR = "dataset"


def read_note(folder: str | Path) -> dict:
    """The dataset note of a recordings folder: ``{"synthetic", "note", "source"}`` or {}.

    An unreadable note file is reported in the note itself rather than ignored.
    """
    for name in NOTE_FILES:
        path = Path(folder) / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"synthetic": False, "source": name,
                    "note": f"{name} could not be read ({exc}); the dataset is not described"}
        if not isinstance(data, dict):
            continue
        return {"synthetic": bool(data.get("synthetic", False)), "source": name,
                "note": str(data.get("note", ""))}
    return {}


def read_table_note(path) -> dict:
    """The dataset note kept in a ``features.parquet`` (``{}`` for a CSV or none)."""
    from pathlib import Path

    import pandas as pd

    path = Path(path)
    if path.suffix.lower() != ".parquet":
        return {}
    try:
        return table_note(pd.read_parquet(path, columns=[]))
    except (OSError, ValueError):
        return {}


def table_note(table) -> dict:
    """The dataset note stored with a feature table (``table.attrs``), or {}."""
    note = getattr(table, "attrs", {}).get(ATTR) or {}
    return dict(note) if isinstance(note, dict) else {}


def banner(note: dict | None) -> str | None:
    """The one-line banner for a synthetic dataset, or None for any other."""
    if not note or not note.get("synthetic"):
        return None
    text = note.get("note") or "the recordings were generated, not recorded from patients"
    return (f"SYNTHETIC DATA: {text} These results describe a generated cohort, "
            "not patients.").replace(".. ", ". ")
