"""Read and validate the labels CSV.

The file has the columns ``video_id`` and ``cdr``, and optionally ``subject_id``
(which defaults to ``video_id``); any other column is refused, with the right
name suggested for a near-miss (``Subject_ID``, ``patient_id``), since a subject
column that is not recognised would turn leave-one-subject-out into
leave-one-video-out in silence. The separator may be ``,``, ``;`` or a tab (the
one the header uses); with ``;`` or a tab, ``0,5`` reads as 0.5. One subject has
one CDR value.  ``cdr`` is one of 0, 0.5, 1, 2, 3; only 0.5, 1
and 2 belong to the 3-class task, and 0 and 3 are accepted and reported as
outside it.  Every problem found is collected and raised at once, in one
:class:`~cdr.errors.LabelError` whose message is a single line.

Augmented rows of the feature table (``<id>#flip``) take the label of their
original ``<id>``; they never appear in the labels file.
"""

from __future__ import annotations

import csv
import difflib
import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from cdr.errors import LabelError
from cdr.features.augment import FLIP_SUFFIX

CDR_VALUES: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0)
"""Values a CDR label may take."""
REQUIRED_COLUMNS = ("video_id", "cdr")
COLUMNS = (*REQUIRED_COLUMNS, "subject_id")
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab"}
_ALIASES = {
    "subject_id": ("subject", "subjectid", "subj", "subj_id", "patient", "patient_id", "patientid",
                   "participant", "participant_id", "participantid", "person", "person_id", "pid",
                   "sid", "case", "case_id", "speaker", "speaker_id"),
    "video_id": ("video", "videoid", "id", "file", "filename", "file_name", "recording",
                 "recording_id", "name", "path", "vid", "clip"),
    "cdr": ("cdr_score", "cdr_global", "global_cdr", "cdr_rating", "rating", "score", "label",
            "class", "grade", "diagnosis"),
}
MAX_LISTED = 10
"""At most this many ids are spelled out per problem; the rest are counted."""


def base_id(video_id: str) -> str:
    """Return the original recording's id of a possibly augmented row id."""
    return video_id[: -len(FLIP_SUFFIX)] if video_id.endswith(FLIP_SUFFIX) else video_id


def _fmt_value(v: float) -> str:
    return f"{v:g}"


def _listing(ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:MAX_LISTED])
    if len(ids) > MAX_LISTED:
        shown += f" (and {len(ids) - MAX_LISTED} more)"
    return shown


def _raise(path: Path, problems: list[str]) -> None:
    n = len(problems)
    err = LabelError(f"{path}: {n} problem{'s' if n > 1 else ''} in the labels file, "
                     "fix and rerun: " + "; ".join(problems))
    err.problems = list(problems)
    raise err


def _key(name: str) -> str:
    return re.sub(r"[\s\-.]+", "_", name.strip().lower())


def suggest_column(name: str) -> str | None:
    """The column a near-miss header name meant: ``Subject_ID``, ``patient_id`` -> ``subject_id``."""
    key = _key(name)
    for column in COLUMNS:
        if key == column or key in _ALIASES[column]:
            return column
    close = difflib.get_close_matches(key, COLUMNS, n=1, cutoff=0.75)
    return close[0] if close else None


def _unknown_columns(columns: list[str]) -> list[str]:
    problems = []
    for c in columns:
        if c in COLUMNS:
            continue
        hint = suggest_column(c)
        if hint:
            problems.append(f"column '{c}' is not known: did you mean '{hint}'? rename it")
        else:
            problems.append(f"column '{c}' is not known: remove it (the labels file holds only "
                            "video_id, cdr and optionally subject_id)")
    return problems


