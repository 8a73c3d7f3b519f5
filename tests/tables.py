"""Synthetic feature tables for tests and benchmarks (no recording involved)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cdr.labels import FLIP_SUFFIX

SYNTHETIC_GROUPS: dict[str, int] = {"pupil": 54, "coupling": 8, "pose": 10, "mfcc": 156,
                                    "gemaps": 88, "voice": 6}
"""Columns per group of :func:`make_feature_table`, as many as cdr-extract writes."""


def make_feature_table(n_per_class: tuple[int, ...] = (17, 19, 4),
                       signal: dict[str, float] | None = None, flip: bool = False,
                       expr: bool = False, seed: int = 0, fps_confound: bool = False,
                       monotone: dict[str, float] | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A synthetic cohort's feature table and labels, one video per subject.

    Parameters
    ----------
    n_per_class : tuple of int
        Subjects with CDR 0.5, 1, 2.
    signal : dict, optional
        Group -> effect size: that group's columns get a class-specific mean
        (standard normal per class and column, times the effect size).  Without
        it, no column carries any class information.
    flip : bool
        Add a ``<id>#flip`` row per video: the original plus 0.1 SD noise.
    expr : bool
        Add an ``expr.`` group of 24 columns (an SCN with 7 classes).
    fps_confound : bool
        Add ``qc.fps``: 30 for CDR 0.5, 25 for CDR 1 and 2 (recording conditions that
        give the class away).
    monotone : dict, optional
        Group -> effect size of a monotone effect: every column of the group shifts by
        that many SDs per CDR step (0, 1, 2 steps for CDR 0.5, 1, 2).
    seed : int

    Returns
    -------
    table : pd.DataFrame
        Indexed by ``video_id``; ``<group>.f<j>`` columns and ``qc.duration_s``,
        ``qc.face_ratio``, ``qc.audio_present``, ``qc.speech_ratio``.
    labels : pd.DataFrame
        As :func:`cdr.labels.read_labels` returns it.
    """
    rng = np.random.default_rng(seed)
    cdr_values = (0.5, 1.0, 2.0)
    y = np.repeat(np.arange(len(n_per_class)), n_per_class)
    rng.shuffle(y)
    n = y.size
    ids = [f"s{i:03d}" for i in range(n)]
    blocks = {}
    sizes = dict(SYNTHETIC_GROUPS, **({"expr": 24} if expr else {}))
    for g, d in sizes.items():
        x = rng.normal(size=(n, d))
        if signal and g in signal:
            x += signal[g] * rng.normal(size=(len(n_per_class), d))[y]
        if monotone and g in monotone:
            x += monotone[g] * y[:, None]
        for j in range(d):
            blocks[f"{g}.f{j}"] = x[:, j]
    blocks["qc.duration_s"] = rng.uniform(60, 180, n)
    blocks["qc.face_ratio"] = rng.uniform(0.8, 1.0, n)
    blocks["qc.audio_present"] = np.ones(n)
    blocks["qc.speech_ratio"] = rng.uniform(0.3, 0.7, n)
    if fps_confound:
        blocks["qc.fps"] = np.where(y == 0, 30.0, 25.0)
    table = pd.DataFrame(blocks, index=pd.Index(ids, name="video_id"))
    if flip:
        mirrored = table + 0.1 * rng.normal(size=table.shape)
        mirrored.index = pd.Index([i + FLIP_SUFFIX for i in ids], name="video_id")
        table = pd.concat([table, mirrored])
    labels = pd.DataFrame({"cdr": [cdr_values[c] for c in y], "subject_id": ids},
                          index=pd.Index(ids, name="video_id"))
    return table, labels
