"""``cdr-train FEATURES --labels LABELS -o MODEL_DIR``: evaluate and train CDR classifiers.

Evaluates each task by nested leave-one-subject-out cross-validation with a
permutation test, optionally runs the study's ablation over feature-group
sets, fits the final model of each task on every subject, and writes
report.md, report.html, metrics.json, predictions.csv, confusion_<task>.png,
model_<task>.skops (+ its .json card) and, with ``--ablation``, ablation.csv.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cdr import classify, evaluate, loso, modelio, provenance, report
from cdr.errors import CdrError, InputError, ParameterError
from cdr.labels import read_labels
from cdr.outdir import atomic_write, output_lock


def read_table(path: str | Path) -> pd.DataFrame:
    """Read features.parquet (or .csv) indexed by ``video_id``, every column as numbers.

    Raises
    ------
    InputError
        The file cannot be read, has no ``video_id``, has no feature column
        (only ``qc.`` or none), or holds a cell that is not a number; the
        message names the file (and the columns) and says what to do.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path)
        else:
            table = pd.read_parquet(path)
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
    if not classify.present_groups(table):
        raise InputError(f"{path}: has no feature columns (<group>.<feature>, other than qc.); "
                         "pass the features.parquet written by cdr-extract")
    numeric = table.apply(pd.to_numeric, errors="coerce")
    bad = [c for c in table.columns if (numeric[c].isna() & table[c].notna()).any()]
    if bad:
        first = table.loc[numeric[bad[0]].isna() & table[bad[0]].notna(), bad[0]].iloc[0]
        raise InputError(f"{path}: column{'s' * (len(bad) > 1)} {', '.join(bad[:5])}"
                         f"{f' (and {len(bad) - 5} more)' if len(bad) > 5 else ''} not numeric "
                         f"(e.g. {first!r}); pass the table written by cdr-extract, or fix "
                         "those cells")
    return numeric


def parse_groups(spec: str | None, table: pd.DataFrame) -> tuple[str, ...]:
    """``--groups a,b`` -> ('a', 'b'), checked against the table; default: every feature group."""
    present = classify.present_groups(table)
    if not spec:
        return present
    groups = tuple(dict.fromkeys(g.strip() for g in spec.split(",") if g.strip()))
    known = set(classify.FEATURE_GROUPS) | set(present) | {classify.QC_GROUP}
    unknown = [g for g in groups if g not in known]
    if unknown:
        raise ParameterError(f"--groups: unknown group {', '.join(unknown)}; choose from "
                             f"{', '.join(classify.FEATURE_GROUPS)}")
    absent = [g for g in groups if not classify.feature_columns(table, [g])]
    if absent:
        raise ParameterError(f"--groups: {', '.join(absent)} has no columns in the feature "
                             f"table; present: {', '.join(present)}")
    return groups


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _predictions(results: dict, labels: pd.DataFrame) -> pd.DataFrame:
    frames = []
    for task, r in results.items():
        classes = r.metrics["classes"]
        f = pd.DataFrame({"video_id": r.ids, "subject_id": r.subjects, "task": task,
                          "cdr": labels.loc[r.ids, "cdr"].to_numpy(),
                          "true_class": [classes[i] for i in r.y_true],
                          "predicted_class": [classes[i] for i in r.y_pred],
                          "correct": r.y_true == r.y_pred})
        for j, c in enumerate(classes):
            f[f"p_cdr_{c}"] = r.proba[:, j]
        f["C"] = [r.params[i][0] for i in r.fold_of]
        f["gamma"] = [r.params[i][1] for i in r.fold_of]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def _save_final(task: str, table, labels, groups, flip, seed, out: Path, hashes: dict,
                dataset: dict) -> pd.DataFrame:
    """Fit, describe and save the final model of ``task``; return its group importance."""
    from cdr.model.applicability import fit_reference
    from cdr.model.importance import group_importance

    design = loso.build_design(table, labels, task, groups, flip, seed)
    model, (C, gamma) = loso.fit_final(design)
    X = pd.DataFrame(design.X, columns=design.columns, index=design.ids)
    card = {
        "dataset": dataset,
        "applicability": fit_reference(X, design.subject_names[design.subject]),
        "feature_names": design.columns, "groups": list(groups), "flip": flip,
        "classes": list(design.task.classes),
        "label_map": {f"{v:g}": c for v, c in design.task.cdr_to_class.items()},
        "params": {"C": C, "gamma": gamma},
        "training": dict(hashes, n_videos=int(design.tested.size),
                         n_rows=int(len(design.ids)),
                         n_subjects=int(np.unique(design.subject).size),
                         rows_sha256=hashlib.sha256(
                             design.X.tobytes() + design.y.tobytes()
                             + "\n".join(design.ids).encode()).hexdigest()),
    }
    modelio.save_model(model, out, task, card)
    return group_importance(model, X, design.y, seed=seed)


