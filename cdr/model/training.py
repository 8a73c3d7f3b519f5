"""What ``cdr-train`` does: evaluate, check confounds, fit, and write one model folder.

Everything is written into a staging folder inside ``OUT`` first.  At the end
the previous run's files are removed, the new ones moved in, and
``manifest.json`` written last: a run stopped at any moment leaves either the
old run or a folder that cdr-predict refuses (no manifest, or files that do not
match it), never one task's model beside another run's metrics.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cdr.errors import InputError, ParameterError
from cdr.labels import read_labels
from cdr.model import ablation as abl
from cdr import provenance
from cdr.model import confounds, store
from cdr.model.estimators import ESTIMATORS
from cdr.model.evaluate import Job, evaluate_many, familywise
from cdr.model.inputs import read_extraction, read_table
from cdr.model.split import RebalancedLeaveOneSubjectOut
from cdr.model.tasks import (FEATURE_GROUPS, QC_GROUP, feature_columns, get_task, make_dataset,
                             present_groups)
from cdr.outdir import atomic_write, output_lock

DEFAULT_REPEATS = 20
"""Rebalanced draws per evaluation; metrics are their means."""
DEFAULT_PERMUTATIONS = 99
"""Label permutations of the main evaluation of each task (see BENCHMARKS.md for why not 999)."""
DEFAULT_ABLATION_PERMUTATIONS = 19
"""Permutations shared by the ablation rows and the qc-only model (the first of the main's)."""
OUTPUTS = ("report.md", "report.html", "metrics.json", "predictions.csv", "ablation.csv",
           "timing.json", store.MANIFEST)
"""Files of a run besides model_*, confusion_*, reliability_*; stale ones are removed."""


@dataclass
class TrainOptions:
    """The options of ``cdr-train`` (see its ``--help``)."""

    task: str = "both"
    groups: str | None = None
    ablation: bool = False
    permutations: int = DEFAULT_PERMUTATIONS
    ablation_permutations: int = DEFAULT_ABLATION_PERMUTATIONS
    repeats: int = DEFAULT_REPEATS
    estimator: str = "svm"
    no_flip: bool = False
    jobs: int = -1
    seed: int = 0
    dataset: dict = field(default_factory=dict)


def parse_groups(spec: str | None, table: pd.DataFrame) -> tuple[str, ...]:
    """``--groups a,b`` -> ('a', 'b'), checked against the table; default: every feature group."""
    present = present_groups(table)
    if not spec:
        return present
    groups = tuple(dict.fromkeys(g.strip() for g in spec.split(",") if g.strip()))
    unknown = [g for g in groups if g not in FEATURE_GROUPS + (QC_GROUP,)]
    if unknown:
        raise ParameterError(f"--groups: unknown group {', '.join(unknown)}; choose from "
                             f"{', '.join(FEATURE_GROUPS)}")
    absent = [g for g in groups if not feature_columns(table, [g])]
    if absent:
        raise ParameterError(f"--groups: {', '.join(absent)} has no columns in the feature "
                             f"table; present: {', '.join(present)}")
    return groups


def _warn(msg: str) -> None:
    print(f"cdr-train: {msg}", file=sys.stderr)


def _check(opts: TrainOptions) -> None:
    for name in ("permutations", "ablation_permutations"):
        if getattr(opts, name) < 0:
            raise ParameterError(f"--{name.replace('_', '-')}={getattr(opts, name)} must be >= 0")
    if opts.repeats < 1:
        raise ParameterError(f"--repeats={opts.repeats} must be >= 1")
    if opts.estimator not in ESTIMATORS:
        raise ParameterError(f"--estimator={opts.estimator!r}; choose one of {', '.join(ESTIMATORS)}")


def train(features: str | Path, labels_path: str | Path, out: str | Path,
          opts: TrainOptions) -> dict:
    """Run cdr-train; return the metrics written to metrics.json."""
    t0 = time.perf_counter()
    _check(opts)
    features, labels_path, out = Path(features), Path(labels_path), Path(out)
    table, ignored = read_table(features)
    if ignored:
        _warn(f"warning: {features}: ignoring column(s) that are not <group>.<feature> of a "
              f"known group: {', '.join(ignored[:8])}{' ...' if len(ignored) > 8 else ''}")
    labels = read_labels(labels_path, table.index)
    tasks = ["cdr3", "binary"] if opts.task == "both" else [opts.task]
    outside = labels.index[~labels["cdr"].isin([0.5, 1.0, 2.0])]
    if len(outside):
        _warn(f"{len(outside)} video(s) with CDR 0 or 3 are outside the 3-class task "
              f"({', '.join(outside[:10])}); CDR 3 counts as >=1 in the binary task")
    groups = parse_groups(opts.groups, table)
    empty = [g for g in groups if table[feature_columns(table, [g])].isna().all(axis=None)]
    if len(empty) == len(groups):
        raise InputError(f"{features}: every value of the feature group(s) {', '.join(groups)} "
                         "is missing (NaN), so there is nothing to learn from; check "
                         "failures.csv and extract.log beside it")
    if empty:
        _warn(f"warning: {features}: group(s) {', '.join(empty)} have no value in any row and "
              "carry no information")
    existed = out.exists()
    try:
        with output_lock(out, command="cdr-train"):
            return _run(table, labels, features, labels_path, out, tasks, groups, opts, t0)
    except BaseException:
        if not existed:  # nothing of value was there: leave no folder holding only .lock
            shutil.rmtree(out, ignore_errors=True)
        raise


def _sha256(path: Path) -> str:
    return store.sha256_file(path)


def _run(table, labels, features, labels_path, out, tasks, groups, opts, t0) -> dict:
    run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    stage = out / f".staging-{run_id}"
    stage.mkdir()
    try:
        metrics = _evaluate_and_write(table, labels, features, labels_path, stage, tasks,
                                      groups, opts, run_id, t0)
        _commit(stage, out, run_id, tasks)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return metrics


def _evaluate_and_write(table, labels, features, labels_path, stage, tasks, groups, opts,
                        run_id, t0) -> dict:
    from cdr import report

    flip = abl.has_flip_rows(table) and not opts.no_flip
    make = lambda: ESTIMATORS[opts.estimator](random_state=opts.seed)  # noqa: E731
    main_data = {t: make_dataset(table, labels, t, groups, flip) for t in tasks}
    jobs = [Job("main", make(), main_data[t], opts.permutations) for t in tasks]
    qc_cols = confounds.qc_columns(table)
    qc_perm = max(opts.ablation_permutations, 19)
    qc_jobs = [Job("qc-only", make(), make_dataset(table, labels, t, qc_cols), qc_perm)
               for t in tasks] if qc_cols else []
    rows = []
    if opts.ablation:
        for t in tasks:
            for name, gs, fl, note in abl.ablation_sets(table):
                rows.append((name, t, gs, fl, note))
    abl_jobs = [Job(name, make(), make_dataset(table, labels, t, gs, fl),
                    opts.ablation_permutations) for name, t, gs, fl, _ in rows if gs]
    print(f"cdr-train: {len(table)} rows, groups {'+'.join(groups)}{' with flip rows' * flip}; "
          f"{len(jobs) + len(qc_jobs) + len(abl_jobs)} evaluations of {opts.repeats} "
          f"rebalanced draws each ({opts.estimator})", file=sys.stderr)
    cv = RebalancedLeaveOneSubjectOut(opts.repeats, opts.seed)
    results = evaluate_many(jobs + qc_jobs + abl_jobs, cv, random_state=opts.seed,
                            n_jobs=opts.jobs, progress=None)
    main = dict(zip(tasks, results[:len(jobs)]))
    qc = dict(zip(tasks, results[len(jobs):len(jobs) + len(qc_jobs)]))
    abl_results = iter(results[len(jobs) + len(qc_jobs):])
    ablation = None
    if rows:
        ran = [next(abl_results) if r[2] else None for r in rows]
        fwe = familywise([r for r in ran if r is not None])
        fwe_iter = iter(fwe)
        ablation = abl.ablation_frame(rows, ran, [next(fwe_iter) if r is not None else None
                                                  for r in ran])
        atomic_write(stage / "ablation.csv", lambda p: ablation.to_csv(p, index=False))
    tests = confounds.association_tests(table, labels, [get_task(t) for t in tasks])
    found = confounds.confound_list(tests, qc)
    metrics = {t: r.metrics for t, r in main.items()}
    metrics["confounds"] = found
    metrics["qc_only"] = {t: {k: r.metrics[k] for k in ("balanced_accuracy",
                                                        "balanced_accuracy_ci95",
                                                        "permutation_p", "permutations")}
                          for t, r in qc.items()}
    metrics["estimator"] = opts.estimator
    metrics["run_id"] = run_id
    hashes = {"features_file": features.name, "features_sha256": _sha256(features),
              "labels_file": Path(labels_path).name, "labels_sha256": _sha256(Path(labels_path))}
    extraction = read_extraction(features)
    if extraction is None:
        _warn(f"warning: {features.parent / 'extraction.json'} not found: the model cannot "
              "record the extraction options, and cdr-predict will not be able to check them")
    dataset = {**provenance.read_table_note(features), **opts.dataset}
    _warn(f"fitting the final model of {', '.join(tasks)} on every subject, and its "
          "feature-group importance")
    importance = {t: _save_final(main_data[t], make(), groups, flip, opts, stage, hashes,
                                 extraction, run_id, dataset) for t in tasks}
    screening = {t: _screening(r, opts.seed) for t, r in main.items() if t == "binary"}
    for t, s in screening.items():
        metrics[t]["screening"] = s.to_dict()
    metrics["dataset"] = dataset
    atomic_write(stage / "metrics.json",
                 lambda p: p.write_text(json.dumps(metrics, indent=2) + "\n"))
    preds = predictions_frame(main, labels)
    atomic_write(stage / "predictions.csv", lambda p: preds.to_csv(p, index=False))
    settings = {"features": f"{features} (sha256 {hashes['features_sha256'][:12]})",
                "labels": f"{labels_path} (sha256 {hashes['labels_sha256'][:12]})",
                "estimator": opts.estimator, "groups": "+".join(groups),
                "flip rows in training": flip, "rebalanced draws": opts.repeats,
                "permutations (main / ablation and qc-only)":
                    f"{opts.permutations} / {opts.ablation_permutations if rows else '-'}"
                    f"{'' if rows else ' and ' + str(qc_perm)}",
                "seed": opts.seed, "run id": run_id}
    if dataset:
        source = f" ({dataset['source']})" if dataset.get("source") else ""
        settings["dataset"] = (f"{'SYNTHETIC; ' * bool(dataset.get('synthetic'))}"
                               f"{dataset.get('note', '')}{source}")
    headline = {t: {"groups": list(groups), "flip": flip,
                    "balanced_accuracy": r.metrics["balanced_accuracy"]} for t, r in main.items()}
    report.write_report(stage, main, table, labels, ablation, settings, found, qc,
                        extras={"dataset": dataset, "main": headline, "screening": screening,
                                "importance": importance, "predictions": preds})
    timing = {k: sum(r.seconds.get(k, 0.0) for r in results) for k in ("real", "permutations")}
    timing["wall"] = time.perf_counter() - t0
    atomic_write(stage / "timing.json", lambda p: p.write_text(json.dumps(timing, indent=2) + "\n"))
    return metrics


def _screening(result, seed: int):
    """Screening figures of the binary task from its out-of-fold probabilities."""
    from cdr.model.screening import screening

    return screening(result.y_true == 1, result.proba[:, 1], result.subjects, seed=seed)


def _save_final(data, estimator, groups, flip, opts, stage, hashes, extraction, run_id,
                dataset: dict) -> pd.DataFrame:
    """Fit, describe and save the final model of a task; return its group importance."""
    from cdr.model.applicability import fit_reference
    from cdr.model.importance import group_importance

    estimator.fit(data.X, data.y, groups=data.groups)
    X = pd.DataFrame(data.X, columns=data.columns, index=data.ids)
    card = {
        "run_id": run_id, "estimator": {"name": opts.estimator, "params": estimator.get_params()},
        "feature_names": data.columns, "groups": list(groups), "flip": flip,
        "classes": list(data.task.classes),
        "label_map": {f"{v:g}": c for v, c in data.task.cdr_to_class.items()},
        "extraction": extraction, "dataset": dataset,
        "applicability": fit_reference(X, data.subjects[data.groups]),
        "training": dict(hashes, n_videos=int(data.tested.size), n_rows=int(len(data.ids)),
                         n_subjects=int(data.subjects.size), seed=opts.seed,
                         rows_sha256=hashlib.sha256(data.X.tobytes() + data.y.tobytes()
                                                    + "\n".join(data.ids).encode()).hexdigest()),
    }
    store.save_model(estimator, stage, data.task.name, card, background=data.X[data.tested])
    return group_importance(estimator, X, data.y, seed=opts.seed)


def predictions_frame(results: dict, labels: pd.DataFrame) -> pd.DataFrame:
    """Out-of-fold predictions: consensus class, mean probabilities, agreement over draws."""
    frames = []
    for task, r in results.items():
        classes = list(r.classes)
        f = pd.DataFrame({"video_id": r.ids, "subject_id": r.subjects, "task": task,
                          "cdr": labels.loc[r.ids, "cdr"].to_numpy(),
                          "true_class": [classes[i] for i in r.y_true],
                          "predicted_class": [classes[i] for i in r.y_pred],
                          "correct": r.y_true == r.y_pred,
                          "draws_agreeing": (r.pred_draws == r.y_pred[None, :]).mean(axis=0)})
        for j, c in enumerate(classes):
            f[f"p_cdr_{c}"] = r.proba[:, j]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def _commit(stage: Path, out: Path, run_id: str, tasks: list[str]) -> None:
    """Replace the previous run's files by the staged ones; the manifest comes last."""
    (out / store.MANIFEST).unlink(missing_ok=True)
    for p in out.iterdir():
        stale = p.name in OUTPUTS or p.name.startswith(("model_", "confusion_", "reliability_"))
        if p.is_file() and stale:
            p.unlink()
    for p in sorted(stage.iterdir()):
        p.replace(out / p.name)
    store.write_manifest(out, run_id, tasks)
