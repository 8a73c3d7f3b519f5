"""``cdr-demo -o DIR``: the whole pipeline on the built-in synthetic cohort.

SYNTHETIC DATA: every recording the demo makes is rendered from public
photographs, with synthetic or public-domain speech; none is a patient.

Stages (each is cached in ``DIR``, so a second run reuses what is done):

1. generate the cohort (40 subjects, CDR 0.5/1/2 = 17/19/4) and an expression set;
2. train a small Self-Cure Network on the expression set;
3. ``cdr-extract`` every video but one held-out subject's, with flip augmentation;
4. ``cdr-train --ablation`` on them;
5. ``cdr-predict`` the held-out subject's video, which the final model never saw;
6. print the ablation table and the report's path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas loads in main(), so that --help answers at once
    import pandas as pd

from . import describe

CONFIG = Path(__file__).resolve().parents[1] / "synth" / "demo.toml"


def _stage(name: str, timings: dict[str, float]):
    class _Timer:
        def __enter__(self):
            print(f"\n== {name}", flush=True)
            self.t0 = time.perf_counter()

        def __exit__(self, *exc):
            timings[name] = time.perf_counter() - self.t0

    return _Timer()


def _held_out_subject(labels: pd.DataFrame) -> str:
    """A CDR 1 subject, chosen by a fixed rule: the last in sort order."""
    return sorted(labels.loc[labels["cdr"] == 1, "subject_id"])[-1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="cdr-demo", description=describe(__doc__))
    ap.add_argument("-o", "--out", metavar="DIR", default="demo-out", help="folder for everything the demo makes (default demo-out)")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    ap.add_argument("--config", type=Path, default=CONFIG, help="cohort config (TOML)")
    ap.add_argument("--permutations", type=int, default=99, help="label permutations for the p-values")
    ap.add_argument("--repeats", type=int, default=5,
                    help="rebalanced draws per evaluation (default 5, to keep the demo short; cdr-train's "
                    "default is 20)")
    ap.add_argument("--scn-epochs", type=int, default=6, help="epochs of the demo expression network")
    args = ap.parse_args(argv)

    import pandas as pd

    from ..errors import CdrError
    from ..extract import extract_recording
    from ..model.inference import Predictor, quality_problem
    from ..model.readout import readout, text
    from ..model.training import TrainOptions, train
    from ..outdir import make_output_folder
    from ..report_sections import held_out_sentence
    from ..scn.data import load_dataset
    from ..scn.train import SCNTrainer, TrainConfig
    from ..synth.cohort import config_from_mapping, generate_cohort
    from ..synth.expressions import build_expression_set
    from ..table import extract_folder

    out = Path(args.out)
    cfg = tomllib.loads(args.config.read_text())
    timings: dict[str, float] = {}
    t_start = time.perf_counter()

    with _stage("1/5 synthetic cohort (reused when already made)", timings):
        cohort = out / "cohort"
        generate_cohort(cohort, config_from_mapping(dict(cfg["cohort"])), jobs=args.jobs, progress=True)
        ex = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg["expressions"].items()}
        build_expression_set(out / "expressions", **ex)
        labels = pd.read_csv(cohort / "labels.csv")
        print(f"{len(labels)} videos of {labels['subject_id'].nunique()} subjects in {cohort} "
              f"(CDR counts {labels.groupby('cdr')['subject_id'].nunique().to_dict()}); SYNTHETIC")

    with _stage("2/5 expression network (cdr-scn-train)", timings):
        scn = out / "scn"
        if (scn / "model.pt").exists():
            print(f"reusing {scn}")
        else:
            config = TrainConfig(epochs=args.scn_epochs, image_size=64, seed=0)
            trainer = SCNTrainer(config, load_dataset(out / "expressions", "imagefolder"))
            trainer.fit(log=lambda line: print(line, flush=True))
            trainer.save(make_output_folder(scn))

    held = _held_out_subject(labels)
    held_rows = labels[labels["subject_id"] == held]
    train_rows = labels[labels["subject_id"] != held]
    videos = out / "train-videos"
    videos.mkdir(parents=True, exist_ok=True)
    for vid in train_rows["video_id"]:
        link = videos / f"{vid}.mp4"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to((cohort / "videos" / f"{vid}.mp4").resolve())
    (videos / "dataset.json").write_text(  # cdr-extract carries this note to the model and report
        json.dumps({k: v for k, v in json.loads((cohort / "cohort.json").read_text()).items()
                    if k in ("synthetic", "note")}, indent=2) + "\n")
    train_labels = out / "train-labels.csv"
    train_rows.to_csv(train_labels, index=False)

    with _stage("3/5 cdr-extract (all groups, --augment flip)", timings):
        s = extract_folder(videos, out / "features", jobs=args.jobs, scn=str(scn), augment=("flip",))
        print(f"{s.n_done} extracted, {s.n_cached} reused, {len(s.failures)} failed -> {s.table_path}")

    with _stage("4/5 cdr-train --ablation", timings):
        model = out / "model"
        try:
            metrics = train(s.table_path, train_labels, model,
                            TrainOptions(ablation=True, permutations=args.permutations,
                                         repeats=args.repeats, jobs=args.jobs,
                                         dataset={"synthetic": True, "source": "cdr-demo"}))
        except CdrError as exc:
            print(f"cdr-demo: error: {exc}", file=sys.stderr)
            return 1
        for t in ("cdr3", "binary"):
            m = metrics[t]
            print(f"{t:7s} balanced accuracy {m['balanced_accuracy']:.3f} "
                  f"[{m['balanced_accuracy_ci95'][0]:.3f}, {m['balanced_accuracy_ci95'][1]:.3f}]"
                  f"  p {m['permutation_p']:.3f}")

    with _stage(f"5/5 cdr-predict on held-out subject {held} (true CDR {held_rows['cdr'].iloc[0]:g})", timings):
        video = cohort / "videos" / f"{held_rows['video_id'].iloc[0]}.mp4"
        predictor = Predictor.from_folder(model)
        row = extract_recording(video, scn=str(scn))
        reason = quality_problem(row)
        if reason:
            print(f"{video}: refused by quality control: {reason}")
        else:
            qc = {str(k): v for k, v in row.items() if str(k).startswith("qc.")}
            scored = readout(video, row, predictor.predict(row),
                             {t: card for t, (_, card, _) in predictor.models.items()}, qc)
            print(text(scored))
            true_cdr = float(held_rows["cdr"].iloc[0])
            oof = pd.read_csv(model / "predictions.csv",
                              dtype={"true_class": str, "predicted_class": str})
            print(f"\nheld-out subject {held}, never seen in training:")
            for task, r in scored["tasks"].items():
                true = {"cdr3": f"{true_cdr:g}", "binary": "0.5" if true_cdr == 0.5 else ">=1"}[task]
                print("  " + held_out_sentence(r["predicted_cdr"], true, oof, task))

    from ..synth.checks import gemaps_follows_interviewer

    follow = gemaps_follows_interviewer(pd.read_parquet(s.table_path), pd.read_csv(cohort / "planted.csv"),
                                        cohort / "videos")
    lines = ["", "## Does gemaps. follow the interviewer? (SYNTHETIC cohort)", "",
             "Spearman correlation of the eGeMAPS F0 mean with the interviewer's voice (drawn independently "
             "of class) and with the patient's own planted pitch:", "",
             "| measured on | rho with interviewer | p | rho with patient's pitch | n |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['measured on']} | {r['rho_interviewer']:.2f} | {r['p']:.3f} | {r['rho_patient_pitch']:.2f} | "
              f"{r['n']} |" for _, r in follow.iterrows()]
    with open(model / "report.md", "a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    ablation = pd.read_csv(model / "ablation.csv")
    table = pd.DataFrame({
        "features": ablation["set"], "task": ablation["task"], "n": ablation["n"],
        "balanced acc [95% CI]": [f"{a:.2f} [{lo:.2f}, {hi:.2f}]" for a, lo, hi in ablation[
            ["balanced_accuracy", "balanced_accuracy_ci_low", "balanced_accuracy_ci_high"]].to_numpy()],
        "perm. p": ablation["permutation_p"].map("{:.2f}".format),
        "p (family-wise)": ablation["permutation_p_fwe"].map("{:.2f}".format),
    })
    print("\n== ablation (rebalanced leave-one-subject-out, SYNTHETIC cohort; p from "
          f"{int(ablation['permutations'].max())} permutations shared by the rows; the best "
          "row is exploratory)")
    print(table.to_string(index=False))
    print("\n== does gemaps. follow the interviewer? (F0 mean, Spearman rho; SYNTHETIC cohort)")
    print(follow.round(3).to_string(index=False))
    print("\n== time per stage")
    for name, secs in timings.items():
        print(f"  {name:55s} {secs:7.1f} s")
    print(f"  {'total':55s} {time.perf_counter() - t_start:7.1f} s")
    print(f"\nreport: {model / 'report.html'}  ({model / 'report.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
