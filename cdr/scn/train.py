"""Self-Cure Network training loop, with its steps as named methods.

``SCNTrainer(config, data).fit()`` trains, evaluates every epoch and keeps:
``model_`` (the network), ``labels_`` (the :class:`~cdr.scn.relabel.LabelTable` of the
training labels), ``history_`` (one dict per epoch) and ``metrics_``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader

from cdr.scn.config import TrainConfig  # noqa: F401  (re-exported)
from cdr.scn.checkpoint import MEAN, STD, model_config, save_checkpoint
from cdr.scn.data import DataSplits, ImageDataset, Split, add_label_noise
from cdr.scn.losses import importance_groups, scn_loss
from cdr.scn.model import build_scn
from cdr.scn.relabel import LabelTable, relabel_candidates
from cdr.scn.runtime import autocast, configure, device_name, resolve_device, seed_everything
from cdr.scn.transforms import augment, normalise


class SCNTrainer:
    """Train a Self-Cure Network (or, with every switch off, a plain ResNet-18).

    Parameters
    ----------
    config : TrainConfig
    data : DataSplits
        Train and test (and optional validation) splits. Never modified: label noise
        and relabelling live in the trainer's label table.
    """

    def __init__(self, config: TrainConfig, data: DataSplits) -> None:
        self.config = config
        self.data = data

    # ---- set-up -------------------------------------------------------------
    def setup(self) -> None:
        """Device, seeds, network, optimiser, label table and loaders."""
        c = self.config
        c.check()
        self.device_ = resolve_device(c.device)
        configure(self.device_, threads=c.threads, deterministic=c.deterministic)
        seed_everything(c.seed)
        self.cuda_ = self.device_.type == "cuda"
        k = len(self.data.classes)
        self.model_ = build_scn(k, attention=c.attention, drop_rate=c.drop_rate).to(self.device_)
        if self.cuda_:
            self.model_ = self.model_.to(memory_format=torch.channels_last)
        params = self.model_.parameters()
        if c.optimizer == "adam":
            self.optimizer_ = torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        else:
            self.optimizer_ = torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        self.scheduler_ = torch.optim.lr_scheduler.ExponentialLR(self.optimizer_, gamma=c.lr_decay)
        clean = self.data.train.labels
        if c.noise > 0:
            given, _ = add_label_noise(clean, c.noise, k, seed=c.seed)
            self.labels_ = LabelTable(given, device=self.device_, true=clean)
        else:
            self.labels_ = LabelTable(clean, device=self.device_)
        self.generator_ = torch.Generator(device=self.device_).manual_seed(c.seed)
        self.train_loader_ = self._loader(self.data.train, shuffle=True)
        self._eval_loaders: dict[int, DataLoader] = {}
        self.history_: list[dict] = []

    def _loader(self, split: Split, *, shuffle: bool) -> DataLoader:
        c = self.config
        in_memory = isinstance(split.images, np.ndarray)
        workers = c.workers if c.workers is not None else (0 if in_memory else 4 if self.cuda_ else 1)
        n = len(split)
        return DataLoader(
            ImageDataset(split, c.image_size),
            batch_size=c.batch_size if shuffle else max(c.batch_size, 256),
            shuffle=shuffle,
            drop_last=shuffle and n > c.batch_size,
            num_workers=workers,
            pin_memory=self.cuda_,
            persistent_workers=workers > 0 and shuffle,
            # Loader processes start from a clean server process: forking a process that already
            # runs threads (torch, mediapipe, BLAS) can deadlock the child.
            multiprocessing_context="forkserver" if workers > 0 else None,
            generator=torch.Generator().manual_seed(c.seed) if shuffle else None,
        )

    # ---- named steps ----------------------------------------------------------
    def prepare_batch(self, images: torch.Tensor, *, train: bool) -> torch.Tensor:
        """uint8 [B, 3, S, S] -> normalised (and, when training, augmented) float on the device."""
        x = normalise(images.to(self.device_, non_blocking=True), MEAN, STD)
        if train:
            x = augment(x, flip=self.config.flip, shift=self.config.shift, generator=self.generator_)
        return x.contiguous(memory_format=torch.channels_last) if self.cuda_ else x

    def compute_forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Network forward pass: (weighted logits [B, K], alpha [B])."""
        with autocast(self.device_):
            return self.model_(x)

    def compute_objectives(self, logits: torch.Tensor, alpha: torch.Tensor,
                           targets: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """gamma * L_RR + (1 - gamma) * L_WCE, or plain L_WCE without rank regularisation."""
        c = self.config
        return scn_loss(logits, alpha, targets, rank=c.rank, gamma=c.gamma, beta=c.beta, margin=c.margin1)

    def relabel_step(self, epoch: int, logits: torch.Tensor, alpha: torch.Tensor, index: torch.Tensor,
                     targets: torch.Tensor) -> None:
        """From ``relabel_epoch`` on, move labels in the label table by the delta_2 rule.

        Eligible: the low-importance group (paper), or the whole batch with
        ``relabel_scope="all"`` or without attention (no importance to rank by).
        """
        c = self.config
        if not c.relabel or epoch < c.relabel_epoch:
            return
        probs = torch.softmax(logits.detach().float(), dim=1)
        eligible = None
        if c.relabel_scope == "low" and c.attention:
            _, low = importance_groups(alpha.detach(), beta=c.beta)
            eligible = torch.zeros_like(targets, dtype=torch.bool)
            eligible[low] = True
        mask, top = relabel_candidates(probs, targets, margin=c.margin2, eligible=eligible)
        self.labels_.update(index, mask, top)

    def train_epoch(self, epoch: int) -> dict:
        """One pass over the training set; returns the epoch's mean loss parts and accuracy."""
        self.model_.train()
        sums = torch.zeros(5, device=self.device_)  # loss, wce, rr, correct, alpha
        n = 0
        for images, index in self.train_loader_:
            index = index.to(self.device_, non_blocking=True)
            x = self.prepare_batch(images, train=True)
            targets = self.labels_.targets(index)
            logits, alpha = self.compute_forward(x)
            loss, parts = self.compute_objectives(logits, alpha, targets)
            self.optimizer_.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer_.step()
            self.relabel_step(epoch, logits, alpha, index, targets)
            b = len(index)
            correct = (logits.detach().argmax(1) == targets).sum()
            sums += torch.stack([loss.detach() * b, parts["wce"] * b, parts["rr"] * b,
                                 correct.float(), alpha.detach().float().sum()])
            n += b
        self.scheduler_.step()
        s = (sums / max(n, 1)).tolist()
        return {"loss": s[0], "wce": s[1], "rr": s[2], "train_accuracy": s[3], "alpha_mean": s[4], "seen": n}

    @torch.no_grad()
    def predict(self, split: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Eval-mode pass over a split: (probabilities [N, K], predictions [N], alpha [N])."""
        self.model_.eval()
        probs, alphas = [], []
        loader = self._eval_loaders.setdefault(id(split), self._loader(split, shuffle=False))
        for images, _ in loader:
            logits, alpha = self.compute_forward(self.prepare_batch(images, train=False))
            probs.append(torch.softmax(logits.float(), 1).cpu())
            alphas.append(alpha.float().cpu())
        p = torch.cat(probs).numpy()
        return p, p.argmax(1), torch.cat(alphas).numpy()

    def evaluate(self, split: Split) -> float:
        """Accuracy on a split's own labels."""
        _, pred, _ = self.predict(split)
        return float((pred == split.labels).mean())

    def on_epoch_end(self, epoch: int, stats: dict, log: Callable[[str], None] | None) -> None:
        """Evaluate, record the epoch, and print its line."""
        stats["epoch"] = epoch
        stats["lr"] = self.optimizer_.param_groups[0]["lr"]
        stats["test_accuracy"] = self.evaluate(self.data.test)
        if self.data.val is not None:
            stats["val_accuracy"] = self.evaluate(self.data.val)
        stats["relabelled"] = self.labels_.report()["relabelled"]
        self.history_.append(stats)
        if log is not None:
            val = f"  val_acc {stats['val_accuracy']:.4f}" if "val_accuracy" in stats else ""
            log(f"epoch {epoch:3d}/{self.config.epochs}  loss {stats['loss']:.4f}  wce {stats['wce']:.4f}  "
                f"rr {stats['rr']:.4f}  train_acc {stats['train_accuracy']:.4f}  test_acc "
                f"{stats['test_accuracy']:.4f}{val}  alpha {stats['alpha_mean']:.3f}  relabelled "
                f"{stats['relabelled']}  lr {stats['lr']:.3g}  {stats['seconds']:.1f}s")

    # ---- driver ------------------------------------------------------------
    def fit(self, log: Callable[[str], None] | None = print) -> "SCNTrainer":
        """Train for ``config.epochs`` epochs; fills ``metrics_``; returns self."""
        self.setup()
        t_all = time.perf_counter()
        for epoch in range(1, self.config.epochs + 1):
            t0 = time.perf_counter()
            stats = self.train_epoch(epoch)
            stats["seconds"] = time.perf_counter() - t0
            self.on_epoch_end(epoch, stats, log)
        seconds = time.perf_counter() - t_all
        last = self.history_[-1]
        self.metrics_ = {
            "test_accuracy": last["test_accuracy"],
            **({"val_accuracy": last["val_accuracy"]} if "val_accuracy" in last else {}),
            **self.labels_.report(),
            "n_train": len(self.data.train), "n_test": len(self.data.test),
            "seconds": seconds,
            "train_images_per_s": sum(h["seen"] for h in self.history_) / sum(h["seconds"] for h in self.history_),
            "device": device_name(self.device_),
            "history": self.history_,
        }
        return self

    def training_alpha(self) -> np.ndarray:
        """Importance weight of every training sample [N], eval mode, no augmentation."""
        return self.predict(self.data.train)[2]

    def save(self, directory: Path) -> None:
        """Write ``model.pt``, ``config.json`` and ``metrics.json`` into ``directory``."""
        extra = {"train": asdict(self.config), "data": {"source": self.data.source, "n_train": len(self.data.train)},
                 "torch": torch.__version__}
        cfg = model_config(self.model_, classes=self.data.classes, image_size=self.config.image_size, extra=extra)
        save_checkpoint(Path(directory), self.model_, cfg)
        (Path(directory) / "metrics.json").write_text(json.dumps(self.metrics_, indent=2))
