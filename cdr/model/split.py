"""Rebalanced leave-one-subject-out, as a scikit-learn splitter, and subject-level permutations.

Plain leave-one-subject-out leaves the held-out subject's class one subject short in
every training fold, so the training class counts give the held-out label away; with
class-balanced weights that turned pure noise into a binary balanced accuracy of
~0.7.  The rebalanced form (Austin, Pe'er & Korem, *Sci Adv* 2025, "rebalanced
leave-one-out") also leaves out one random subject of every other class, so every
training fold holds ``N_c - 1`` subjects of each class ``c``.  Which subjects are
left out is random: the splitter repeats the whole scheme ``n_repeats`` times with
independent draws, and evaluations report the mean over draws and its spread.

Augmented rows (``#flip``) belong to their subject: they train only folds that
exclude it and are never tested.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def subject_classes(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Class of each subject code 0..n_subjects-1 (subjects have one class)."""
    ys = np.empty(int(groups.max()) + 1, int)
    ys[groups] = y
    return ys


class RebalancedLeaveOneSubjectOut:
    """Leave one subject out, plus one random subject of every other class, repeated.

    Parameters
    ----------
    n_repeats : int
        Independent draws of the subjects left out for balance.
    random_state : int
    """

    def __init__(self, n_repeats: int = 20, random_state: int = 0):
        self.n_repeats = n_repeats
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """``n_repeats`` times the number of subjects."""
        return self.n_repeats * np.unique(groups).size

    def orders(self, n_subjects: int, repeat: int) -> np.ndarray:
        """Row h: the seeded random order in which fold h picks subjects to leave out."""
        rng = np.random.default_rng([self.random_state, 7, repeat])
        return np.array([rng.permutation(n_subjects) for _ in range(n_subjects)])

    def training_subjects(self, ys: np.ndarray, held: int, order: np.ndarray) -> np.ndarray:
        """Subjects that train the fold holding out ``held``: N_c - 1 of every class c."""
        order = order[order != held]
        keep = np.zeros(order.size, bool)
        for c, t in enumerate(np.bincount(ys) - 1):
            keep[np.flatnonzero(ys[order] == c)[:max(int(t), 0)]] = True
        return np.sort(order[keep])

    def split(self, X, y, groups, augmented=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train, test)`` row indices, repeat by repeat, subject by subject.

        Parameters
        ----------
        X : array-like [shape=(n, n_features)]
            A DataFrame's ``#flip`` index entries mark augmented rows when
            ``augmented`` is not given.
        y : np.ndarray [shape=(n,)]
            Class codes 0..k-1.
        groups : np.ndarray [shape=(n,)]
            Subject of each row.
        augmented : np.ndarray [shape=(n,)] of bool, optional
        """
        for _, _, train, test in self.folds(X, y, groups, augmented):
            yield train, test

    def folds(self, X, y, groups, augmented=None):
        """Like :meth:`split`, yielding ``(repeat, held_subject, train, test)``."""
        y = np.asarray(y)
        if augmented is None:
            index = getattr(X, "index", None)
            augmented = (np.zeros(len(y), bool) if index is None
                         else np.asarray(index.astype(str).str.endswith("#flip")))
        _, groups = np.unique(np.asarray(groups), return_inverse=True)
        ys = subject_classes(y[~augmented], groups[~augmented])
        n = ys.size
        rows = [np.flatnonzero(groups == s) for s in range(n)]
        tested = [r[~augmented[r]] for r in rows]
        for r in range(self.n_repeats):
            orders = self.orders(n, r)
            for held in range(n):
                subjects = self.training_subjects(ys, held, orders[held])
                yield r, held, np.concatenate([rows[s] for s in subjects]), tested[held]


def permute_subject_labels(y: np.ndarray, groups: np.ndarray, augmented: np.ndarray,
                           index: int, random_state: int = 0) -> np.ndarray:
    """Permutation ``index`` of the subjects' labels; a subject's rows keep one label.

    Subjects, not videos, are what leave-one-subject-out treats as exchangeable.
    (``sklearn.model_selection.permutation_test_score(groups=...)`` permutes *within*
    groups, which with one video per subject moves nothing.)  The same ``index`` and
    ``random_state`` give the same permutation for every feature set of a cohort, so
    the rows of an ablation share their permutations.
    """
    ys = subject_classes(y[~augmented], groups[~augmented])
    rng = np.random.default_rng([random_state, 11, index])
    return ys[rng.permutation(ys.size)][groups]
