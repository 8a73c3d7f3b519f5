"""Wall time of ``cdr-train --ablation`` on a synthetic 40-subject table, and its permutation share.

Defaults as shipped: 20 rebalanced draws per evaluation, 99 permutations for each task's
main result, 19 shared by the ablation rows and the qc-only (confound) model.

The table has the column counts cdr-extract writes (pupil 54, coupling 8, pose 10,
mfcc 156, gemaps 88, voice 6, plus expr 24 as with an SCN checkpoint), a mirrored
``#flip`` row per video, 17/19/4 subjects with CDR 0.5/1/2, and one group
(coupling) carrying the class.  cdr-train runs as users run it (a subprocess),
once with the default permutations and once with none; the permutation share is
taken both from the CPU time the workers report (timing.json) and from the
difference of the two wall times.

    .venv/bin/python benchmarks/train_speed.py [--jobs 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tables import make_feature_table  # noqa: E402


def run_train(features: Path, labels: Path, out: Path, jobs: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "cdr.cli.train", str(features), "--labels", str(labels),
           "-o", str(out), "--ablation", "--jobs", str(jobs), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    timing = json.loads((out / "timing.json").read_text())
    return dict(timing, wall_process=wall)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, help="keep the outputs here (default: a temp dir)")
    args = ap.parse_args(argv)
    root = args.out or Path(tempfile.mkdtemp(prefix="cdr-train-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    table, labels = make_feature_table(signal={"coupling": 1.0}, flip=True, expr=True,
                                                seed=0)
    table.to_parquet(root / "features.parquet")
    labels.reset_index().to_csv(root / "labels.csv", index=False)
    load0 = os.getloadavg()[0]
    full = run_train(root / "features.parquet", root / "labels.csv", root / "full", args.jobs, [])
    bare = run_train(root / "features.parquet", root / "labels.csv", root / "bare", args.jobs,
                     ["--permutations", "0", "--ablation-permutations", "0"])
    load1 = os.getloadavg()[0]
    cpu = full["real"] + full["permutations"]
    rows = [
        ("cdr-train --ablation (defaults: 20 draws; 99 main / 19 shared ablation permutations)",
         full["wall_process"], cpu),
        ("same with --permutations 0 --ablation-permutations 0 (qc-only model keeps 19)",
         bare["wall_process"],
         bare["real"] + bare["permutations"]),
    ]
    print(f"table: {len(table)} rows ({(~table.index.str.endswith('#flip')).sum()} videos + "
          f"flips) x {table.shape[1]} columns; --jobs {args.jobs}; cpu_count {os.cpu_count()}; "
          f"load average {load0:.1f} -> {load1:.1f}")
    print("| run | wall s (whole command) | CPU s in evaluation workers |")
    print("|---|---:|---:|")
    for name, wall, c in rows:
        print(f"| {name} | {wall:.1f} | {c:.1f} |")
    print(f"permutation share: {100 * full['permutations'] / cpu:.0f}% of worker CPU time; "
          f"{100 * (1 - bare['wall_process'] / full['wall_process']):.0f}% of wall time")
    print(f"outputs in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
