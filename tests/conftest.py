"""Shared test fixtures. Real media are fetched by the project itself (cdr.resources), never committed."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def arctic_audio() -> tuple[np.ndarray, int]:
    """The CMU Arctic sentence ``arctic_a0007.wav`` (adult male, 4.0 s) as ``(y float32 mono, 16000)``.

    Fetched once from the pysptk source distribution on PyPI into ``data/cache/``.
    """
    from cdr.io import read_audio
    from cdr.resources import arctic_wav

    return read_audio(arctic_wav(), sr=16000), 16000


def cohort_around(row, group: str, folder, *, table: str = "features.parquet") -> None:
    """Write a 40-video training table near one feature row, with ``labels.csv`` beside it.

    CDR 0.5 (17 videos) is ``row`` plus noise (5 % of each value, plus 0.05); in CDR 1
    (19) and CDR 2 (4) the columns of ``group`` are shifted up and down by ten times
    that noise, so a sound model must rest on ``group``.
    """
    import pandas as pd

    rng = np.random.default_rng(0)
    x = row.to_numpy(dtype=float)
    sd = 0.05 * np.abs(np.nan_to_num(x)) + 0.05
    planted = row.index.str.startswith(f"{group}.")
    rows, cdr = [], []
    for value, n, shift in ((0.5, 17, 0.0), (1.0, 19, 10.0), (2.0, 4, -10.0)):
        rows += [x + sd * (rng.normal(size=x.size) + shift * planted) for _ in range(n)]
        cdr += [value] * n
    ids = pd.Index([f"v{i:02d}" for i in range(len(rows))], name="video_id")
    pd.DataFrame(rows, index=ids, columns=row.index).to_parquet(folder / table)
    pd.DataFrame({"video_id": ids, "cdr": cdr}).to_csv(folder / "labels.csv", index=False)


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """Run in ``tmp_path``, where ``clip.mp4`` and ``interview.mp4`` exist (cdr-predict checks the
    recording's path before it loads models); for tests whose extractor is replaced by a stand-in."""
    monkeypatch.chdir(tmp_path)
    for name in ("clip.mp4", "interview.mp4"):
        (tmp_path / name).write_bytes(b"stand-in; never decoded")
    return tmp_path
