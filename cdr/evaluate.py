"""Run evaluations, their permutation tests and the ablation, in parallel.

An evaluation is described by a :class:`Spec` (task, feature groups, flip
augmentation, number of permutations).  Each spec's permutations are cut into
chunks; the chunks of all specs are spread over ``n_jobs`` processes with
joblib, the costliest first.  Permutation ``i`` of a spec always uses the same
random stream, whatever the chunking or ``n_jobs``, so results are reproducible.

Permutation p-value: the statistic is the balanced accuracy of the whole nested
leave-one-subject-out procedure (tuning included), recomputed for each shuffle
of labels between subjects (:func:`cdr.loso.permuted_labels`);
``p = (1 + #{null >= observed}) / (1 + N)``, as in sklearn's
``permutation_test_score``.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from cdr import classify, loso
from cdr.parallel import quiet_worker_restarts
from cdr.labels import FLIP_SUFFIX

ABLATION_SETS: tuple[tuple[str, tuple[str, ...] | None, bool], ...] = (
    ("pupil", ("pupil",), False),
    ("coupling", ("coupling",), False),
    ("visual", ("pupil", "coupling"), False),
    ("visual+flip", ("pupil", "coupling"), True),
    ("mfcc", ("mfcc",), False),
    ("gemaps", ("gemaps",), False),
    ("mfcc+gemaps", ("mfcc", "gemaps"), False),
    ("voice", ("voice",), False),
    ("expr", ("expr",), False),
    ("visual+speech", ("pupil", "coupling", "mfcc", "gemaps"), False),
    ("all", None, False),
)
"""The study's ablation: (name, groups or None for every present group, flip)."""
DEFAULT_PERMUTATIONS = 200
"""Permutations for the main evaluation of each task (p resolution 1/201)."""
DEFAULT_ABLATION_PERMUTATIONS = 19
"""Permutations per ablation row: the smallest p is 0.05; raise it for a final table."""
CHUNK = 50
"""Permutations per parallel work unit."""


@dataclass(frozen=True)
class Spec:
    """One evaluation to run: ``task`` on ``groups``, optionally with flip rows."""

    name: str
    task: str
    groups: tuple[str, ...]
    flip: bool = False
    permutations: int = DEFAULT_PERMUTATIONS
    probabilities: bool = False
    note: str = ""

    @property
    def key(self) -> tuple:
        return (self.task, tuple(sorted(self.groups)), self.flip)


@dataclass
class Result:
    """Outcome of one :class:`Spec`.

    Attributes
    ----------
    ids, subjects : np.ndarray [shape=(n,)]
        Tested videos and their subject ids.
    y_true, y_pred : np.ndarray [shape=(n,)]
        Class codes.
    proba : np.ndarray [shape=(n, n_classes)] or None
        Calibrated out-of-fold probabilities (when the spec asked for them).
    params : list of (C, gamma)
        Chosen per outer fold.
    fold_of : np.ndarray [shape=(n,)]
        Index into ``params`` of the fold that tested each video (its subject code).
    metrics : dict
        :func:`cdr.classify.compute_metrics` plus ``permutation_p``,
        ``permutations``, ``accuracy_null95`` and ``n_features``.
    null : np.ndarray [shape=(N, 2)]
        Balanced accuracy and accuracy of each permutation.
    seconds : dict
        CPU seconds in ``setup``, ``real`` and ``permutations``.
    """

    spec: Spec
    ids: np.ndarray
    subjects: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    params: list
    fold_of: np.ndarray
    metrics: dict
    null: np.ndarray
    columns: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)


def has_flip_rows(table: pd.DataFrame) -> bool:
    """Whether the table holds augmented ``<id>#flip`` rows."""
    return any(str(i).endswith(FLIP_SUFFIX) for i in table.index)


