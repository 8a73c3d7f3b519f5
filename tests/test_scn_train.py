"""SCN trainer: relabelling rule, label table, a falling loss, reproducibility, checkpoints."""

import numpy as np
import pytest
import torch

from cdr.errors import ParameterError
from cdr.scn.checkpoint import load_checkpoint
from cdr.scn.data import DataSplits, Split, digits_splits
from cdr.scn.relabel import LabelTable, relabel_candidates
from cdr.scn.train import SCNTrainer, TrainConfig


@pytest.fixture(scope="module")
def digits():
    return digits_splits(image_size=32)


def _subset(d: DataSplits, n_train: int, n_test: int) -> DataSplits:
    return DataSplits(d.classes, Split(d.train.images[:n_train], d.train.labels[:n_train]),
                      Split(d.test.images[:n_test], d.test.labels[:n_test]), source="digits-subset")


def _probs_row(k: int, top: int, p_top: float, given: int, p_given: float) -> list[float]:
    row = np.full(k, 0.0)
    row[top], row[given] = p_top, p_given
    rest = [i for i in range(k) if i not in (top, given)]
    row[rest] = (1.0 - row.sum()) / len(rest)
    return row.tolist()


def _relabel_batch():
    """10 samples, 4 classes; given labels 0; alpha ranks samples 7, 8, 9 into the low group (beta 0.7)."""
    k = 4
    rows = [
        _probs_row(k, 1, 0.60, 0, 0.30),  # 0 high group, gap .30 -> changes only with scope 'all'
        _probs_row(k, 2, 0.50, 0, 0.35),  # 1 high, gap .15
        _probs_row(k, 0, 0.70, 0, 0.70),  # 2 high, already top
        _probs_row(k, 3, 0.55, 0, 0.25),  # 3 high, gap .30 -> only with 'all'
        _probs_row(k, 0, 0.90, 0, 0.90),  # 4 high
        _probs_row(k, 1, 0.40, 0, 0.30),  # 5 high, gap .10
        _probs_row(k, 0, 0.50, 0, 0.50),  # 6 high
        _probs_row(k, 2, 0.60, 0, 0.30),  # 7 low, gap .30 -> 2
        _probs_row(k, 1, 0.45, 0, 0.30),  # 8 low, gap .15 -> stays
        _probs_row(k, 3, 0.80, 0, 0.10),  # 9 low, gap .70 -> 3
    ]
    probs = torch.tensor(rows)
    alpha = torch.tensor([0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.3, 0.2, 0.1])
    return probs, alpha


@pytest.mark.parametrize("scope, changed", [("low", {7: 2, 9: 3}), ("all", {0: 1, 3: 3, 7: 2, 9: 3})])
def test_relabel_step_changes_exactly_the_rule_samples(digits, scope, changed):
    probs, alpha = _relabel_batch()
    data = DataSplits(["a", "b", "c", "d"], Split(digits.train.images[:40], np.zeros(40, np.int64)),
                      Split(digits.test.images[:4], np.zeros(4, np.int64)))
    tr = SCNTrainer(TrainConfig(image_size=32, device="cpu", threads=1, relabel_scope=scope, relabel_epoch=10), data)
    tr.setup()
    index = torch.arange(20, 30)  # dataset rows of this batch
    targets = tr.labels_.targets(index)
    logits = probs.log()  # softmax(log p) == p
    tr.relabel_step(9, logits, alpha, index, targets)
    assert tr.labels_.report()["relabelled"] == 0  # before relabel_epoch nothing moves
    tr.relabel_step(10, logits, alpha, index, targets)
    cur = tr.labels_.current_labels()
    expected = np.zeros(40, np.int64)
    for i, lab in changed.items():
        expected[20 + i] = lab
    assert cur.tolist() == expected.tolist()
    assert (tr.labels_.given == 0).all()  # the given labels are never rewritten
    assert tr.labels_.report()["relabelled"] == len(changed)


