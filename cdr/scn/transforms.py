"""Batch transforms on the device: uint8 -> normalised float, and training augmentation.

Done on whole batches where the model runs (one affine resampling kernel for flip
and shift), so the loader only decodes and resizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalise(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], *,
              channels_last: bool = False) -> torch.Tensor:
    """uint8 images [B, 3, S, S] -> float32 ``(x / 255 - mean) / std`` on the same device."""
    x = images.float().div_(255.0)
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    x = (x - m) / s
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def augment(x: torch.Tensor, *, flip: bool, shift: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random horizontal flip (p = 0.5) and translation by up to ``shift`` of the side.

    Parameters
    ----------
    x : torch.Tensor [shape=(B, C, S, S), float]
    flip : bool
        Mirror half of the images (right for faces, wrong for digits).
    shift : float
        Largest translation as a share of the image side, in [0, 0.5); borders are
        filled by replicating the edge.
    generator : torch.Generator, optional
        On the same device as ``x``; makes the augmentation reproducible.
    """
    if not flip and shift <= 0:
        return x
    b = x.shape[0]
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    sx = torch.ones(b, device=x.device, dtype=x.dtype)
    if flip:
        sx = torch.where(torch.rand(b, device=x.device, generator=generator) < 0.5, -sx, sx)
    theta[:, 0, 0] = sx
    theta[:, 1, 1] = 1.0
    if shift > 0:
        # affine_grid works in [-1, 1] coordinates: a shift of f of the side is 2 f.
        t = (torch.rand(b, 2, device=x.device, generator=generator) * 2 - 1) * (2 * shift)
        theta[:, :, 2] = t.to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out