def ablation_specs(table: pd.DataFrame, tasks: list[str],
                   permutations: int = DEFAULT_ABLATION_PERMUTATIONS) -> list[Spec]:
    """The ablation's specs for ``tasks``; unrunnable rows carry a note and no groups.

    ``expr`` is left out when the table has no ``expr.`` columns.
    """
    present = set(classify.present_groups(table))
    flip_ok = has_flip_rows(table)
    specs = []
    for task in tasks:
        for name, groups, flip in ABLATION_SETS:
            if name == "expr" and "expr" not in present:
                continue
            wanted = tuple(groups) if groups is not None else classify.present_groups(table)
            have = tuple(g for g in wanted if g in present)
            lacking = [g for g in wanted if g not in present]
            note = f"no columns for {', '.join(lacking)}" if lacking else ""
            if flip and not flip_ok:
                have, note = (), "no #flip rows (extract with --augment flip)"
            specs.append(Spec(name, task, have, flip, permutations if have else 0, note=note))
    return specs


def _rng_key(spec: Spec) -> int:
    return zlib.crc32(repr(spec.key).encode())


def _unit(table, labels, spec: Spec, start: int, stop: int, real: bool, seed: int) -> dict:
    """Work unit: build the design, then the real evaluation and/or permutations [start, stop)."""
    with threadpool_limits(limits=1):
        return _unit_body(table, labels, spec, start, stop, real, seed)


def _unit_body(table, labels, spec: Spec, start: int, stop: int, real: bool, seed: int) -> dict:
    t0 = time.process_time()
    design = loso.build_design(table, labels, spec.task, spec.groups, spec.flip, seed)
    t1 = time.process_time()
    out = {"spec": spec, "start": start, "seconds": {"setup": t1 - t0}}
    k = len(design.task.classes)
    if real:
        pred, params, trains = loso.nested_predict(design, design.y, keep_rows=spec.probabilities)
        proba = loso.fold_probabilities(design, params, trains) if spec.probabilities else None
        out.update(design=design, pred=pred, params=params, proba=proba,
                   fold_of=design.subject[design.tested])
    t2 = time.process_time()
    null = np.empty((stop - start, 2))
    for row, i in enumerate(range(start, stop)):
        rng = np.random.default_rng([seed, _rng_key(spec), i])
        y = loso.permuted_labels(design, rng)
        pred, _, _ = loso.nested_predict(design, y)
        null[row] = (classify.balanced_accuracy_fast(y[design.tested], pred, k),
                     np.mean(y[design.tested] == pred))
    out["null"] = null
    out["seconds"].update(real=t2 - t1, permutations=time.process_time() - t2)
    return out


def run_specs(table: pd.DataFrame, labels: pd.DataFrame, specs: list[Spec],
              n_jobs: int = 1, seed: int = 0, progress: bool | None = False
              ) -> list[Result | None]:
    """Evaluate every spec (identical ones once); ``None`` for specs without groups.

    Parameters
    ----------
    table : pd.DataFrame
        Feature table indexed by ``video_id``.
    labels : pd.DataFrame
        From :func:`cdr.labels.read_labels`.
    specs : list of Spec
    n_jobs : int
        Worker processes (joblib); 1 runs in this process.
    seed : int
        Seeds inner splits, calibration splits and permutations.
    progress : bool or None
        A progress bar on stderr counting whole leave-one-subject-out
        evaluations (the real one and each permutation), with tqdm's time
        estimate; None shows it only on a terminal.
    """
    merged: dict[tuple, Spec] = {}
    for s in specs:
        if not s.groups:
            continue
        m = merged.get(s.key)
        merged[s.key] = s if m is None else replace(
            m, permutations=max(m.permutations, s.permutations),
            probabilities=m.probabilities or s.probabilities)
    units = []
    for s in merged.values():
        bounds = list(range(0, s.permutations, CHUNK)) or [0]
        for j, lo in enumerate(bounds):
            units.append((s, lo, min(lo + CHUNK, s.permutations), j == 0))
    units.sort(key=lambda u: -((u[2] - u[1]) + (5 if u[3] else 0)))
    from tqdm.auto import tqdm

    total = sum(hi - lo + real for _, lo, hi, real in units)
    folds = labels["subject_id"].nunique()
    outs = []
    with quiet_worker_restarts(), tqdm(total=total, unit="eval",
                                       desc=f"evaluations (~{folds} folds each)",
                                       disable=None if progress is None else not progress) as bar:
        for o in Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                delayed(_unit)(table, labels, s, lo, hi, real, seed) for s, lo, hi, real in units):
            outs.append(o)
            bar.update(len(o["null"]) + ("design" in o))
    done = {key: _combine(spec, [o for o in outs if o["spec"].key == key])
            for key, spec in merged.items()}
    results = []
    for s in specs:
        r = done.get(s.key) if s.groups else None
        results.append(None if r is None else replace(r, spec=s))
    return results


