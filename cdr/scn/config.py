"""What defines a Self-Cure Network training run, without importing torch.

``cdr-scn-train --help`` reads its defaults from here, so that it answers at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from cdr.errors import ParameterError

#: Dataset layouts that :func:`cdr.scn.data.load_dataset` reads.
FORMATS = ("rafdb", "ferplus", "imagefolder")
#: Devices that :func:`cdr.scn.runtime.resolve_device` accepts.
DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainConfig:
    """Everything that defines a run (stored in ``config.json`` under ``"train"``).

    Defaults follow the paper and its reference code: Adam (lr 1e-3, weight decay
    1e-4; ``optimizer="sgd"`` gives SGD with momentum 0.9) with the learning rate
    multiplied by 0.9 each epoch; beta 0.7,
    delta_1 0.15, delta_2 0.2, gamma 0.5, relabelling from epoch 10 in the
    low-importance group.
    """

    epochs: int = 40
    batch_size: int = 64
    image_size: int = 112
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    lr_decay: float = 0.9
    attention: bool = True
    rank: bool = True
    relabel: bool = True
    relabel_scope: str = "low"  # "low" (paper) or "all" (reference code)
    relabel_epoch: int = 10
    beta: float = 0.7
    margin1: float = 0.15
    margin2: float = 0.2
    gamma: float = 0.5
    drop_rate: float = 0.0
    flip: bool = True
    shift: float = 0.1
    noise: float = 0.0
    seed: int = 0
    device: str = "auto"
    workers: int | None = None
    threads: int | None = None
    deterministic: bool = True

    def check(self) -> None:
        """Raise ParameterError on a value that cannot work."""
        ints = {"epochs": 1, "batch_size": 2, "image_size": 32, "relabel_epoch": 1}
        for name, low in ints.items():
            if getattr(self, name) < low:
                raise ParameterError(f"{name}={getattr(self, name)} must be >= {low}")
        if self.optimizer not in ("adam", "sgd"):
            raise ParameterError(f"optimizer={self.optimizer!r} must be 'adam' or 'sgd'")
        if self.relabel_scope not in ("low", "all"):
            raise ParameterError(f"relabel_scope={self.relabel_scope!r} must be 'low' or 'all'")
        if self.rank and not self.attention:
            raise ParameterError("rank regularisation needs the attention branch: pass --no-rank with --no-attention")
        if not 0.0 <= self.shift < 0.5:
            raise ParameterError(f"shift={self.shift} must lie in [0, 0.5)")
        if self.lr <= 0 or not 0 < self.lr_decay <= 1:
            raise ParameterError(f"lr={self.lr} must be > 0 and lr_decay={self.lr_decay} in (0, 1]")
