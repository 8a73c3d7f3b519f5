"""cdr-predict says when a model does not apply: imputed groups, unlike recordings, provenance."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdr.cli import predict, train
from cdr.extract import feature_names

pytestmark = pytest.mark.usefixtures("stand_ins")  # cdr-predict checks that its recording exists


@pytest.fixture(scope="module")
def speech_12s(tmp_path_factory, arctic_audio) -> Path:
    """12 s of real speech with no video track."""
    import soundfile as sf

    y, sr = arctic_audio
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    sf.write(path, np.concatenate([np.zeros(sr // 2, np.float32), y, y, y]), sr)
    return path


@pytest.fixture(scope="module")
def video_model(tmp_path_factory) -> Path:
    """Both tasks on three video groups and one speech group, from a synthetic table."""
    folder = tmp_path_factory.mktemp("video-model")
    names = feature_names()
    cdr = [0.5] * 6 + [1.0] * 6 + [2.0] * 4
    rng = np.random.default_rng(0)
    table = pd.DataFrame(rng.normal(size=(len(cdr), len(names))), columns=names,
                         index=pd.Index([f"s{i:02d}" for i in range(len(cdr))], name="video_id"))
    table.attrs["dataset"] = {"synthetic": True, "note": "Noise, for a test.",
                              "source": "cohort.json"}
    table.to_parquet(folder / "features.parquet")
    pd.DataFrame({"video_id": table.index, "cdr": cdr}).to_csv(folder / "labels.csv",
                                                               index=False)
    assert train.main([str(folder / "features.parquet"), "--labels", str(folder / "labels.csv"),
                       "-o", str(folder / "model"), "--groups", "pupil,coupling,pose,mfcc",
                       "--permutations", "0", "--repeats", "2", "--jobs", "1"]) == 0
    card = json.loads((folder / "model" / "model_binary.json").read_text())
    assert card["dataset"]["synthetic"] is True and card["applicability"]["threshold"] > 0
    return folder / "model"


def test_audio_only_recording_on_a_video_model_warns_on_every_task(video_model, speech_12s,
                                                                   capsys):
    capsys.readouterr()
    assert predict.main([str(speech_12s), "--model", str(video_model), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["tasks"]) == {"cdr3", "binary"}
    for task, r in out["tasks"].items():
        assert r["applicability"]["imputed_groups"] == ["pupil", "coupling", "pose"]
        assert any("3 of the model's 4 feature groups were not measured" in w
                   for w in r["warnings"]), task
    assert isinstance(out["warnings"], list)
    assert len(out["warnings"]) == out["qc"]["qc.n_warnings"]
    assert out["banner"].startswith("SYNTHETIC DATA: Noise, for a test.")
    assert out["dataset"]["synthetic"] is True

    assert predict.main([str(speech_12s), "--model", str(video_model)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("SYNTHETIC DATA")
    assert text.count("WARNING: 3 of the model's 4 feature groups were not measured") == 2
    assert text.count("    rule: the predicted class is") == 2
    assert not re.search(r"-0\.000\b", text)


def test_signed_contributions_never_print_minus_zero():
    from cdr.model.readout import signed

    assert signed(-0.0004) == "+0.000"
    assert signed(-0.0006) == "-0.001"
    assert signed(0.1234) == "+0.123"


def test_extraction_warnings_are_listed_in_text_and_json(video_model, monkeypatch, capsys):
    import sys
    import types

    row = pd.Series(0.0, index=feature_names())
    row[["qc.duration_s", "qc.face_ratio", "qc.audio_present", "qc.speech_ratio"]] = \
        [30.0, 0.9, 1.0, 0.5]
    row.attrs["warnings"] = ["clip: pupil: no face in 60% of frames", "clip: speech: clipped"]
    module = types.ModuleType("cdr.extract")
    module.extract_recording = lambda path, video_id=None, **options: row.copy()
    module.feature_names = lambda *, scn=None, device="auto": list(row.index)
    monkeypatch.setitem(sys.modules, "cdr.extract", module)
    assert predict.main(["clip.mp4", "--model", str(video_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == row.attrs["warnings"]
    assert predict.main(["clip.mp4", "--model", str(video_model)]) == 0
    text = capsys.readouterr().out
    assert "extraction warnings (2):\n    clip: pupil: no face in 60% of frames\n" \
           "    clip: speech: clipped\n" in text
