"""Build the demo's SYNTHETIC cohort and expression set (cached; reruns are instant).

    python pipelines/demo_cohort/make.py -o data/demo [--config cdr/synth/demo.toml] [--jobs 2] [--null]

The default config, cdr/synth/demo.toml, is the one ``cdr-demo`` uses.

Writes OUT/cohort/ (videos, labels.csv, planted.csv, cohort.json) and OUT/expressions/
(imagefolder train/test), and prints the time each took.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

from cdr.synth.cohort import config_from_mapping, generate_cohort
from cdr.synth.expressions import build_expression_set

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "cdr" / "synth" / "demo.toml"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--null", action="store_true", help="set every effect size to 0 (the null cohort)")
    args = ap.parse_args(argv)
    cfg = tomllib.loads(args.config.read_text())
    cohort = dict(cfg["cohort"])
    if args.null:
        cohort["effects"] = {k: 0.0 for k in cohort.get("effects", {})}
    t0 = time.perf_counter()
    generate_cohort(args.out / "cohort", config_from_mapping(cohort), jobs=args.jobs, progress=True)
    t1 = time.perf_counter()
    ex = dict(cfg["expressions"])
    build_expression_set(args.out / "expressions", **{k: tuple(v) if isinstance(v, list) else v for k, v in ex.items()})
    t2 = time.perf_counter()
    print(f"cohort: {args.out / 'cohort'} ({t1 - t0:.1f} s)")
    print(f"expression set: {args.out / 'expressions'} ({t2 - t1:.1f} s)")


if __name__ == "__main__":
    main()