def _screening(r, seed: int):
    from cdr.model.screening import screening

    return screening(r.y_true == 1, r.proba[:, 1], r.subjects, seed=seed)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdr-train", description=__doc__.splitlines()[0])
    p.add_argument("features", help="features.parquet (or .csv) from cdr-extract")
    p.add_argument("--labels", required=True, help="CSV: video_id, cdr[, subject_id]")
    p.add_argument("-o", "--out", required=True, help="output folder (created)")
    p.add_argument("--task", choices=["cdr3", "binary", "both"], default="both")
    p.add_argument("--groups", help="comma-separated feature groups (default: every group "
                                    "present except qc)")
    p.add_argument("--ablation", action="store_true", help="also evaluate the study's "
                                                           "feature-group sets")
    p.add_argument("--permutations", type=int, default=evaluate.DEFAULT_PERMUTATIONS,
                   help="label permutations for each task's p-value (default %(default)s)")
    p.add_argument("--ablation-permutations", type=int,
                   default=evaluate.DEFAULT_ABLATION_PERMUTATIONS,
                   help="permutations per ablation row (default %(default)s)")
    p.add_argument("--no-flip", action="store_true",
                   help="ignore <id>#flip rows in the main evaluation")
    p.add_argument("--jobs", type=int, default=-1,
                   help="worker processes (default -1: one per CPU core)")
    p.add_argument("--seed", type=int, default=0)
    return p


