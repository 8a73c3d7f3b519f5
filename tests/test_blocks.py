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


def test_the_speech_frames_of_a_long_recording_take_bounded_memory(monkeypatch):
    """5 minutes of audio: MFCC frames, VAD and syllable nuclei allocate < 2.5x the signal at their peak.

    Before the block-wise transforms, the full STFT alone (257 x 30,000 complex64) took
    3.3x the signal, and the peak grew with the recording's length (1.9 GB for 40 minutes).
    With small blocks (512 frames), what remains is what grows with the length.
    tracemalloc counts NumPy's allocations exactly, whatever the machine's memory does.
    """
    import tracemalloc

    from cdr.features import blocks, mfcc, voice

    monkeypatch.setattr(blocks, "BLOCK_FRAMES", 512)

    sr, n = 16_000, 5 * 60 * 16_000
    rng = np.random.default_rng(0)
    y = (rng.normal(0, 0.1, n) * (np.arange(n) // sr % 3 != 0)).astype(np.float32)  # 2 s of noise, 1 s silent
    short = y[: 4 * sr]  # the first calls import librosa's modules: not what is measured
    voice.syllable_nuclei(short, sr, voice.voice_activity(short, sr))
    mfcc.mfcc_frames(short, sr)
    tracemalloc.start()
    try:
        act = voice.voice_activity(y, sr)
        feats = mfcc.mfcc_frames(y, sr)
        voice.syllable_nuclei(y, sr, act)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert act.status == "ok" and feats.shape == (3, 13, n_centred_frames(n, 160))
    assert peak < 2.5 * y.nbytes, f"peak {peak / 2**20:.0f} MiB for a {y.nbytes / 2**20:.0f} MiB signal"


def test_voicing_of_every_frame_takes_memory_that_does_not_grow_with_the_length():
    """The voicing autocorrelation reads frames in blocks, with no padded copy of the signal."""
    import tracemalloc

    from cdr.features import voice

    sr = 16_000
    rng = np.random.default_rng(1)
    peaks = {}
    for minutes in (2, 8):
        y = rng.normal(0, 0.1, minutes * 60 * sr).astype(np.float32)
        tracemalloc.start()
        try:
            voice.voiced_frames(y, sr)
            peaks[minutes] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    grown = peaks[8] - peaks[2]
    assert grown < 0.25 * 8 * 60 * sr * 4, f"{grown / 2**20:.0f} MiB more for 8 minutes than for 2"
