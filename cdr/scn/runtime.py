"""Device choice, CPU threads and seeding: the explicit parameters of every SCN run."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from cdr.errors import ParameterError
from cdr.scn.config import DEVICES  # defined without torch, for --help


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when present, else CPU; ``"cuda"`` without CUDA is a ParameterError."""
    if isinstance(device, torch.device):
        return device
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device={name!r}: no CUDA device is visible; pass --device cpu or auto")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ParameterError(f"device={name!r} must be one of {list(DEVICES)}")


def available_cpus() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure(device: torch.device, *, threads: int | None = None, deterministic: bool = True) -> None:
    """Set intra-op threads (CPU) and cuDNN determinism (CUDA).

    ``threads`` defaults to the cores this process may use; on CUDA the backend
    is set up for reproducibility when ``deterministic`` (else cuDNN autotunes).
    """
    if threads is not None and threads < 1:
        raise ParameterError(f"threads={threads} must be >= 1")
    if device.type == "cpu":
        torch.set_num_threads(threads or available_cpus())
    else:
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op context on CPU (fp32 there)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def device_name(device: torch.device) -> str:
    """Human-readable name of the device (the card's name on CUDA)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
