"""How fast every command answers when there is nothing to compute: ``--help``, a bad path.

Each case runs the command in a fresh process (``python -m cdr.cli.<name>``), as a
user's shell would, ``--repeat`` times; the table gives the median wall time and
whether it is within the 1-s target. The load average is printed with it, since
these are wall-clock figures. Usage::

    .venv/bin/python benchmarks/cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 1.0


def cases(tmp: Path, model: Path) -> list[tuple[str, list[str], int]]:
    """(label, arguments after ``-m``, the exit status expected); ``model``: a real model folder."""
    missing = tmp / "missing"
    return [
        ("python -c pass (the interpreter alone: the floor)", ["-c", "pass"], 0),
        ("cdr-extract --help", ["cdr.cli.extract", "--help"], 0),
        ("cdr-extract, missing folder", ["cdr.cli.extract", str(missing), "-o", str(tmp / "out")], 2),
        ("cdr-train --help", ["cdr.cli.train", "--help"], 0),
        ("cdr-train, missing table", ["cdr.cli.train", str(missing / "features.parquet"), "--labels",
                                      str(missing / "labels.csv"), "-o", str(tmp / "model")], None),
        ("cdr-predict --help", ["cdr.cli.predict", "--help"], 0),
        ("cdr-predict, missing recording and model folder", ["cdr.cli.predict", str(missing / "p01.mp4"), "--model",
                                            str(missing / "model")], None),
        ("cdr-predict, missing recording beside a real model folder",
         ["cdr.cli.predict", str(missing / "p01.mp4"), "--model", str(model)], None),
        ("cdr-scn-train --help", ["cdr.cli.scn_train", "--help"], 0),
        ("cdr-scn-train, missing data", ["cdr.cli.scn_train", str(missing), "-o", str(tmp / "ck")], 2),
        ("cdr-demo --help", ["cdr.cli.demo", "--help"], 0),
        ("cdr-demo, unknown option", ["cdr.cli.demo", "--no-such-option"], 2),
    ]


def time_case(args: list[str]) -> tuple[float, int, str]:
    t0 = time.perf_counter()
    cmd = [sys.executable, *args] if args[0] == "-c" else [sys.executable, "-m", *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - t0, p.returncode, (p.stderr.strip().splitlines() or [""])[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    load = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(Path(__file__).parent))
        from long_recording import toy_model

        model = toy_model(Path(tmp))
        for label, argv, expected in cases(Path(tmp), model):
            runs = [time_case(argv) for _ in range(args.repeat)]
            rc, last = runs[-1][1], runs[-1][2]
            if expected is not None and rc != expected:
                raise SystemExit(f"{label}: exit status {rc}, expected {expected}: {last}")
            if expected is None and rc == 0:
                raise SystemExit(f"{label}: exit status 0 on a bad path")
            rows.append((label, statistics.median(r[0] for r in runs), max(r[0] for r in runs), rc))
    print(f"\n{args.repeat} runs each, fresh process; load average {load[0]:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores\n")
    print("| command | median (s) | slowest (s) | exit | ≤ 1 s |")
    print("|---|---:|---:|---:|:---:|")
    for label, med, worst, rc in rows:
        print(f"| {label} | {med:.2f} | {worst:.2f} | {rc} | {'yes' if med <= TARGET_S else 'no'} |")


if __name__ == "__main__":
    main()
