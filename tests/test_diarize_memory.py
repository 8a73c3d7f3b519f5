"""Diarization of a long recording clusters a bounded number of windows (cdr.speakers.diarize)."""

from __future__ import annotations

import numpy as np

from cdr.speakers import diarize


def _voices(n_per: tuple[int, int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit embeddings around two well-separated voices, in shuffled order, and their truth."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, 256))
    truth = np.repeat([0, 1], n_per)
    emb = centres[truth] + 0.25 * rng.normal(size=(len(truth), 256))
    order = rng.permutation(len(truth))
    emb, truth = emb[order], truth[order]
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32), truth


def test_more_windows_than_clustered_at_once_give_the_same_speakers(monkeypatch):
    emb, truth = _voices((300, 120))
    whole = diarize.cluster(emb, min_windows=4)
    monkeypatch.setattr(diarize, "MAX_CLUSTERED", 100)  # the subset path: every 5th window
    part = diarize.cluster(emb, min_windows=4)
    assert (whole == truth).all()  # the larger voice is speaker 0
    assert (part == whole).all()
