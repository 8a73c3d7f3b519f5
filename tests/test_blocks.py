"""Block-wise frame transforms equal the one-shot centred transform (cdr.features.blocks)."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from cdr.features.blocks import in_blocks, n_centred_frames


@pytest.mark.parametrize("n", [0, 150, 399, 400, 16_000 + 37])
@pytest.mark.parametrize("block", [1, 7, 8192])
def test_rms_in_blocks_equals_the_centred_rms(n, block):
    y = np.random.default_rng(n).normal(0, 0.1, n).astype(np.float32)
    whole = librosa.feature.rms(y=y, frame_length=400, hop_length=160, center=True)[0]
    parts = in_blocks(lambda c: librosa.feature.rms(y=c, frame_length=400, hop_length=160, center=False)[0],
                      y, frame_length=400, hop=160, block_frames=block)
    assert parts.shape == whole.shape == (n_centred_frames(n, 160),)
    np.testing.assert_allclose(parts, whole, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("block", [3, 64])
def test_stft_in_blocks_equals_the_centred_stft(block):
    y = np.random.default_rng(0).normal(0, 0.1, 5 * 16_000 + 11).astype(np.float32)
    whole = np.abs(librosa.stft(y, n_fft=512, win_length=400, hop_length=160, center=True)) ** 2
    parts = in_blocks(lambda c: np.abs(librosa.stft(c, n_fft=512, win_length=400, hop_length=160, center=False)) ** 2,
                      y, frame_length=512, hop=160, block_frames=block)
    assert parts.shape == whole.shape
    np.testing.assert_allclose(parts, whole, rtol=1e-4, atol=1e-9)


def test_an_odd_frame_length_is_refused():
    with pytest.raises(ValueError, match="frame_length=401 must be even"):
        in_blocks(lambda c: c, np.zeros(10), frame_length=401, hop=160)
