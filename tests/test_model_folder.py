"""One model folder, one training; stray columns and duplicate ids in the feature table.

Each fault is produced for real: a second training into the same folder, a model copied
in from another run, task files swapped, a file deleted, a run that fails, a table
saved with its row index or a merged label column.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from tables import make_feature_table

from cdr.cli import predict, train
from cdr.errors import ModelFileError
from cdr.model import store
from cdr.model.inference import Predictor

pytestmark = pytest.mark.usefixtures("stand_ins")  # cdr-predict checks that its recording exists

FAST = ["--permutations", "0", "--repeats", "1", "--jobs", "1"]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    table, labels = make_feature_table((6, 6, 4), signal={"coupling": 2.0}, seed=5)
    table.to_parquet(folder / "features.parquet")
    labels.reset_index().to_csv(folder / "labels.csv", index=False)
    return folder, table, labels


def _train(cohort, out, *extra) -> int:
    folder = cohort[0]
    return train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                       "-o", str(out), "--groups", "coupling,pupil", *FAST, *extra])


@pytest.fixture(scope="module")
def both(cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("both") / "model"
    assert _train(cohort, out) == 0
    return out


def _copy(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".lock"))
    return dst


def test_a_run_writes_a_manifest_binding_its_files(both):
    manifest = json.loads((both / "manifest.json").read_text())
    assert manifest["tasks"] == ["cdr3", "binary"]
    files = {p.name for p in both.iterdir() if p.is_file() and not p.name.startswith(".")}
    assert set(manifest["files"]) == files - {"manifest.json"}
    for task in manifest["tasks"]:
        card = json.loads((both / f"model_{task}.json").read_text())
        assert card["run_id"] == manifest["run_id"] and card["task"] == task
    assert set(Predictor.from_folder(both).models) == {"cdr3", "binary"}
    assert not list(both.glob(".staging-*"))


def test_retraining_one_task_removes_the_other_tasks_stale_model(cohort, both, tmp_path, capsys):
    out = _copy(both, tmp_path / "model")
    assert _train(cohort, out, "--task", "cdr3") == 0
    assert not (out / "model_binary.skops").exists() and not (out / "confusion_binary.png").exists()
    assert set(json.loads((out / "metrics.json").read_text())) >= {"cdr3", "confounds"}
    assert "binary" not in json.loads((out / "metrics.json").read_text())
    assert set(Predictor.from_folder(out).models) == {"cdr3"}


def test_a_model_copied_in_from_another_run_is_refused(cohort, both, tmp_path, capsys):
    other = tmp_path / "other"
    assert _train(cohort, other, "--task", "binary", "--groups", "voice") == 0
    capsys.readouterr()
    out = _copy(both, tmp_path / "model")
    shutil.copy(other / "model_binary.skops", out / "model_binary.skops")
    shutil.copy(other / "model_binary.json", out / "model_binary.json")
    assert predict.main(["clip.mp4", "--model", str(out)]) == 1
    line = capsys.readouterr().err.strip()
    assert line.count("\n") == 0 and "model_binary" in line and "changed since run" in line


@pytest.mark.parametrize("fault, words", [
    ("swap", "changed since run"),
    ("delete", "missing, but part of run"),
    ("extra", "model_old.skops not part of run"),
    ("no-manifest", "has model files but no manifest.json"),
])
def test_a_mixed_folder_is_refused_in_one_line(both, tmp_path, capsys, fault, words):
    out = _copy(both, tmp_path / "model")
    if fault == "swap":
        for ext in ("skops", "json"):
            a, b = out / f"model_cdr3.{ext}", out / f"model_binary.{ext}"
            a.rename(tmp_path / "tmp")
            b.rename(a)
            (tmp_path / "tmp").rename(b)
    elif fault == "delete":
        (out / "model_binary.skops").unlink()
    elif fault == "extra":
        shutil.copy(out / "model_binary.skops", out / "model_old.skops")
    else:
        (out / "manifest.json").unlink()
    with pytest.raises(ModelFileError, match=words):
        Predictor.from_folder(out)
    assert predict.main(["clip.mp4", "--model", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and words in err


def test_predict_waits_for_the_folder_lock_and_then_gives_up(both, tmp_path, monkeypatch, capsys):
    from filelock import FileLock

    from cdr.model import inference

    out = _copy(both, tmp_path / "model")
    monkeypatch.setattr(inference, "LOCK_WAIT_S", 0.2)
    with FileLock(str(out / ".lock")):  # as a cdr-train writing the folder holds it
        assert predict.main(["clip.mp4", "--model", str(out)]) == 1
    assert "a cdr-train is writing this folder" in capsys.readouterr().err


def test_a_failed_training_leaves_no_folder_behind(cohort, tmp_path, monkeypatch, capsys):
    from cdr.model import training

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training, "_save_final", fail)
    out = tmp_path / "new" / "model"
    with pytest.raises(OSError):
        _train(cohort, out)
    assert not out.exists()


def test_a_failed_retraining_keeps_the_previous_run_whole(cohort, both, tmp_path, monkeypatch):
    from cdr.model import training

    out = _copy(both, tmp_path / "model")
    before = (out / "manifest.json").read_bytes()
    monkeypatch.setattr("cdr.report.write_report", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        _train(cohort, out, "--task", "cdr3")
    assert (out / "manifest.json").read_bytes() == before
    assert set(Predictor.from_folder(out).models) == {"cdr3", "binary"}
    assert not list(out.glob(".staging-*"))


def test_stray_columns_are_ignored_with_one_line_naming_them(cohort, tmp_path, capsys):
    folder, table, labels = cohort
    leaky = table.copy()
    leaky["cdr"] = labels.loc[leaky.index.str.replace("#flip", ""), "cdr"].to_numpy()
    leaky.to_csv(tmp_path / "features.csv")  # the index saved as a column too:
    pd.read_csv(tmp_path / "features.csv").to_csv(tmp_path / "features.csv")  # 'Unnamed: 0'
    rc = train.main([str(tmp_path / "features.csv"), "--labels", str(folder / "labels.csv"),
                     "-o", str(tmp_path / "model"), *FAST])
    err = capsys.readouterr().err
    assert rc == 0
    assert "ignoring column(s) that are not <group>.<feature> of a known group: Unnamed: 0, cdr" in err
    card = json.loads((tmp_path / "model" / "model_cdr3.json").read_text())
    assert "cdr" not in card["feature_names"] and "Unnamed: 0" not in card["feature_names"]


def test_duplicate_video_ids_are_refused_up_front(cohort, tmp_path, capsys):
    folder, table, _ = cohort
    pd.concat([table, table.iloc[[3]]]).to_parquet(tmp_path / "dup.parquet")
    rc = train.main([str(tmp_path / "dup.parquet"), "--labels", str(folder / "labels.csv"),
                     "-o", str(tmp_path / "model"), *FAST])
    err = capsys.readouterr().err
    assert rc == 1 and f"video_id {table.index[3]} appear more than once" in err
    assert not (tmp_path / "model").exists()


def test_manifest_lists_every_file_and_refuses_an_edit(both, tmp_path):
    out = _copy(both, tmp_path / "model")
    (out / "metrics.json").write_text("{}")
    with pytest.raises(ModelFileError, match="metrics.json: changed since run"):
        store.check_folder(out)


def _fake_extractor(monkeypatch, row, seen):
    import sys
    import types

    module = types.ModuleType("cdr.extract")

    def extract_recording(path, video_id=None, *, scn=None, width=None, stride=1, face="auto", tracking=None):
        seen.update(width=width, stride=stride, face=face)
        return row.copy()

    module.extract_recording = extract_recording
    module.feature_names = lambda *, scn=None, device="auto": list(row.index)
    monkeypatch.setitem(sys.modules, "cdr.extract", module)


def test_predict_uses_the_models_extraction_options_or_names_the_one_that_differs(
        cohort, tmp_path, monkeypatch, capsys):
    from cdr import __version__

    folder, table, _ = cohort
    feats = tmp_path / "features"
    feats.mkdir()
    table.to_parquet(feats / "features.parquet")
    options = {"cdr_version": __version__, "width": 480, "stride": 2, "face": "left",
               "scn_sha256": None}
    (feats / "extraction.json").write_text(json.dumps(options))
    out = tmp_path / "model"
    assert train.main([str(feats / "features.parquet"), "--labels", str(folder / "labels.csv"),
                       "-o", str(out), "--task", "binary", "--groups", "coupling", *FAST]) == 0
    assert json.loads((out / "model_binary.json").read_text())["extraction"] == options
    seen = {}
    _fake_extractor(monkeypatch, table.iloc[0], seen)
    capsys.readouterr()
    assert predict.main(["clip.mp4", "--model", str(out), "--json"]) == 0
    assert seen == {"width": 480, "stride": 2, "face": "left"}  # as the training table was
    assert predict.main(["clip.mp4", "--model", str(out), "--scn", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "option scn_sha256 differs" in err and "--scn" in err
    options["cdr_version"] = "0.0.1"
    (feats / "extraction.json").write_text(json.dumps(options))
    assert train.main([str(feats / "features.parquet"), "--labels", str(folder / "labels.csv"),
                       "-o", str(out), "--task", "binary", "--groups", "coupling", *FAST]) == 0
    capsys.readouterr()
    assert predict.main(["clip.mp4", "--model", str(out)]) == 1
    assert "option cdr_version differs" in capsys.readouterr().err


def test_commands_stay_thin_and_light():
    """cli/train.py and cli/predict.py: short, no command imports another, --help imports nothing heavy."""
    import subprocess
    import sys
    from pathlib import Path

    from cdr.cli import train as train_cli
    from cdr.model import training

    assert (train_cli.REPEATS, train_cli.PERMUTATIONS, train_cli.ABLATION_PERMUTATIONS) == (
        training.DEFAULT_REPEATS, training.DEFAULT_PERMUTATIONS,
        training.DEFAULT_ABLATION_PERMUTATIONS)
    cli = Path(train_cli.__file__).parent
    for name in ("train.py", "predict.py"):
        assert len((cli / name).read_text().splitlines()) <= 120
    for path in cli.glob("*.py"):
        text = path.read_text()
        others = [m.stem for m in cli.glob("*.py") if m.stem not in ("__init__", path.stem)]
        assert not any(f"cli.{o} import" in text or f"from . import {o}" in text
                       or f"cli import {o}" in text for o in others), path
    code = ("import sys; from cdr.cli import train, predict; "
            "print(sorted(m for m in ('numpy', 'pandas', 'sklearn', 'scipy', 'torch') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_training_killed_mid_run_leaves_a_staging_folder_that_the_rerun_removes(cohort, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    folder = cohort[0]
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "cdr.cli.train", str(folder / "features.parquet"), "--labels",
           str(folder / "labels.csv"), "-o", str(out), "--groups", "coupling,pupil", "--jobs", "1"]
    proc = subprocess.Popen([*cmd, "--permutations", "99", "--repeats", "20"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None and not list(out.glob(".staging-*")):
            time.sleep(0.02)
        assert proc.poll() is None, "the training ended before its staging folder was seen"
        proc.send_signal(signal.SIGKILL)  # kill -9: no cleanup runs
        proc.wait()
    finally:
        proc.kill()
    assert list(out.glob(".staging-*"))
    assert subprocess.run([*cmd, *FAST], capture_output=True).returncode == 0
    assert not list(out.glob(".staging-*")) and (out / "manifest.json").is_file()
