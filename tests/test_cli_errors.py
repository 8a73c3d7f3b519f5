"""Bad command-line inputs: one line naming the file and what to do, a sensible status, nothing half-written.

Covers what the batch test (test_reliability.py) cannot: the single-file command
cdr-predict, cdr-train's feature table and output folder, cdr-extract's output
folder, and cdr-scn-train's data and output folder.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tables import make_feature_table
from cdr.cli import predict, scn_train, train
from cdr.cli.extract import main as extract_main
from cdr.extract import feature_names


def one_line(err: str, prog: str) -> str:
    """The single message line of ``prog`` on stderr; fails on a traceback or several lines."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(f"{prog}:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def wav(tmp_path_factory, arctic_audio) -> Path:
    """A 4 s speech recording with no video, alone in its folder."""
    import soundfile as sf

    path = tmp_path_factory.mktemp("audio") / "speech only.wav"
    sf.write(path, arctic_audio[0], arctic_audio[1])
    return path


def _train(folder: Path, table: pd.DataFrame, cdr: list[float], groups: str) -> Path:
    table.to_parquet(folder / "features.parquet")
    pd.DataFrame({"video_id": table.index, "cdr": cdr}).to_csv(folder / "labels.csv", index=False)
    assert train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                       "-o", str(folder / "model"), "--task", "cdr3", "--groups", groups,
                       "--permutations", "0", "--repeats", "2", "--jobs", "1"]) == 0
    return folder / "model"


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A cdr3 model on the columns cdr-extract writes (values are noise: only the plumbing matters)."""
    names = feature_names()
    cdr = [0.5] * 6 + [1.0] * 6 + [2.0] * 4
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(len(cdr), len(names))), columns=names,
                         index=pd.Index([f"s{i:02d}" for i in range(len(cdr))], name="video_id"))
    return _train(tmp_path_factory.mktemp("model"), table, cdr, "pupil,mfcc")


@pytest.fixture(scope="module")
def foreign_model(tmp_path_factory) -> Path:
    """A model trained on columns cdr-extract never writes (``pupil.f0`` ...)."""
    table, labels = make_feature_table((4, 4, 3), seed=2)
    return _train(tmp_path_factory.mktemp("foreign"), table, list(labels.cdr), "pupil")


# ---------------------------------------------------------------- cdr-predict

@pytest.mark.parametrize("make, status, words", [
    (lambda p: p.write_bytes(b""), 1, ["is empty (0 bytes)", "copy the recording again"]),
    (lambda p: p.write_text("not a video\n" * 10), 1, ["not a readable media file", "re-encode"]),
    (lambda p: p.mkdir(), 1, ["is a folder", "scores one recording, pass a video or audio file"]),
    (lambda p: None, 1, ["does not exist", "fix or remove"]),
], ids=["zero-byte", "text-as-mp4", "folder", "missing"])
def test_predict_refuses_unusable_files(model, tmp_path, capsys, make, status, words):
    path = tmp_path / "visit 1.mp4"
    make(path)
    assert predict.main([str(path), "--model", str(model)]) == status
    captured = capsys.readouterr()
    line = one_line(captured.err, "cdr-predict")
    assert str(path) in line and all(w in line for w in words), line
    assert captured.out == ""


def test_predict_refuses_a_still_image(model, tmp_path, capsys):
    path = tmp_path / "photo.mov"
    ok, png = cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))
    path.write_bytes(png.tobytes())  # a PNG image under a video name
    assert predict.main([str(path), "--model", str(model)]) == 1
    line = one_line(capsys.readouterr().err, "cdr-predict")
    assert f"{path}: is a still image (png), not a recording" in line


def test_predict_audio_only_is_scored_on_speech_or_refused_when_short(model, wav, capsys):
    assert predict.main([str(wav), "--model", str(model)]) == predict.EXIT_QC
    line = one_line(capsys.readouterr().err, "cdr-predict")
    assert "it lasts 4.0 s, less than the 10 s needed; score a recording of at least 10 s" in line
    assert predict.main([str(wav), "--model", str(model), "--json", "--min-duration", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    cdr3 = out["tasks"]["cdr3"]
    assert out["qc"]["qc.video_present"] == 0 and out["qc"]["qc.audio_present"] == 1
    assert cdr3["missing_groups"] == ["pupil"]   # no video: imputed, and said so
    assert sum(cdr3["probabilities"].values()) == pytest.approx(1.0)


def test_predict_refuses_a_model_on_columns_the_extractor_does_not_write(foreign_model, wav,
                                                                          capsys):
    rc = predict.main([str(wav), "--model", str(foreign_model), "--min-duration", "3"])
    captured = capsys.readouterr()
    assert rc == 1 and captured.out == ""
    line = one_line(captured.err, "cdr-predict")
    assert f"{foreign_model / 'model_cdr3.skops'}: 54 of its 54 features are not computed" in line
    assert "(pupil.f0, pupil.f1, pupil.f2, ...)" in line and "retrain it with cdr-train" in line
    # Checked before extraction: a file that is no recording is not even opened.
    not_media = wav.parent / "not-media.mp4"
    not_media.write_text("not a video\n")
    assert predict.main([str(not_media), "--model", str(foreign_model)]) == 1
    assert "features are not computed" in one_line(capsys.readouterr().err, "cdr-predict")


def test_predict_checks_the_recordings_path_before_loading_models(foreign_model, tmp_path, capsys,
                                                                  monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "cdr.model.inference", raising=False)
    assert predict.main([str(tmp_path / "never-written.mp4"), "--model", str(foreign_model)]) == 1
    line = one_line(capsys.readouterr().err, "cdr-predict")
    assert f"{tmp_path / 'never-written.mp4'}: does not exist" in line
    assert "cdr.model.inference" not in sys.modules  # answered before the model library loaded


# ---------------------------------------------------------------- cdr-train

@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cohort")
    table, labels = make_feature_table((4, 4, 3), seed=3)
    table.to_parquet(folder / "features.parquet")
    labels.reset_index()[["video_id", "cdr"]].to_csv(folder / "labels.csv", index=False)
    return folder, table


def _train_error(features, labels, out, capsys, *extra) -> str:
    rc = train.main([str(features), "--labels", str(labels), "-o", str(out), "--task", "cdr3",
                     "--permutations", "0", "--repeats", "2", "--jobs", "1", *extra])
    captured = capsys.readouterr()
    assert rc == 1, captured
    return one_line(captured.err, "cdr-train: error")


@pytest.mark.parametrize("damage, words", [
    (lambda b: b[: len(b) // 2], "cannot be read as a feature table (Could not open Parquet"),
    (lambda b: b"PAR1" + b"\x00" * 200, "cannot be read as a feature table"),
    (lambda b: b"", "cannot be read as a feature table"),
], ids=["truncated", "corrupt", "zero-byte"])
def test_train_refuses_a_damaged_feature_table(cohort, tmp_path, capsys, damage, words):
    folder, _ = cohort
    bad = tmp_path / "features.parquet"
    bad.write_bytes(damage((folder / "features.parquet").read_bytes()))
    line = _train_error(bad, folder / "labels.csv", tmp_path / "out", capsys)
    assert f"{bad}: {words}" in line and "pass the features.parquet" in line
    assert not (tmp_path / "out").exists()


def test_train_names_non_numeric_columns(cohort, tmp_path, capsys):
    folder, table = cohort
    bad = table.astype(object)
    bad.loc["s001", "pupil.f3"] = "n/a?"
    bad.to_csv(tmp_path / "features.csv")
    line = _train_error(tmp_path / "features.csv", folder / "labels.csv", tmp_path / "out", capsys)
    assert f"{tmp_path / 'features.csv'}: column pupil.f3 not numeric (e.g. 'n/a?')" in line
    assert "fix those cells" in line and not (tmp_path / "out").exists()


def test_train_refuses_a_table_without_features(cohort, tmp_path, capsys):
    folder, table = cohort
    table.filter(like="qc.").to_parquet(tmp_path / "qc.parquet")
    line = _train_error(tmp_path / "qc.parquet", folder / "labels.csv", tmp_path / "out", capsys)
    assert f"{tmp_path / 'qc.parquet'}: has no feature columns" in line


def test_train_refuses_a_table_where_nothing_was_measured(cohort, tmp_path, capsys):
    folder, table = cohort
    empty = table.copy()
    empty.loc[:, ~empty.columns.str.startswith("qc.")] = np.nan
    empty.to_parquet(tmp_path / "nan.parquet")
    line = _train_error(tmp_path / "nan.parquet", folder / "labels.csv", tmp_path / "out", capsys)
    assert "every value of the feature group(s) pupil, coupling" in line
    assert "check failures.csv" in line and not (tmp_path / "out").exists()


def test_train_warns_about_a_group_with_no_value_and_goes_on(cohort, tmp_path, capsys):
    folder, table = cohort
    part = table.copy()
    part.loc[:, part.columns.str.startswith("voice.")] = np.nan
    part.to_parquet(tmp_path / "part.parquet")
    assert train.main([str(tmp_path / "part.parquet"), "--labels", str(folder / "labels.csv"),
                       "-o", str(tmp_path / "out"), "--task", "cdr3", "--groups", "pose,voice",
                       "--permutations", "0", "--repeats", "2", "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert "group(s) voice have no value in any row" in err
    assert (tmp_path / "out" / "model_cdr3.skops").exists()


@pytest.mark.parametrize("text, words", [
    ("", "the file is empty; it needs the header 'video_id,cdr'"),
    ("video_id,cdr\n", "the file has a header but no rows"),
], ids=["empty", "header-only"])
def test_train_refuses_an_empty_labels_file(cohort, tmp_path, capsys, text, words):
    folder, _ = cohort
    (tmp_path / "labels.csv").write_text(text)
    line = _train_error(folder / "features.parquet", tmp_path / "labels.csv", tmp_path / "out",
                        capsys)
    assert f"{tmp_path / 'labels.csv'}: 1 problem in the labels file" in line and words in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_train_checks_its_output_folder_before_evaluating(cohort, tmp_path, capsys, where):
    folder, _ = cohort
    (tmp_path / "taken").write_text("keep me\n")
    out = tmp_path / "taken" if where == "file" else tmp_path / "taken" / "model"
    line = _train_error(folder / "features.parquet", folder / "labels.csv", out, capsys)
    assert f"{out}: cannot be used as the output folder" in line
    assert "pass -o a folder you can write to" in line
    assert (tmp_path / "taken").read_text() == "keep me\n"


# ---------------------------------------------------------------- cdr-extract

@pytest.mark.parametrize("where", ["file", "under-a-file"])
def test_extract_refuses_an_output_that_is_a_file(wav, tmp_path, capsys, where):
    (tmp_path / "taken").write_text("keep me\n")
    out = tmp_path / "taken" if where == "file" else tmp_path / "taken" / "out"
    assert extract_main([str(wav.parent), "-o", str(out), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err, "cdr-extract")
    reason = "it is a file, not a folder" if where == "file" else "it cannot be created: Not a directory"
    assert line == (f"cdr-extract: {out}: cannot be used as the output folder ({reason}); "
                    "pass -o a folder you can write to")
    assert (tmp_path / "taken").read_text() == "keep me\n"


def test_extract_refuses_an_output_folder_it_cannot_write(wav, tmp_path):
    """Read-only for everyone: chmod as a user; a read-only bind mount (mount namespace) as root."""
    out = tmp_path / "out"
    out.mkdir()
    cmd = [sys.executable, "-m", "cdr.cli.extract", str(wav.parent), "-o", str(out), "--quiet"]
    if os.geteuid() != 0:
        out.chmod(0o555)
        reason = "Permission denied"
    else:
        if shutil.which("unshare") is None:
            pytest.skip("running as root and unshare is missing: no way to make a folder read-only")
        mount = f"mount --bind -o ro {shlex.quote(str(out))} {shlex.quote(str(out))}"
        probe = subprocess.run(["unshare", "-m", "sh", "-c", f"{mount} && touch {shlex.quote(str(out / 'x'))}"],
                               capture_output=True, text=True)
        if "Read-only file system" not in probe.stderr:
            pytest.skip(f"running as root and no read-only bind mount here: {probe.stderr.strip()[:200]}")
        cmd = ["unshare", "-m", "sh", "-c", f"{mount} && exec {shlex.join(cmd)}"]
        reason = "Read-only file system"
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        out.chmod(0o755)
    assert r.returncode == 2, r.stderr
    line = one_line(r.stderr, "cdr-extract")
    assert line == (f"cdr-extract: {out}: cannot be used as the output folder (it is not "
                    f"writable: {reason}); pass -o a folder you can write to")
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("make", [lambda p: p.write_text("x"), lambda p: None], ids=["file", "missing"])
def test_extract_refuses_an_input_that_is_not_a_folder(tmp_path, capsys, make):
    make(tmp_path / "in")
    assert extract_main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--quiet"]) == 2
    line = one_line(capsys.readouterr().err, "cdr-extract")
    assert line == f"cdr-extract: {tmp_path / 'in'}: not a folder; pass the folder that holds the recordings"
    assert not (tmp_path / "out").exists()


def test_extract_says_so_when_no_recording_could_be_processed(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"")
    (tmp_path / "in" / "b.mov").write_text("not a video\n")
    assert extract_main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (f"cdr-extract: none of the 2 recordings could be processed; "
                                    f"see {tmp_path / 'out' / 'failures.csv'} for what to do with each")
    fails = pd.read_csv(tmp_path / "out" / "failures.csv")
    assert list(fails.video_id) == ["a", "b"] and fails.error.str.contains("in/").all()
    assert len(pd.read_parquet(tmp_path / "out" / "features.parquet")) == 0


# ---------------------------------------------------------------- cdr-scn-train

def _images(root: Path, bad: str | None = None) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("happy", "sad"):
            (root / split / cls).mkdir(parents=True)
            for i in range(2):
                cv2.imwrite(str(root / split / cls / f"{i}.png"), rng.integers(0, 255, (40, 40, 3), np.uint8))
    if bad:
        (root / bad).write_text("not an image\n")
    return root


SCN_FAST = ["--epochs", "1", "--batch-size", "2", "--image-size", "32", "--device", "cpu"]


def test_scn_train_on_an_empty_folder(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert scn_train.main([str(tmp_path / "data"), "-o", str(tmp_path / "ck"), *SCN_FAST]) == 2
    line = one_line(capsys.readouterr().err, "cdr-scn-train: error")
    assert f"{tmp_path / 'data' / 'train'}: missing; the imagefolder layout is DATA/train/<class>/*" in line
    assert not (tmp_path / "ck").exists()


def test_scn_train_names_an_unreadable_image_read_in_a_loader_process(tmp_path, capsys):
    data = _images(tmp_path / "data", bad="train/sad/broken.png")
    rc = scn_train.main([str(data), "-o", str(tmp_path / "ck"), *SCN_FAST, "--workers", "1"])
    line = one_line(capsys.readouterr().err, "cdr-scn-train: error")
    assert rc == 2
    assert line == (f"cdr-scn-train: error: {data / 'train' / 'sad' / 'broken.png'}: not a readable "
                    "image; remove it or replace it")
    assert not (tmp_path / "ck" / "model.pt").exists()


def test_scn_train_checks_its_output_folder_before_training(tmp_path, capsys):
    data = _images(tmp_path / "data")
    (tmp_path / "ck").write_text("keep me\n")
    assert scn_train.main([str(data), "-o", str(tmp_path / "ck"), *SCN_FAST]) == 2
    captured = capsys.readouterr()
    assert "epoch" not in captured.out   # refused before the first epoch
    line = one_line(captured.err, "cdr-scn-train: error")
    assert f"{tmp_path / 'ck'}: cannot be used as the output folder (it is a file" in line
    assert (tmp_path / "ck").read_text() == "keep me\n"


def test_train_refuses_a_model_dir_another_run_is_writing(cohort, tmp_path, capsys):
    from cdr.outdir import output_lock

    folder, _ = cohort
    out = tmp_path / "model"
    with output_lock(out, command="cdr-train"):
        line = _train_error(folder / "features.parquet", folder / "labels.csv", out, capsys)
    assert f"{out}: another cdr-train is writing to this folder" in line
    assert sorted(p.name for p in out.iterdir()) == [".lock"]
