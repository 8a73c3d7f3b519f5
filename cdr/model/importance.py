"""Which feature groups the final model leans on: grouped permutation importance.

DESCRIPTIVE ONLY.  The importance is measured on the training cohort, with the
model fitted on that same cohort: it says what this fitted model uses, not
which groups would predict CDR in new patients, and it is no test of
significance.  Correlated groups share credit (permuting one leaves the other
to carry the information), so a low value does not mean a group is useless.

Method: scikit-learn's :func:`~sklearn.inspection.permutation_importance`, with
every feature group permuted as one block.  The permuted "columns" handed to it
are row indices, one per group (:class:`_GroupView`): permuting the
index column of a group gives that group's features of another recording, all
together, while the other groups keep their own.  The score is the balanced
accuracy (the study's statistic); the importance of a group is the mean drop
over ``n_repeats`` shuffles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.inspection import permutation_importance
from sklearn.metrics import get_scorer

from cdr.errors import ParameterError
from cdr.labels import FLIP_SUFFIX

LABEL = ("Descriptive: how much the final model's fit to its own training recordings worsens "
         "when one feature group is shuffled between recordings (balanced accuracy drop, and "
         "log-loss increase per recording, which still moves when the accuracy does not). It "
         "shows what this fitted model uses, not what predicts CDR in new patients; "
         "correlated groups share the credit.")
SCORES = {"balanced_accuracy": "balanced_accuracy", "log_loss": "neg_log_loss"}
"""Column prefix -> scikit-learn scorer; both are "higher is better", so a drop is importance."""
N_REPEATS = 20


class _GroupView(ClassifierMixin, BaseEstimator):
    """An already fitted model seen through one row-index column per feature group.

    ``predict(idx)`` with ``idx`` of shape ``(n, n_groups)`` scores the rows
    whose group ``g`` features are taken from recording ``idx[:, g]`` of ``X``.
    """

    def __init__(self, model=None, X: pd.DataFrame | None = None, blocks=None):
        self.model = model
        self.X = X
        self.blocks = blocks

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return True

    @property
    def classes_(self):
        return self.model.classes_

    def _rows(self, idx):
        """The recombined rows: a DataFrame for a model fitted on one, else an array."""
        idx = np.asarray(idx, dtype=np.intp)
        values = self.X.to_numpy(dtype=float)
        out = np.empty((idx.shape[0], values.shape[1]))
        for g, cols in enumerate(self.blocks):
            out[:, cols] = values[idx[:, g]][:, cols]
        if hasattr(self.model, "feature_names_in_"):
            return pd.DataFrame(out, columns=self.X.columns)
        return out

    def predict(self, idx):
        return self.model.predict(self._rows(idx))

    def predict_proba(self, idx):
        return self.model.predict_proba(self._rows(idx))


def feature_blocks(columns) -> dict[str, list[int]]:
    """Group -> positions of its ``<group>.<feature>`` columns, in column order."""
    out: dict[str, list[int]] = {}
    for j, c in enumerate(columns):
        out.setdefault(str(c).split(".", 1)[0], []).append(j)
    return out


def group_importance(model, X: pd.DataFrame, y, *, n_repeats: int = N_REPEATS, seed: int = 0,
                     n_jobs: int | None = None) -> pd.DataFrame:
    """Grouped permutation importance of a fitted model on its training rows.

    Parameters
    ----------
    model : fitted classifier
        Anything with ``predict``, ``predict_proba`` and ``classes_``; it gets
        a DataFrame with ``X``'s columns if it was fitted on one
        (``feature_names_in_``), else an array in ``X``'s column order.
    X : pd.DataFrame [shape=(n, n_features)]
        The training recordings, columns ``<group>.<feature>`` in the model's
        order.  Augmented ``#flip`` rows are dropped: they are copies, not
        recordings.
    y : array-like [shape=(n,)]
        The labels in the model's coding (aligned with ``X``).
    n_repeats : int
        Shuffles per group.
    seed : int
    n_jobs : int, optional
        Passed to :func:`~sklearn.inspection.permutation_importance`.

    Returns
    -------
    pd.DataFrame
        One row per group, most important first (by balanced accuracy drop,
        then log-loss increase): ``group``, ``n_features``, and for each score
        of :data:`SCORES` ``<score>_drop`` (mean over the shuffles),
        ``<score>_drop_sd`` and ``<score>_baseline`` (the unshuffled score,
        the same on every row; log-loss as a loss, lower is better).
    """
    y = np.asarray(y)
    if len(X) != y.size:
        raise ParameterError(f"X has {len(X)} rows but y has {y.size}; pass aligned rows")
    if n_repeats < 1:
        raise ParameterError(f"n_repeats={n_repeats} must be >= 1")
    keep = ~X.index.astype(str).str.endswith(FLIP_SUFFIX)
    X, y = X.loc[keep], y[keep]
    blocks = feature_blocks(X.columns)
    idx = np.tile(np.arange(len(X))[:, None], (1, len(blocks)))
    view = _GroupView(model, X, list(blocks.values()))
    r = permutation_importance(view, idx, y, scoring=list(SCORES.values()), n_repeats=n_repeats,
                               random_state=seed, n_jobs=n_jobs)
    out = pd.DataFrame({"group": list(blocks), "n_features": [len(b) for b in blocks.values()]})
    for name, scorer in SCORES.items():
        sign = -1.0 if scorer.startswith("neg_") else 1.0
        out[f"{name}_drop"] = r[scorer].importances_mean
        out[f"{name}_drop_sd"] = r[scorer].importances_std
        out[f"{name}_baseline"] = sign * float(get_scorer(scorer)(view, idx, y))
    order = ["balanced_accuracy_drop", "log_loss_drop"]
    return out.sort_values(order, ascending=False, kind="stable").reset_index(drop=True)
