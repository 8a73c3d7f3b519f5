"""SCN on CUDA (bf16 autocast, channels_last): trains, and its checkpoint agrees with the CPU."""

import numpy as np
import pytest
import torch

from cdr.scn.data import DataSplits, Split, digits_splits
from cdr.scn.embed import ExpressionEmbedder
from cdr.scn.train import SCNTrainer, TrainConfig

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_cuda_training_and_cpu_agreement(tmp_path):
    d = digits_splits(image_size=32)
    data = DataSplits(d.classes, Split(d.train.images[:512], d.train.labels[:512]),
                      Split(d.test.images[:200], d.test.labels[:200]))
    tr = SCNTrainer(TrainConfig(epochs=6, batch_size=64, image_size=32, flip=False, device="auto",
                                relabel_epoch=4), data).fit(log=None)
    assert tr.device_.type == "cuda"
    assert next(tr.model_.parameters()).dtype == torch.float32  # autocast, fp32 master weights
    losses = [h["loss"] for h in tr.history_]
    assert np.isfinite(losses).all() and losses[-1] < 0.7 * losses[0]
    assert tr.metrics_["test_accuracy"] > 0.5
    tr.save(tmp_path)
    crops = d.test.images[200:264]
    p_gpu, a_gpu = ExpressionEmbedder(tmp_path, device="cuda").embed(crops)
    p_cpu, a_cpu = ExpressionEmbedder(tmp_path, device="cpu").embed(crops)
    # bf16 on the GPU vs fp32 on the CPU: same decisions, close probabilities
    assert np.abs(p_gpu - p_cpu).max() < 0.08 and np.abs(a_gpu - a_cpu).max() < 0.03
    assert (p_gpu.argmax(1) == p_cpu.argmax(1)).mean() >= 0.95
