"""``cdr-train FEATURES --labels LABELS -o MODEL_DIR``: evaluate and train CDR classifiers.

Evaluates each task by rebalanced leave-one-subject-out, repeated over random draws, with
intervals and a permutation test; checks whether recording conditions alone predict the
class; optionally runs the study's ablation over feature-group sets; fits the final model
of each task on every subject; and writes report.md, report.html, metrics.json,
predictions.csv, confusion_<task>.png, reliability_<task>.png, model_<task>.skops (+ its
.json card), ablation.csv (with --ablation) and manifest.json.
"""

from __future__ import annotations

import argparse
import sys

from cdr.cli import describe

REPEATS, PERMUTATIONS, ABLATION_PERMUTATIONS = 20, 99, 19  # as cdr.model.training's defaults


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cdr-train", description=describe(__doc__))
    p.add_argument("features", help="features.parquet (or .csv) from cdr-extract")
    p.add_argument("--labels", required=True, help="CSV: video_id, cdr[, subject_id]")
    p.add_argument("-o", "--out", required=True, metavar="MODEL_DIR",
                   help="output folder (created); a rerun replaces the previous run's files")
    p.add_argument("--task", choices=["cdr3", "binary", "both"], default="both")
    p.add_argument("--groups", help="comma-separated feature groups (default: every group "
                                    "present except qc)")
    p.add_argument("--estimator", choices=["svm", "ordinal"], default="svm",
                   help="svm: RBF SVM; ordinal: Frank & Hall ordinal model of SVMs, which "
                        "uses the order CDR 0.5 < 1 < 2 (default %(default)s)")
    p.add_argument("--ablation", action="store_true",
                   help="also evaluate the study's feature-group sets")
    p.add_argument("--repeats", type=int, default=REPEATS,
                   help="rebalanced draws per evaluation; figures are their means "
                        "(default %(default)s)")
    p.add_argument("--permutations", type=int, default=PERMUTATIONS,
                   help="label permutations for each task's p-value (default %(default)s)")
    p.add_argument("--ablation-permutations", type=int, default=ABLATION_PERMUTATIONS,
                   help="permutations shared by the ablation rows (default %(default)s; the "
                        "qc-only model gets at least 19)")
    p.add_argument("--no-flip", action="store_true",
                   help="ignore <id>#flip rows in the main evaluation")
    p.add_argument("--jobs", type=int, default=-1,
                   help="worker processes (default -1: one per CPU core)")
    p.add_argument("--seed", type=int, default=0,
                   help="fixes every random choice: draws, calibration folds, permutations, "
                        "bootstrap")
    return p


def _print_summary(metrics: dict) -> None:
    for t in ("cdr3", "binary"):
        if t not in metrics:
            continue
        m = metrics[t]
        p = "n/a" if m["permutation_p"] is None else f"{m['permutation_p']:.3f}"
        lo, hi = m["balanced_accuracy_ci95"]
        print(f"{t:7s} balanced accuracy {m['balanced_accuracy']:.3f} [{lo:.3f}, {hi:.3f}] "
              f"(SD {m['balanced_accuracy_sd']:.3f} over {m['repeats']} draws)  accuracy "
              f"{m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  p {p}  n {m['n']}")
    if metrics["confounds"]:
        names = sorted({c["column"] for c in metrics["confounds"]})
        print(f"WARNING: recording conditions predict the class: {'; '.join(names)} "
              "(see the top of the report)")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``cdr-train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    from pathlib import Path

    # before the model library's imports, so that a wrong path answers at once
    for path, fix in ((args.features, "pass the features.parquet written by cdr-extract"),
                      (args.labels, "pass the labels CSV with --labels")):
        if not Path(path).is_file():
            print(f"cdr-train: error: {path}: not found; {fix}", file=sys.stderr)
            return 1
    from cdr.errors import CdrError
    from cdr.model.training import TrainOptions, train
    from cdr.parallel import interruptible, local_workers

    opts = TrainOptions(task=args.task, groups=args.groups, ablation=args.ablation,
                        permutations=args.permutations,
                        ablation_permutations=args.ablation_permutations, repeats=args.repeats,
                        estimator=args.estimator, no_flip=args.no_flip, jobs=args.jobs,
                        seed=args.seed)
    try:
        with interruptible("cdr-train", then="every file written is whole; rerun the same command to train again"), \
                local_workers():
            metrics = train(args.features, args.labels, args.out, opts)
    except CdrError as exc:
        print(f"cdr-train: error: {exc}", file=sys.stderr)
        return 1
    _print_summary(metrics)
    print(f"report: {Path(args.out) / 'report.md'}")
    from cdr.provenance import banner

    if banner(metrics.get("dataset")):
        print(banner(metrics["dataset"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
