"""cdr-train and cdr-predict end to end on a synthetic feature table with a planted group."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pandas as pd
import pytest
from conftest import cohort_around

from tables import make_feature_table

from cdr.cli import predict, train
from cdr.model import store as modelio
from cdr.model.inference import quality_problem
from cdr.model.tasks import feature_columns

pytestmark = pytest.mark.usefixtures("stand_ins")  # cdr-predict checks that its recording exists


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """40 training subjects (17/19/4) and 6 held out; only ``coupling`` carries the class."""
    folder = tmp_path_factory.mktemp("cohort")
    table, labels = make_feature_table((19, 21, 6), signal={"coupling": 2.0}, seed=21)
    held = [v for cdr in (0.5, 1.0, 2.0) for v in labels.index[labels.cdr == cdr][:2]]
    table.loc["s005", [c for c in table.columns if c.startswith("pupil.")]] = np.nan
    table.drop(held).to_parquet(folder / "features.parquet")
    labels.drop(held).reset_index().to_csv(folder / "labels.csv", index=False)
    return folder, table.drop(held), labels.drop(held), table.loc[held], labels.loc[held]


@pytest.fixture(scope="module")
def trained(cohort):
    folder, table, labels, _, _ = cohort
    out = folder / "model"
    rc = train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                     "-o", str(out), "--groups", "pupil,coupling", "--ablation",
                     "--permutations", "9", "--repeats", "3",
                     "--ablation-permutations", "9", "--jobs", "1"])
    assert rc == 0
    return out


@pytest.mark.slow
def test_train_writes_consistent_outputs(trained, cohort):
    _, table, labels, _, _ = cohort
    names = {p.name for p in trained.iterdir()}
    assert {"report.md", "report.html", "metrics.json", "predictions.csv", "ablation.csv",
            "confusion_cdr3.png", "confusion_binary.png", "model_cdr3.skops", "model_cdr3.json",
            "model_binary.skops", "model_binary.json"} <= names
    metrics = json.loads((trained / "metrics.json").read_text())
    preds = pd.read_csv(trained / "predictions.csv", dtype={"true_class": str,
                                                            "predicted_class": str})
    for task in ("cdr3", "binary"):
        m, p = metrics[task], preds[preds.task == task]
        assert {"accuracy", "balanced_accuracy", "macro_f1", "accuracy_ci95", "permutation_p",
                "balanced_accuracy_ci95", "macro_f1_ci95", "n", "confusion"} <= set(m)
        assert m["n"] == len(p) == 40 and set(p.video_id) == set(labels.index)
        assert m["repeats"] == 3 and 0 <= m["balanced_accuracy_sd"] < 0.1
        for key in ("balanced_accuracy", "macro_f1"):
            assert m[f"{key}_ci95"][0] <= m[key] <= m[f"{key}_ci95"][1]
        assert abs(p.correct.mean() - m["accuracy"]) <= 0.05  # consensus vs mean over draws
        classes = m["classes"]
        confusion = pd.crosstab(p.true_class, p.predicted_class).reindex(
            index=classes, columns=classes, fill_value=0)
        assert confusion.to_numpy().tolist() == m["confusion"]
        prob_cols = [f"p_cdr_{c}" for c in classes]
        np.testing.assert_allclose(p[prob_cols].sum(axis=1), 1.0, atol=1e-9)
        assert m["accuracy_ci95"][0] < m["accuracy"] < m["accuracy_ci95"][1]
        assert m["permutation_p"] == pytest.approx(0.1)   # beats all 9 permutations
        assert m["balanced_accuracy"] >= 0.8
    ablation = pd.read_csv(trained / "ablation.csv")
    assert len(ablation) == 20  # 10 sets (no expr columns) x 2 tasks
    flip_rows = ablation[ablation.set == "visual+flip"]
    assert flip_rows.balanced_accuracy.isna().all()
    assert flip_rows.note.str.contains("no #flip rows").all()
    scored = ablation.dropna(subset=["balanced_accuracy"])
    best = scored[~scored.groups.str.contains(r"\+")].sort_values(
        "balanced_accuracy").groupby("task").tail(1)
    assert set(best.set) == {"coupling"} and (best.balanced_accuracy >= 0.9).all()
    assert set(ablation.columns) >= {"permutation_p", "permutation_p_fwe"}
    assert (scored.permutation_p_fwe >= scored.permutation_p).all()
    assert metrics["confounds"] == []
    report = (trained / "report.md").read_text()
    assert report.splitlines()[2].startswith("Recording conditions: no quality or recording value")
    for text in ("## Ablation: feature-group sets", "What these numbers can and cannot support",
                 "is exploratory: it was chosen after seeing the results", "p (family-wise)",
                 "![reliability diagram, task binary](reliability_binary.png)", "Brier score",
                 "range of balanced accuracy over the draws",
                 "![confusion matrix, task cdr3](confusion_cdr3.png)", "| s005 | 100% |",
                 "The smallest class, CDR 2, has 4 videos"):
        assert text in report
    html = (trained / "report.html").read_text()
    assert '<img src="confusion_binary.png"' in html and html.count("<table") >= 8
    assert (trained / "confusion_cdr3.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = json.loads((trained / "model_cdr3.json").read_text())
    assert card["label_map"] == {"0.5": 0, "1": 1, "2": 2}
    assert card["training"]["n_videos"] == 40 and len(card["training"]["features_sha256"]) == 64
    assert card["feature_names"] == feature_columns(table, ["pupil", "coupling"])
    assert card["groups"] == ["pupil", "coupling"]


def test_bad_labels_stop_with_every_problem(cohort, tmp_path, capsys):
    folder, table = cohort[0], cohort[1]
    a, b, c = table.index[:3]
    (tmp_path / "labels.csv").write_text(f"video_id,cdr\n{a},4\n{a},1\n")
    rc = train.main([str(folder / "features.parquet"), "--labels", str(tmp_path / "labels.csv"),
                     "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1 and not (tmp_path / "out").exists()
    assert "cdr-train: error: " in err and "3 problems in the labels file" in err
    assert f"line 2 ({a}): cdr 4 is not one of 0, 0.5, 1, 2, 3" in err
    assert f"video_id '{a}' appears 2 times (lines 2, 3)" in err
    assert f"videos in the feature table without a label: {b}, {c}" in err


def test_unknown_group_is_refused(cohort, tmp_path, capsys):
    folder = cohort[0]
    rc = train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                     "-o", str(tmp_path / "out"), "--groups", "pupil,pupill"])
    assert rc == 1
    assert "--groups: unknown group pupill; choose from pupil, coupling" in capsys.readouterr().err


def fake_extractor(monkeypatch, row: pd.Series):
    module = types.ModuleType("cdr.extract")
    module.extract_recording = lambda path, video_id=None, *, scn=None, **kw: row.copy()
    module.feature_names = lambda *, scn=None, device="auto": list(row.index)
    monkeypatch.setitem(sys.modules, "cdr.extract", module)


def test_predict_scores_held_out_recordings_and_explains(trained, cohort, tmp_path,
                                                         monkeypatch, capsys):
    folder, table, _, held, held_labels = cohort
    small = tmp_path / "small"
    assert train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                       "-o", str(small), "--task", "cdr3", "--groups", "coupling,voice,pose",
                       "--permutations", "0", "--repeats", "2", "--jobs", "1"]) == 0
    capsys.readouterr()
    right = 0
    for vid in held.index:
        fake_extractor(monkeypatch, held.loc[vid])
        assert predict.main(["interview.mp4", "--model", str(small), "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["refused"] is False and out["qc"]["qc.audio_present"] == 1.0
        cdr3 = out["tasks"]["cdr3"]
        assert sum(cdr3["probabilities"].values()) == pytest.approx(1.0)
        contrib = cdr3["contributions"]
        assert set(contrib) == {"coupling", "voice", "pose"}
        if cdr3["predicted_cdr"] == f"{held_labels.loc[vid, 'cdr']:g}":
            right += 1   # a right call rests on the group that carries the class
            assert max(contrib, key=lambda g: abs(contrib[g])) == "coupling"
    assert right >= 4
    fake_extractor(monkeypatch, table.loc["s005"])
    assert predict.main(["interview.mp4", "--model", str(trained)]) == 0
    text = capsys.readouterr().out
    assert "[cdr3] predicted CDR" in text and "[binary] predicted CDR" in text
    assert "not measured (imputed from training): pupil" in text


@pytest.mark.parametrize("changes, reason", [
    ({"qc.duration_s": 4.0}, "it lasts 4.0 s, less than the 10 s needed"),
    ({"qc.face_ratio": 0.0, "qc.audio_present": 0.0, "qc.speech_ratio": np.nan},
     "no usable face (face found in 0% of frames) and no usable speech (no audio track)"),
    ({"qc.face_ratio": np.nan, "qc.speech_ratio": 0.01},
     "no usable face (face found in n/a of frames) and no usable speech (1%)"),
])
def test_predict_refuses_poor_recordings_with_exit_2(trained, cohort, monkeypatch, capsys,
                                                     changes, reason):
    row = cohort[1].iloc[0].copy()
    for k, v in changes.items():
        row[k] = v
    fake_extractor(monkeypatch, row)
    assert predict.main(["clip.mp4", "--model", str(trained), "--json"]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"recording": "clip.mp4", "refused": True,
                                        "reason": reason, "qc": json.loads(captured.out)["qc"]}
    assert f"clip.mp4: refused by quality control: {reason}" in captured.err


def test_predict_accepts_a_voice_only_recording():
    row = pd.Series({"qc.duration_s": 60.0, "qc.face_ratio": np.nan, "qc.audio_present": 1.0,
                     "qc.speech_ratio": 0.4})
    assert quality_problem(row) is None


def test_predict_without_models_says_what_to_do(tmp_path, capsys):
    assert predict.main(["clip.mp4", "--model", str(tmp_path)]) == 1
    assert "holds no model; train one with cdr-train first" in capsys.readouterr().err


def test_predict_refuses_a_tampered_model(trained, tmp_path, capsys):
    for p in [*trained.glob("model_*"), trained / "manifest.json"]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    with open(tmp_path / "model_binary.skops", "ab") as fh:
        fh.write(b"\0")
    assert predict.main(["clip.mp4", "--model", str(tmp_path)]) == 1
    assert "model_binary.skops: changed since run" in capsys.readouterr().err
    assert modelio.load_model(tmp_path, "cdr3")[1]["task"] == "cdr3"


@pytest.mark.slow
def test_predict_runs_the_extraction_of_cdr_extract_on_a_real_clip(tmp_path, arctic_audio,
                                                                   capsys):
    """A rendered 12 s interview clip, scored by a model whose classes differ in ``coupling``."""
    from cdr.extract import extract_recording
    from cdr.synth.video import render_face_video

    fps, seconds = 25, 12.0
    t = np.arange(int(seconds * fps)) / fps
    sched = pd.DataFrame({"yaw": 12 * np.sin(2 * np.pi * 0.4 * t), "pitch": 4 * np.sin(2 * t),
                          "gaze_x": 0.1 * np.sin(2 * np.pi * 1.5 * t)})
    speech = arctic_audio[0]
    audio = np.r_[np.zeros(8000, np.float32), speech, speech, speech]
    clip = tmp_path / "clip.mp4"
    render_face_video(clip, sched, fps=fps, frame_size=(320, 240), audio=audio, background=2)
    row = extract_recording(clip)
    cohort_around(row, "coupling", tmp_path)  # classes differ in coupling. only
    assert train.main([str(tmp_path / "features.parquet"), "--labels",
                       str(tmp_path / "labels.csv"), "-o", str(tmp_path / "model"),
                       "--task", "cdr3", "--groups", "pupil,coupling,pose", "--permutations", "0",
                       "--repeats", "2", "--jobs", "1"]) == 0
    capsys.readouterr()
    assert predict.main([str(clip), "--model", str(tmp_path / "model"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["qc"]["qc.duration_s"] == pytest.approx(seconds, abs=1.0)
    assert out["qc"]["qc.face_ratio"] > 0.5 and out["qc"]["qc.speech_ratio"] > 0.3
    cdr3 = out["tasks"]["cdr3"]
    assert cdr3["predicted_cdr"] == "0.5" and cdr3["similarity_to_training"] > 0.01
    assert max(cdr3["contributions"], key=lambda g: abs(cdr3["contributions"][g])) == "coupling"