def _separator(first_line: str) -> str:
    """The separator the header line uses most: comma, semicolon or tab."""
    counts = {sep: first_line.count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_labels(path: str | Path, table_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a labels CSV and check it, against a feature table's index if given.

    Parameters
    ----------
    path : str or Path
        The labels CSV (UTF-8, a BOM is allowed).
    table_ids : iterable of str, optional
        The feature table's ``video_id`` index.  Augmented rows (``<id>#flip``)
        are allowed there and need no label of their own.  When given, labelled
        ids absent from the table and table videos without a label are problems.

    Returns
    -------
    pd.DataFrame
        Indexed by ``video_id`` (str), in file order, with the columns ``cdr``
        (float64, one of :data:`CDR_VALUES`) and ``subject_id`` (str).

    Raises
    ------
    LabelError
        Listing every problem at once: empty file, missing columns, empty or
        duplicated ids, non-numeric or out-of-range ``cdr``, augmented ids in
        the file, ids unknown to the table, table videos without a label.  The
        individual messages are in ``err.problems``.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            first = next((line for line in fh if line.strip()), "")
            fh.seek(0)
            sep = _separator(first)
            reader = csv.reader(fh, delimiter=sep)
            header = next(reader, None)
            while header is not None and not any(h.strip() for h in header) and first.strip():
                header = next(reader, None)
            rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except FileNotFoundError:
        _raise(path, ["file not found; pass the labels CSV with --labels"])
    except OSError as exc:
        _raise(path, [f"cannot be read ({exc.strerror or exc}); check the path and permissions"])
    except (UnicodeDecodeError, csv.Error) as exc:
        _raise(path, [f"not a readable CSV ({exc}); save it as UTF-8 CSV"])
    if header is None or not any(h.strip() for h in header):
        _raise(path, ["the file is empty; it needs the header 'video_id,cdr' "
                      "(and optionally 'subject_id') and one row per video"])
    columns = [h.strip() for h in header]
    problems: list[str] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(f"missing column{'s' if len(missing) > 1 else ''} "
                        + ", ".join(f"'{c}'" for c in missing)
                        + f" (found: {', '.join(repr(c) for c in columns)}); the header "
                        "must hold video_id, cdr and optionally subject_id")
    problems += _unknown_columns(columns)
    if not rows:
        _raise(path, problems + ["the file has a header but no rows; add one row per video"])

    col = {c: columns.index(c) for c in (*REQUIRED_COLUMNS, "subject_id") if c in columns}
    seen: dict[str, list[int]] = {}
    records: list[tuple[str, float, str]] = []
    for line, r in rows:
        cell = lambda c: r[col[c]].strip() if c in col and col[c] < len(r) else ""  # noqa: E731
        vid, raw, subject = cell("video_id"), cell("cdr"), cell("subject_id")
        where = f"line {line}" + (f" ({vid})" if vid else "")
        if "video_id" in col:
            if not vid:
                problems.append(f"line {line}: video_id is empty")
            seen.setdefault(vid, []).append(line)
        value = math.nan
        if "cdr" not in col:
            pass
        elif not raw:
            problems.append(f"{where}: cdr is empty")
        else:
            try:
                value = float(raw if sep == "," else raw.replace(",", "."))
            except ValueError:
                problems.append(f"{where}: cdr '{raw}' is not a number")
            else:
                if value not in CDR_VALUES:
                    problems.append(f"{where}: cdr {raw} is not one of "
                                    + ", ".join(_fmt_value(v) for v in CDR_VALUES))
        records.append((vid, value, subject or vid))

    for vid, lines in seen.items():
        if vid and len(lines) > 1:
            problems.append(f"video_id '{vid}' appears {len(lines)} times "
                            f"(lines {', '.join(map(str, lines))})")
    values: dict[str, dict[float, list[str]]] = {}
    for vid, value, subject in records:
        if "subject_id" in col and math.isfinite(value):
            values.setdefault(subject, {}).setdefault(value, []).append(vid)
    for subject, by_value in values.items():
        if len(by_value) > 1:
            shown = " and ".join(f"{_fmt_value(v)} ({_listing(ids)})" for v, ids in sorted(by_value.items()))
            problems.append(f"subject '{subject}' has {len(by_value)} different CDR values: {shown}; "
                            "a subject has one CDR, fix the labels or keep one visit's recordings")
    augmented = [v for v in seen if v.endswith(FLIP_SUFFIX)]
    if augmented:
        problems.append(f"augmented ids take the label of their original, remove these rows: "
                        f"{_listing(augmented)}")
    if table_ids is not None and "video_id" in col:
        table = list(dict.fromkeys(str(t) for t in table_ids))
        known = set(table)
        unknown = [v for v in seen if v and v not in known and not v.endswith(FLIP_SUFFIX)]
        if unknown:
            problems.append(f"labelled ids not in the feature table: {_listing(unknown)} "
                            "(a typo, or a recording that failed extraction: see failures.csv; "
                            "remove these rows to train without them)")
        unlabelled = [t for t in table if not t.endswith(FLIP_SUFFIX) and t not in seen]
        unlabelled += [t for t in table if t.endswith(FLIP_SUFFIX)
                       and base_id(t) not in seen and base_id(t) not in known]
        if unlabelled:
            problems.append(f"videos in the feature table without a label: "
                            f"{_listing(unlabelled)} (add a row for each to the labels file)")
    if problems:
        _raise(path, problems)

    frame = pd.DataFrame.from_records(records, columns=["video_id", "cdr", "subject_id"])
    frame = frame.astype({"video_id": str, "cdr": "float64", "subject_id": str})
    return frame.set_index("video_id")


def outside_task(labels: pd.DataFrame, task_values: Iterable[float]) -> pd.Series:
    """Return the labels whose ``cdr`` is not among ``task_values``.

    Parameters
    ----------
    labels : pd.DataFrame
        As returned by :func:`read_labels`.
    task_values : iterable of float
        The CDR values a task uses, e.g. ``(0.5, 1, 2)``.

    Returns
    -------
    pd.Series
        ``cdr`` of the excluded videos, indexed by ``video_id``.
    """
    keep = labels["cdr"].isin(list(task_values))
    return labels.loc[~keep, "cdr"]
