"""Speech material that the project makes for itself: a real sentence and synthetic speech.

Nothing here is committed to the repository and nothing is downloaded at run
time of the pipeline; these helpers serve the tests, the benchmarks and the
synthetic cohort.

* :func:`arctic_wav` fetches one real recorded sentence of the CMU Arctic
  corpus (speaker awb, as shipped by pysptk: ``arctic_a0007.wav``, an adult
  male voice, 16 kHz, 4.0 s) from the pysptk *source distribution* on PyPI, with
  pip's ordinary client, and caches it under ``data/cache/``.
* :func:`speak` speaks a text with espeak-ng (a system package) and returns
  the samples as an array.

The cache folder is ``$CDR_CACHE`` if set, otherwise ``<repo>/data/cache``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import soxr
from filelock import FileLock
from scipy.io import wavfile

from .errors import CdrError, ParameterError

PYSPTK_VERSION = "1.0.1"
PYSPTK_SHA256 = "78b1c9338bf795a41cdc3ff03fcd4699c401c323f54630bb71a19710078d0b3f"
ARCTIC_MEMBER = f"pysptk-{PYSPTK_VERSION}/pysptk/example_audio_data/arctic_a0007.wav"
ARCTIC_NAME = "arctic_a0007.wav"

_REPO = Path(__file__).resolve().parents[1]


def cache_dir() -> Path:
    """The project's cache folder (created if missing): ``$CDR_CACHE`` or ``<repo>/data/cache``."""
    path = Path(os.environ.get("CDR_CACHE", _REPO / "data" / "cache"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def arctic_wav() -> Path:
    """Path of the CMU Arctic sentence ``arctic_a0007.wav`` (16 kHz mono, adult male, 4.0 s).

    The first call runs ``python -m pip download --no-deps --no-binary pysptk
    pysptk==1.0.1`` into ``<cache>/pysptk/``, checks the archive's SHA-256 and
    extracts only the wav into ``<cache>/``. Later calls return the cached file
    without touching the network. ``--no-binary pysptk`` (rather than
    ``:all:``) lets pip use wheels for pysptk's build requirements while it
    reads the source archive's metadata; building numpy from source for that
    would take many minutes.

    Returns
    -------
    path : pathlib.Path
        The cached wav.

    Raises
    ------
    CdrError
        The archive could not be downloaded or does not hold the sentence.
    """
    root = cache_dir()
    target = root / ARCTIC_NAME
    if target.is_file() and target.stat().st_size > 0:
        return target
    with FileLock(str(root / f"{ARCTIC_NAME}.lock")):
        if target.is_file() and target.stat().st_size > 0:
            return target
        sdist = _fetch_pysptk_sdist(root / "pysptk")
        try:
            with tarfile.open(sdist, "r:gz") as tar:
                member = tar.extractfile(ARCTIC_MEMBER)
                if member is None:
                    raise KeyError(ARCTIC_MEMBER)
                data = member.read()
        except (KeyError, tarfile.TarError, OSError) as exc:
            raise CdrError(
                f"{sdist}: does not hold {ARCTIC_MEMBER} ({exc}); delete it and run again"
            ) from exc
        tmp = target.with_suffix(".wav.part")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    return target


def _fetch_pysptk_sdist(folder: Path) -> Path:
    """Download (once) and verify the pysptk source archive into ``folder``."""
    sdist = folder / f"pysptk-{PYSPTK_VERSION}.tar.gz"
    if not (sdist.is_file() and _sha256(sdist) == PYSPTK_SHA256):
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pysptk",
            "--disable-pip-version-check", "-q", f"pysptk=={PYSPTK_VERSION}", "-d", str(folder),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not sdist.is_file():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise CdrError(
                f"could not fetch the CMU Arctic test sentence (pip download pysptk=={PYSPTK_VERSION} "
                f"failed: {last}); check access to PyPI, or put {ARCTIC_NAME} into {folder.parent}"
            )
    digest = _sha256(sdist)
    if digest != PYSPTK_SHA256:
        raise CdrError(
            f"{sdist}: SHA-256 {digest} is not the expected {PYSPTK_SHA256}; delete it and run again"
        )
    return sdist


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def speak(text: str, *, voice: str = "en", speed: int = 160, pitch: int = 50, sr: int = 16000) -> np.ndarray:
    """Speak ``text`` with espeak-ng.

    Parameters
    ----------
    text : str
        What to say (UTF-8).
    voice : str
        espeak-ng voice, e.g. ``"en"``, ``"en-us"``, ``"de"``, ``"en+f3"`` (a female variant).
    speed : int
        Words per minute (espeak-ng ``-s``, 80..450).
    pitch : int
        Pitch adjustment (espeak-ng ``-p``, 0..99; 50 is the voice's default).
    sr : int
        Output sample rate in Hz.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples in [-1, 1] at ``sr`` Hz, including espeak-ng's short lead-in and tail silence.

    Raises
    ------
    CdrError
        espeak-ng is not installed, or it failed.
    ParameterError
        An argument is out of range.
    """
    if not text or not text.strip():
        raise ParameterError(f"text={text!r} must hold something to say")
    if not 80 <= int(speed) <= 450:
        raise ParameterError(f"speed={speed} must be between 80 and 450 words per minute")
    if not 0 <= int(pitch) <= 99:
        raise ParameterError(f"pitch={pitch} must be between 0 and 99")
    if int(sr) <= 0:
        raise ParameterError(f"sr={sr} must be a positive sample rate in Hz")
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise CdrError(
            "espeak-ng is missing: install it (Debian/Ubuntu: sudo apt-get install espeak-ng, or `make system-deps`)"
        )
    with tempfile.TemporaryDirectory(prefix="cdr-speak-") as tmp:
        out = Path(tmp) / "speech.wav"
        cmd = [exe, "-b", "1", "-v", voice, "-s", str(int(speed)), "-p", str(int(pitch)), "-w", str(out)]
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True)
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size <= 44:
            msg = proc.stderr.decode("utf-8", "replace").strip() or "no output"
            raise CdrError(f"espeak-ng failed for voice={voice!r}: {msg}; check `espeak-ng --voices`")
        rate, data = wavfile.read(out)
    y = _to_float(data)
    if y.ndim == 2:
        y = y.mean(axis=1)
    if rate != sr:
        y = soxr.resample(y, rate, sr)
    return np.ascontiguousarray(y, dtype=np.float32)


def _to_float(data: np.ndarray) -> np.ndarray:
    """PCM samples of any wav dtype -> float32 in [-1, 1]."""
    if data.dtype.kind == "f":
        return data.astype(np.float32)
    if data.dtype == np.uint8:
        return (data.astype(np.float32) - 128.0) / 128.0
    return data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
