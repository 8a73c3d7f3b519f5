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
