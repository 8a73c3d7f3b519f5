"""SCN (ResNet-18 + importance head) throughput: training and inference images per second.

Times the network alone on synthetic uint8 batches already in memory (normalisation
and augmentation on the device included, file decoding excluded): one training step
is forward, gamma L_RR + (1 - gamma) L_WCE, backward and an Adam update; inference
is an eval-mode forward. CUDA runs use bf16 autocast and channels_last, as the trainer.

    python benchmarks/scn_speed.py --device cpu --sizes 112 --steps 3
    python benchmarks/scn_speed.py --device cuda --sizes 48 112 224 --out speed.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from cdr.scn.checkpoint import MEAN, STD
from cdr.scn.losses import scn_loss
from cdr.scn.model import build_scn
from cdr.scn.runtime import autocast, configure, device_name, resolve_device
from cdr.scn.transforms import augment, normalise


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(device: torch.device, size: int, *, train_batch: int, infer_batch: int, steps: int,
            warmup: int) -> dict:
    """Images per second for training steps and inference batches at one input size."""
    cuda = device.type == "cuda"
    model = build_scn(7).to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=device).manual_seed(0)

    def prep(u8: torch.Tensor, train: bool) -> torch.Tensor:
        x = normalise(u8.to(device, non_blocking=True), MEAN, STD)
        x = augment(x, flip=True, shift=0.1, generator=gen) if train else x
        return x.contiguous(memory_format=torch.channels_last) if cuda else x

    u8 = torch.randint(0, 256, (train_batch, 3, size, size), dtype=torch.uint8)
    y = torch.randint(0, 7, (train_batch,), device=device)
    if cuda:
        u8 = u8.pin_memory()
    model.train()
    for i in range(warmup + steps):
        if i == warmup:
            _sync(device)
            t0 = time.perf_counter()
        with autocast(device):
            logits, alpha = model(prep(u8, True))
        loss, _ = scn_loss(logits, alpha, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    _sync(device)
    train_ips = steps * train_batch / (time.perf_counter() - t0)

    u8 = torch.randint(0, 256, (infer_batch, 3, size, size), dtype=torch.uint8)
    if cuda:
        u8 = u8.pin_memory()
    model.eval()
    with torch.no_grad():
        for i in range(warmup + steps):
            if i == warmup:
                _sync(device)
                t0 = time.perf_counter()
            with autocast(device):
                model(prep(u8, False))
        _sync(device)
    infer_ips = steps * infer_batch / (time.perf_counter() - t0)
    return {"image_size": size, "train_batch": train_batch, "infer_batch": infer_batch, "steps": steps,
            "train_images_per_s": round(train_ips, 1), "inference_images_per_s": round(infer_ips, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--sizes", type=int, nargs="+", default=[112])
    p.add_argument("--train-batch", type=int, default=64)
    p.add_argument("--infer-batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    device = resolve_device(a.device)
    configure(device, threads=a.threads, deterministic=False)
    rows = [measure(device, s, train_batch=a.train_batch, infer_batch=a.infer_batch, steps=a.steps,
                    warmup=a.warmup) for s in a.sizes]
    result = {"device": device_name(device), "torch": torch.__version__,
              "precision": "bf16 autocast, channels_last" if device.type == "cuda" else "fp32", "results": rows}
    print(json.dumps(result, indent=2))
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