def run(args: argparse.Namespace) -> dict:
    """Do the work of ``cdr-train``; return the metrics written to metrics.json."""
    with contextlib.ExitStack() as stack:
        t0 = time.perf_counter()
        for name in ("permutations", "ablation_permutations"):
            if getattr(args, name) < 0:
                raise ParameterError(f"--{name.replace('_', '-')}={getattr(args, name)} must be >= 0")
        features, labels_path, out = Path(args.features), Path(args.labels), Path(args.out)
        table = read_table(features)
        labels = read_labels(labels_path, table.index)
        tasks = ["cdr3", "binary"] if args.task == "both" else [args.task]
        outside = labels.index[~labels["cdr"].isin([0.5, 1.0, 2.0])]
        if len(outside):
            print(f"cdr-train: {len(outside)} video(s) with CDR 0 or 3 are outside the 3-class task "
                  f"({', '.join(outside[:10])}); CDR 3 counts as >=1 in the binary task",
                  file=sys.stderr)
        groups = parse_groups(args.groups, table)
        empty = [g for g in groups if table[classify.feature_columns(table, [g])].isna().all(axis=None)]
        if len(empty) == len(groups):
            raise InputError(f"{features}: every value of the feature group(s) {', '.join(groups)} "
                             "is missing (NaN), so there is nothing to learn from; check "
                             "failures.csv and extract.log beside it")
        if empty:
            print(f"cdr-train: warning: {features}: group(s) {', '.join(empty)} have no value in any "
                  "row and carry no information", file=sys.stderr)
        stack.enter_context(output_lock(out, command="cdr-train"))  # after the inputs are checked
        flip = evaluate.has_flip_rows(table) and not args.no_flip
        specs = [evaluate.Spec("main", t, groups, flip, args.permutations, probabilities=True)
                 for t in tasks]
        abl = evaluate.ablation_specs(table, tasks, args.ablation_permutations) if args.ablation else []
        print(f"cdr-train: {len(table)} rows, groups {'+'.join(groups)}{' with flip rows' * flip}; "
              f"{len(specs) + len(abl)} evaluations", file=sys.stderr)
        with threadpool_limits(limits=1):
            results = evaluate.run_specs(table, labels, specs + abl, n_jobs=args.jobs,
                                         seed=args.seed, progress=None)
            out.mkdir(parents=True, exist_ok=True)
            hashes = {"features_file": features.name, "features_sha256": _sha256(features),
                      "labels_file": labels_path.name, "labels_sha256": _sha256(labels_path)}
            print(f"cdr-train: fitting the final model of {', '.join(tasks)} on every subject, "
                  "and its feature-group importance", file=sys.stderr)
            dataset = provenance.table_note(table)
            importance = {t: _save_final(t, table, labels, groups, flip, args.seed, out, hashes,
                                         dataset) for t in tasks}
        main_results = {s.task: r for s, r in zip(specs, results)}
        metrics = {t: r.metrics for t, r in main_results.items()}
        screening = {t: _screening(r, args.seed) for t, r in main_results.items()
                     if t == "binary"}
        for t, sc in screening.items():
            metrics[t]["screening"] = sc.to_dict()
        atomic_write(out / "metrics.json", lambda p: p.write_text(json.dumps(metrics, indent=2) + "\n"))
        preds = _predictions(main_results, labels)
        atomic_write(out / "predictions.csv", lambda p: preds.to_csv(p, index=False))
        ablation = None
        if abl:
            ablation = evaluate.ablation_frame(abl, results[len(specs):])
            atomic_write(out / "ablation.csv", lambda p: ablation.to_csv(p, index=False))
        seconds = {k: sum(r.seconds.get(k, 0.0) for r in results if r is not None)
                   for k in ("setup", "real", "permutations")}
        settings = {"features": f"{features} (sha256 {hashes['features_sha256'][:12]})",
                    "labels": f"{labels_path} (sha256 {hashes['labels_sha256'][:12]})",
                    "groups": "+".join(groups), "flip rows in training": flip,
                    "permutations (main / ablation)": f"{args.permutations} / "
                                                      f"{args.ablation_permutations if abl else '-'}",
                    "inner grid": f"C {classify.C_GRID}, gamma {classify.GAMMA_SCALES} / n_features",
                    "seed": args.seed}
        if dataset:
            settings["dataset"] = (f"{'SYNTHETIC; ' * bool(dataset.get('synthetic'))}"
                                   f"{dataset.get('note', '')} ({dataset.get('source', '')})")
        report.write_report(out, main_results, table, labels, ablation, settings,
                            extras={"dataset": dataset, "screening": screening,
                                    "importance": importance, "predictions": preds})
        wall = time.perf_counter() - t0
        timing = dict(seconds, wall=wall)
        atomic_write(out / "timing.json", lambda p: p.write_text(json.dumps(timing, indent=2) + "\n"))
        for t, m in metrics.items():
            p = "n/a" if m["permutation_p"] is None else f"{m['permutation_p']:.3f}"
            print(f"{t:7s} accuracy {m['accuracy']:.3f} [{m['accuracy_ci95'][0]:.3f}, "
                  f"{m['accuracy_ci95'][1]:.3f}]  balanced {m['balanced_accuracy']:.3f}  "
                  f"macro-F1 {m['macro_f1']:.3f}  p {p}  n {m['n']}")
        print(f"report: {out / 'report.md'} ({wall:.1f} s)")
        if provenance.banner(dataset):
            print(provenance.banner(dataset))
        return metrics


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cdr-train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except CdrError as exc:
        print(f"cdr-train: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
