"""cdr-scn-train end to end on a tiny image folder, then ExpressionEmbedder on its checkpoint."""

import json
import shutil

import cv2
import numpy as np
import pytest
import torch

from cdr.cli.scn_train import main
from cdr.errors import ModelFileError, ParameterError
from cdr.scn.embed import ExpressionEmbedder

CLASSES = ["Happy Face", "sad"]  # bright vs dark images; the space tests column-safe names
NAMES = ["expr.prob_mean_happy_face", "expr.prob_mean_sad", "expr.prob_std_happy_face", "expr.prob_std_sad",
         "expr.share_happy_face", "expr.share_sad", "expr.change_rate", "expr.alpha_mean", "expr.alpha_std"]


def _crop(bright: bool, rng, size: int = 32) -> np.ndarray:
    base = 215 if bright else 40
    return np.clip(base + rng.normal(0, 12, (size, size, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train through the command line; returns (checkpoint dir, its stdout)."""
    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 4)):
        for cls in CLASSES:
            (root / split / cls).mkdir(parents=True)
            for i in range(n):
                cv2.imwrite(str(root / split / cls / f"{i}.png"), _crop(cls == CLASSES[0], rng))
    out = root / "ckpt"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main([str(root), "-o", str(out), "--format", "imagefolder", "--epochs", "8", "--batch-size", "8",
                   "--image-size", "32", "--device", "cpu", "--threads", "1", "--no-flip", "--seed", "1"])
    assert rc == 0
    return out, buf.getvalue()


@pytest.mark.slow
def test_cli_writes_checkpoint_config_and_metrics(trained):
    out, stdout = trained
    assert sum(line.startswith("epoch") for line in stdout.splitlines()) == 8
    state = torch.load(out / "model.pt", weights_only=True)
    assert "fc.weight" in state and state["fc.weight"].shape == (2, 512)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["classes"] == CLASSES and cfg["image_size"] == 32 and cfg["train"]["epochs"] == 8
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] == 1.0  # bright vs dark is learnt
    assert metrics["relabelled"] == 0 and len(metrics["history"]) == 8


@pytest.mark.slow
def test_embedder_names_and_planted_summary(trained):
    out, _ = trained
    emb = ExpressionEmbedder(out, device="cpu")
    assert emb.names == NAMES and emb.classes == CLASSES
    rng = np.random.default_rng(7)
    bright = [True, False, True, False, True, False]  # alternating expression, 0.5 s apart
    crops = np.stack([_crop(b, rng, size=112) for b in bright])  # 112-px crops, resized to 32 inside
    t = np.arange(6) * 0.5
    perm = np.array([3, 0, 5, 1, 4, 2])  # given out of order: summarise sorts by time
    s = emb.summarise(crops[perm], t[perm])
    assert list(s.index) == NAMES
    assert s["expr.share_happy_face"] == pytest.approx(0.5) and s["expr.share_sad"] == pytest.approx(0.5)
    assert s["expr.change_rate"] == pytest.approx(5 / 2.5)  # 5 changes over 2.5 s
    assert s["expr.prob_mean_happy_face"] + s["expr.prob_mean_sad"] == pytest.approx(1.0, abs=1e-5)
    assert 0 < s["expr.alpha_mean"] < 1 and s.notna().all()


@pytest.mark.slow
def test_embedder_no_crops_is_nan_with_warning(trained):
    emb = ExpressionEmbedder(trained[0], device="cpu")
    with pytest.warns(UserWarning, match="no face crops"):
        s = emb.summarise(np.zeros((0, 112, 112, 3), np.uint8), np.zeros(0))
    assert list(s.index) == NAMES and s.isna().all()
    with pytest.raises(ParameterError, match="uint8"):
        emb.summarise(np.zeros((2, 112, 112, 3), np.float32), np.zeros(2))


def _corrupt(kind: str, d):
    if kind == "truncated":
        data = (d / "model.pt").read_bytes()
        (d / "model.pt").write_bytes(data[: len(data) // 2])
    elif kind == "classes":
        cfg = json.loads((d / "config.json").read_text())
        cfg["classes"] = ["a", "b", "c"]
        (d / "config.json").write_text(json.dumps(cfg))
    elif kind == "not-json":
        (d / "config.json").write_text("{classes: oops")
    elif kind == "code":
        torch.save({"fc.weight": np.random.default_rng(0)}, d / "model.pt")  # needs full unpickling
    elif kind == "nan":
        state = torch.load(d / "model.pt", weights_only=True)
        state["fc.bias"][0] = float("nan")
        torch.save(state, d / "model.pt")
    elif kind == "missing":
        (d / "model.pt").unlink()


@pytest.mark.slow
@pytest.mark.parametrize("kind, where", [("truncated", "model.pt"), ("classes", "model.pt"),
                                         ("not-json", "config.json"), ("code", "model.pt"),
                                         ("nan", "model.pt"), ("missing", "model.pt")])
def test_embedder_refuses_bad_checkpoint(trained, tmp_path, kind, where):
    d = tmp_path / "ckpt"
    shutil.copytree(trained[0], d)
    _corrupt(kind, d)
    with pytest.raises(ModelFileError, match=where):
        ExpressionEmbedder(d, device="cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal when CUDA is absent")
def test_cuda_requested_without_cuda_is_refused(tmp_path):
    with pytest.raises(ParameterError, match="--device cpu"):
        ExpressionEmbedder(tmp_path, device="cuda")


def test_cli_reports_a_bad_data_folder(tmp_path, capsys):
    assert main([str(tmp_path), "-o", str(tmp_path / "o"), "--format", "rafdb", "--device", "cpu"]) == 2
    assert "list_patition_label.txt" in capsys.readouterr().err
