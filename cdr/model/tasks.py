"""CDR tasks, feature groups, and the rows and columns one evaluation uses."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cdr.errors import ParameterError
from cdr.labels import FLIP_SUFFIX, base_id

FEATURE_GROUPS: tuple[str, ...] = ("pupil", "coupling", "pose", "mfcc", "gemaps", "voice",
                                   "turns", "expr")
"""Groups usable as features, in report order; ``qc`` is never one by default."""
QC_GROUP = "qc"
KNOWN_GROUPS: tuple[str, ...] = FEATURE_GROUPS + (QC_GROUP,)
_COLUMN = re.compile(r"^(%s)\.[^.\s].*$" % "|".join(KNOWN_GROUPS))


@dataclass(frozen=True)
class Task:
    """A classification task: which CDR values map to which class code (0..k-1)."""

    name: str
    classes: tuple[str, ...]
    cdr_to_class: dict[float, int]


TASKS: dict[str, Task] = {
    "cdr3": Task("cdr3", ("0.5", "1", "2"), {0.5: 0, 1.0: 1, 2.0: 2}),
    "binary": Task("binary", ("0.5", ">=1"), {0.5: 0, 1.0: 1, 2.0: 1, 3.0: 1}),
}


def get_task(name: str) -> Task:
    """Return the :class:`Task` called ``name`` or raise ParameterError."""
    if name not in TASKS:
        raise ParameterError(f"task={name!r} is unknown; choose one of {', '.join(TASKS)}")
    return TASKS[name]


def is_feature_column(name: str) -> bool:
    """Whether ``name`` is ``<group>.<feature>`` of a known group (qc included)."""
    return bool(_COLUMN.match(str(name)))


def feature_columns(table: pd.DataFrame, groups) -> list[str]:
    """The table's columns ``<group>.<feature>`` for ``groups``, in table order."""
    wanted = set(groups)
    return [c for c in table.columns if is_feature_column(c) and c.split(".", 1)[0] in wanted]


def present_groups(table: pd.DataFrame) -> tuple[str, ...]:
    """The feature groups (not ``qc``) with at least one column in ``table``, in report order."""
    have = {c.split(".", 1)[0] for c in table.columns if is_feature_column(c)}
    return tuple(g for g in FEATURE_GROUPS if g in have)


@dataclass
class Dataset:
    """The rows, labels and subjects of one evaluation.

    Attributes
    ----------
    ids : np.ndarray [shape=(n,)]
        Row ids; augmented (``#flip``) rows follow the originals.
    X : np.ndarray [shape=(n, n_features)]
        Feature values (NaN where not measured).
    y : np.ndarray [shape=(n,)]
        Class codes; an augmented row has its original's code.
    groups : np.ndarray [shape=(n,)]
        Subject code of each row, an index into ``subjects``.
    subjects : np.ndarray [shape=(n_subjects,)]
        The labels file's ``subject_id`` of each code.
    augmented : np.ndarray [shape=(n,)]
        True for ``#flip`` rows: they train folds that exclude their subject and are never tested.
    """

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    groups: np.ndarray
    subjects: np.ndarray
    augmented: np.ndarray
    columns: list[str]
    task: Task

    @property
    def tested(self) -> np.ndarray:
        """Indices of the original rows, in the order evaluations return them."""
        return np.flatnonzero(~self.augmented)


def make_dataset(table: pd.DataFrame, labels: pd.DataFrame, task: str | Task, columns,
                 flip: bool = False) -> Dataset:
    """Select a task's rows and the given columns (or groups) of a feature table.

    Parameters
    ----------
    columns : list of str
        Column names, or group names (every column of those groups).

    Raises
    ------
    ParameterError
        No column; a class with fewer than 3 subjects; a subject with two classes.
    """
    task = get_task(task) if isinstance(task, str) else task
    cols = [c for c in columns if c in table.columns and "." in c]
    if not cols:
        cols = feature_columns(table, columns)
    if not cols:
        raise ParameterError(f"groups={','.join(columns)} have no columns in the feature table; "
                             f"present groups: {', '.join(present_groups(table))}")
    cdr, subj = labels["cdr"].to_dict(), labels["subject_id"].to_dict()
    present = set(map(str, table.index))
    rows = []
    for vid in map(str, table.index):
        aug = vid.endswith(FLIP_SUFFIX)
        b = base_id(vid)
        if (aug and (not flip or b not in present)) or cdr.get(b) not in task.cdr_to_class:
            continue
        rows.append((aug, vid, task.cdr_to_class[cdr[b]], str(subj[b])))
    rows.sort(key=lambda r: r[0])  # originals first, order kept
    aug = np.array([r[0] for r in rows], bool)
    ids = np.array([r[1] for r in rows], dtype=object)
    y = np.array([r[2] for r in rows], int)
    names, groups = np.unique(np.array([r[3] for r in rows], dtype=object).astype(str),
                              return_inverse=True)
    try:
        X = table.loc[ids, cols].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"feature columns must be numeric ({exc})") from None
    mixed = pd.Series(y).groupby(groups).nunique()
    if (mixed > 1).any():
        bad = names[mixed.index[mixed > 1]]
        raise ParameterError(f"subject(s) {', '.join(bad[:5])} have videos in different classes "
                             "of the task; give each subject one CDR")
    for code, name in enumerate(task.classes):
        n = np.unique(groups[(y == code) & ~aug]).size
        if n < 3:
            raise ParameterError(
                f"task {task.name}: class CDR {name} has {n} subject(s); leave-one-subject-out "
                "needs at least 3 per class ("
                + ("add subjects)" if task.name == "binary" else "use --task binary, or add subjects)"))
    return Dataset(ids=ids.astype(str), X=X, y=y, groups=groups, subjects=names, augmented=aug,
                   columns=cols, task=task)
