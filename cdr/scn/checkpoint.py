"""Checkpoint files: ``model.pt`` (a plain state_dict) and ``config.json``.

Loading never unpickles code: ``torch.load(..., weights_only=True)``, then the
keys, shapes and values are checked against a freshly built network. Anything
off is a :class:`~cdr.errors.ModelFileError` naming the file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from cdr.errors import ModelFileError
from cdr.outdir import atomic_write
from cdr.scn.model import ARCH, SCN, build_scn

FORMAT_VERSION = 1
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
#: Per-channel normalisation of [0, 1] RGB (ImageNet statistics, as in the reference code).
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def model_config(model: SCN, *, classes: list[str], image_size: int, extra: dict | None = None) -> dict:
    """The ``config.json`` content describing ``model`` (what the loader needs, plus ``extra``)."""
    cfg = {
        "format_version": FORMAT_VERSION,
        "arch": ARCH,
        "classes": list(classes),
        "image_size": int(image_size),
        "attention": model.attention,
        "drop_rate": float(model.dropout.p),
        "mean": list(MEAN),
        "std": list(STD),
    }
    cfg.update(extra or {})
    return cfg


def save_checkpoint(directory: Path, model: SCN, config: dict) -> None:
    """Write ``model.pt`` (CPU, contiguous state_dict) and ``config.json`` into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    # Each file is written beside its final name and renamed into place, so that an
    # interrupted run leaves the previous checkpoint or none, never a truncated one.
    atomic_write(directory / MODEL_FILE, lambda tmp: torch.save(state, tmp))
    atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(config, indent=2)))


def _check_config(cfg: object, path: Path) -> dict:
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: not a JSON object; retrain with cdr-scn-train")
    if cfg.get("arch") != ARCH:
        raise ModelFileError(f"{path}: arch={cfg.get('arch')!r}, expected {ARCH!r}; use a cdr-scn-train checkpoint")
    if cfg.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format_version={cfg.get('format_version')!r}, expected {FORMAT_VERSION}; "
                             "retrain with this version of cdr-scn-train")
    classes, size = cfg.get("classes"), cfg.get("image_size")
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)
            and len(set(classes)) == len(classes)):
        raise ModelFileError(f"{path}: 'classes' must be a list of >= 2 distinct names, got {classes!r}")
    if not (isinstance(size, int) and 32 <= size <= 1024):
        raise ModelFileError(f"{path}: image_size={size!r} must be an integer in [32, 1024]")
    if not isinstance(cfg.get("attention"), bool):
        raise ModelFileError(f"{path}: 'attention' must be true or false")
    for key in ("mean", "std"):
        v = cfg.get(key)
        if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)):
            raise ModelFileError(f"{path}: {key!r} must be three numbers")
    if not all(math.isfinite(x) for x in cfg["mean"] + cfg["std"]) or any(s <= 0 for s in cfg["std"]):
        raise ModelFileError(f"{path}: 'mean' must be finite and 'std' finite and positive")
    drop = cfg.get("drop_rate", 0.0)
    if not (isinstance(drop, (int, float)) and 0.0 <= drop < 1.0):
        raise ModelFileError(f"{path}: drop_rate={drop!r} must lie in [0, 1)")
    return cfg


def load_checkpoint(directory: Path, device: torch.device | str = "cpu") -> tuple[SCN, dict]:
    """Load and validate a checkpoint directory; returns (model in eval mode on ``device``, config)."""
    directory = Path(directory)
    cfg_path, model_path = directory / CONFIG_FILE, directory / MODEL_FILE
    for p in (cfg_path, model_path):
        if not p.is_file():
            raise ModelFileError(f"{p}: missing; a checkpoint folder holds {MODEL_FILE} and {CONFIG_FILE} "
                                 "(written by cdr-scn-train)")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{cfg_path}: not valid JSON ({exc}); retrain with cdr-scn-train") from exc
    cfg = _check_config(cfg, cfg_path)
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling/zip failure means the file is unusable
        raise ModelFileError(f"{model_path}: not a readable weights file ({type(exc).__name__}: {exc}); "
                             "retrain with cdr-scn-train") from exc
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise ModelFileError(f"{model_path}: not a state_dict of named tensors; retrain with cdr-scn-train")
    model = build_scn(len(cfg["classes"]), attention=cfg["attention"], drop_rate=float(cfg.get("drop_rate", 0.0)))
    want = model.state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise ModelFileError(f"{model_path}: keys do not match {CONFIG_FILE} (missing {missing[:3]}, "
                             f"unexpected {extra[:3]}); the two files come from different checkpoints")
    for k, v in want.items():
        if state[k].shape != v.shape or state[k].dtype != v.dtype:
            raise ModelFileError(f"{model_path}: {k} has shape {tuple(state[k].shape)} {state[k].dtype}, "
                                 f"expected {tuple(v.shape)} {v.dtype}")
        if state[k].is_floating_point() and not bool(torch.isfinite(state[k]).all()):
            raise ModelFileError(f"{model_path}: {k} holds NaN or infinite values; the training diverged")
    model.load_state_dict(state)
    return model.to(device).eval(), cfg