def _combine(spec: Spec, outs: list[dict]) -> Result:
    first = next(o for o in outs if "design" in o)
    design = first["design"]
    outs.sort(key=lambda o: o["start"])
    null = np.concatenate([o["null"] for o in outs])
    y_true = design.y[design.tested]
    metrics = classify.compute_metrics(y_true, first["pred"], design.task.classes)
    n_perm = len(null)
    if n_perm:
        hits = np.sum(null[:, 0] >= metrics["balanced_accuracy"] - 1e-12)
        metrics["permutation_p"] = float((1 + hits) / (1 + n_perm))
        metrics["accuracy_null95"] = [float(q) for q in np.quantile(null[:, 1], [0.025, 0.975])]
    else:
        metrics["permutation_p"] = None
        metrics["accuracy_null95"] = None
    metrics.update(permutations=n_perm, permutation_statistic="balanced_accuracy",
                   n_features=len(design.columns), groups=list(spec.groups), flip=spec.flip,
                   n_augmented_rows=int(len(design.ids) - design.tested.size))
    seconds = {k: float(sum(o["seconds"][k] for o in outs))
               for k in ("setup", "real", "permutations")}
    return Result(spec=spec, ids=design.ids[design.tested],
                  subjects=design.subject_names[design.subject[design.tested]], y_true=y_true,
                  y_pred=first["pred"], proba=first["proba"], params=first["params"],
                  fold_of=first["fold_of"],
                  metrics=metrics, null=null, columns=design.columns, seconds=seconds)


def ablation_frame(specs: list[Spec], results: list[Result | None]) -> pd.DataFrame:
    """One row per (feature-group set, task): the ablation table written to ablation.csv."""
    rows = []
    for s, r in zip(specs, results):
        m = r.metrics if r is not None else {}
        ci = m.get("accuracy_ci95") or [np.nan, np.nan]
        rows.append({
            "set": s.name, "task": s.task, "groups": "+".join(s.groups), "flip": s.flip,
            "n": m.get("n", np.nan), "n_augmented_rows": m.get("n_augmented_rows", np.nan),
            "n_features": m.get("n_features", np.nan),
            "accuracy": m.get("accuracy", np.nan), "accuracy_ci_low": ci[0],
            "accuracy_ci_high": ci[1], "balanced_accuracy": m.get("balanced_accuracy", np.nan),
            "macro_f1": m.get("macro_f1", np.nan),
            "permutation_p": np.nan if m.get("permutation_p") is None else m["permutation_p"],
            "permutations": m.get("permutations", 0), "note": s.note,
        })
    return pd.DataFrame(rows)


SYNTHETIC_GROUPS: dict[str, int] = {"pupil": 54, "coupling": 8, "pose": 10, "mfcc": 156,
                                    "gemaps": 88, "voice": 6}
"""Columns per group of :func:`make_feature_table`, as many as cdr-extract writes."""


def make_feature_table(n_per_class: tuple[int, ...] = (17, 19, 4),
                       signal: dict[str, float] | None = None, flip: bool = False,
                       expr: bool = False, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
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
        for j in range(d):
            blocks[f"{g}.f{j}"] = x[:, j]
    blocks["qc.duration_s"] = rng.uniform(60, 180, n)
    blocks["qc.face_ratio"] = rng.uniform(0.8, 1.0, n)
    blocks["qc.audio_present"] = np.ones(n)
    blocks["qc.speech_ratio"] = rng.uniform(0.3, 0.7, n)
    table = pd.DataFrame(blocks, index=pd.Index(ids, name="video_id"))
    if flip:
        mirrored = table + 0.1 * rng.normal(size=table.shape)
        mirrored.index = pd.Index([i + FLIP_SUFFIX for i in ids], name="video_id")
        table = pd.concat([table, mirrored])
    labels = pd.DataFrame({"cdr": [cdr_values[c] for c in y], "subject_id": ids},
                          index=pd.Index(ids, name="video_id"))
    return table, labels