def test_relabel_candidates_margin_is_strict():
    probs = torch.tensor([[0.45, 0.25, 0.30], [0.46, 0.25, 0.29]])
    mask, top = relabel_candidates(probs, torch.tensor([1, 1]), margin=0.2)
    assert mask.tolist() == [False, True] and top.tolist() == [0, 0]  # 0.20 is not > 0.2


def test_label_table_report_against_true_labels():
    true = np.array([0, 1, 2, 0, 1, 2])
    given = np.array([0, 2, 2, 1, 1, 2])  # samples 1 and 3 flipped
    table = LabelTable(given, true=true)
    table.update(torch.tensor([1, 3, 5]), torch.tensor([True, True, True]), torch.tensor([1, 2, 0]))
    r = table.report()
    # relabelled: 1 (-> 1, correct), 3 (-> 2, wrong), 5 (clean -> 0, corrupted)
    assert r["relabelled"] == 3 and r["flipped"] == 2 and r["clean_corrupted"] == 1
    assert r["relabel_precision"] == pytest.approx(1 / 3)
    assert r["flipped_corrected"] == pytest.approx(1 / 2)


@pytest.mark.slow
def test_training_smoke_loss_falls_and_is_reproducible(digits, tmp_path):
    data = _subset(digits, 128, 40)
    cfg = TrainConfig(epochs=5, batch_size=32, image_size=32, flip=False, device="cpu", threads=1,
                      relabel_epoch=4, seed=3)
    tr = SCNTrainer(cfg, data).fit(log=None)
    losses = [h["loss"] for h in tr.history_]
    assert losses[-1] < 0.6 * losses[0], losses
    assert tr.history_[-1]["train_accuracy"] > 0.6
    assert 0.0 <= tr.metrics_["test_accuracy"] <= 1.0 and "relabelled" in tr.metrics_
    # same seed -> bit-identical weights (CPU)
    small = _subset(digits, 64, 8)
    tr2 = SCNTrainer(TrainConfig(**{**cfg.__dict__, "epochs": 1}), small).fit(log=None)
    tr3 = SCNTrainer(TrainConfig(**{**cfg.__dict__, "epochs": 1}), small).fit(log=None)
    s2, s3 = tr2.model_.state_dict(), tr3.model_.state_dict()
    assert all(torch.equal(s2[k], s3[k]) for k in s2)
    # checkpoint round trip: identical tensors and identical outputs
    tr.save(tmp_path)
    model, cfg_loaded = load_checkpoint(tmp_path)
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(saved) == set(tr.model_.state_dict())
    assert all(torch.equal(saved[k], v.cpu()) for k, v in tr.model_.state_dict().items())
    assert cfg_loaded["classes"] == data.classes and cfg_loaded["train"]["seed"] == 3
    x = torch.randn(4, 3, 32, 32)
    tr.model_.eval()
    with torch.no_grad():
        a, b = tr.model_(x), model(x)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_config_refuses_rank_without_attention():
    with pytest.raises(ParameterError, match="--no-rank"):
        TrainConfig(attention=False, rank=True).check()


def test_an_interrupted_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    from cdr.scn import checkpoint
    from cdr.scn.model import build_scn

    first = build_scn(3)
    config = checkpoint.model_config(first, classes=["a", "b", "c"], image_size=32)
    checkpoint.save_checkpoint(tmp_path, first, config)
    before = (tmp_path / "model.pt").read_bytes()
    real_save = torch.save

    def killed(state, f):  # the process dies after writing part of the file
        real_save(state, f)
        with open(f, "r+b") as fh:
            fh.truncate(1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint.torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save_checkpoint(tmp_path, build_scn(3), config)
    assert (tmp_path / "model.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.pt"]
    model, _ = checkpoint.load_checkpoint(tmp_path)
    assert all(torch.equal(v, first.state_dict()[k]) for k, v in model.state_dict().items())
