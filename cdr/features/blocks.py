"""Frame-wise transforms of long signals, computed in blocks of frames to bound memory.

A centred frame transform (librosa's ``center=True`` with zero padding) of a
60-minute recording holds 360,000 frames at a 10 ms hop: its complex STFT alone
takes ~0.7 GB. :func:`in_blocks` computes the same frames a block at a time, each
block from its own slice of the signal zero-padded at the recording's ends, so
the result equals the one-shot transform while only one block is held at once.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: Frames per block: 8192 frames of 10 ms are ~82 s of audio.
BLOCK_FRAMES = 8192


def n_centred_frames(n_samples: int, hop: int) -> int:
    """Frames of a centred transform with an even frame length: ``1 + n_samples // hop``."""
    return 1 + int(n_samples) // int(hop)


def in_blocks(
    transform: Callable[[np.ndarray], np.ndarray],
    y: np.ndarray,
    *,
    frame_length: int,
    hop: int,
    block_frames: int | None = None,
) -> np.ndarray:
    """Apply a frame transform, as if centred on ``y``, a block of frames at a time.

    Parameters
    ----------
    transform : callable
        ``transform(chunk)`` computes the *uncentred* frames of ``chunk``
        (``center=False``, frame length ``frame_length``, hop ``hop``) and returns an
        array whose last axis is frames.
    y : np.ndarray [shape=(n,)]
        The whole signal.
    frame_length : int
        Samples per frame (even); the signal is padded by ``frame_length // 2`` zeros
        at each end, as librosa's ``center=True, pad_mode="constant"`` does.
    hop : int
        Samples between frames.
    block_frames : int, optional
        Frames computed at once (default :data:`BLOCK_FRAMES`, read at call time).

    Returns
    -------
    np.ndarray [shape=(..., n_centred_frames(n, hop))]
        Equal to ``transform`` of the whole zero-padded signal.
    """
    if frame_length % 2:
        raise ValueError(f"frame_length={frame_length} must be even")
    block_frames = int(block_frames or BLOCK_FRAMES)
    pad = frame_length // 2
    n = len(y)
    total = n_centred_frames(n, hop)
    out = []
    for f0 in range(0, total, int(block_frames)):
        f1 = min(total, f0 + int(block_frames))
        a, b = f0 * hop - pad, (f1 - 1) * hop - pad + frame_length  # samples of frames f0..f1-1
        chunk = y[max(a, 0):min(b, n)]
        if a < 0 or b > n:
            chunk = np.pad(chunk, (max(0, -a), max(0, b - n)))
        out.append(transform(chunk))
    return np.concatenate(out, axis=-1)
