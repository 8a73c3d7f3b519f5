"""Audio-track quality: what a recording's sound does wrong, measured and, where it can be, repaired.

The ``qc.`` values (NaN when the recording has no audio track):

- ``qc.audio_rate_hz``: the file's native sample rate. Below 16 kHz (8 kHz telephone
  audio, say) the band above rate/2 is missing, which moves ``mfcc.`` and ``gemaps.``
  values: a warning says so.
- ``qc.clipped_ratio``: the share of the native samples (all channels) that sit at the
  track's peak, within 0.1 % of it (``|x| >= 0.999 * peak``). Unclipped speech has
  almost none (a handful of samples at its loudest instant); clipped speech has every
  sample that hit the ceiling. Above :data:`CLIPPED_WARN` a warning says that the
  voice-quality features are distorted.
- ``qc.audio_level_dbfs``: the RMS level of the active speech frames (energy voice
  activity of :mod:`cdr.features.voice`), in dBFS. A recording condition, not a trait
  of the patient: the model's confound check reads it.
- ``qc.av_length_diff_s``: audio length minus video length, in seconds (NaN for
  audio-only files). Beyond :data:`AV_DIFF_WARN` seconds either way, a warning.

Repairs, each with a warning:

- *Channels that cancel.* Averaging a stereo track whose channels are in opposite
  polarity (left = -right, a wiring fault) leaves silence. :class:`AudioMeter` looks at
  the first :data:`DECIDE_S` seconds; when their average holds under a quarter of the
  channels' energy, each channel that is anti-correlated with the loudest one is
  inverted before the downmix.
- *Several audio streams.* :func:`pick_stream` reads the first :data:`PICK_S` seconds
  of each and uses the one with the most speech; the warning names it and the others.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

NAMES: list[str] = ["qc.audio_rate_hz", "qc.clipped_ratio", "qc.audio_level_dbfs", "qc.av_length_diff_s"]
WIDE_BAND_HZ = 16_000
CLIPPED_WARN = 0.01
AV_DIFF_WARN = 1.0
DECIDE_S = 30.0
PICK_S = 60.0
CANCEL_RATIO = 0.25
_BINS = 10_000  # histogram of |x| in steps of 1e-4 of full scale
_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2.0 ** 31, "s64": 2.0 ** 63}


class AudioMeter:
    """Watches one audio stream while it is decoded: clipping, native rate, channel polarity.

    :func:`cdr.io.read_audio` feeds it every decoded frame twice: its native samples
    (:meth:`native`, for clipping, before any resampling smooths the plateaus) and the
    resampled float channels (:meth:`downmix`, which returns mono). Memory is bounded:
    a 10 000-bin histogram, and the first :data:`DECIDE_S` seconds of channels while the
    polarity is decided.

    Attributes
    ----------
    rate_hz : float
        Native sample rate (NaN until :meth:`start`).
    inverted : tuple of int
        Channels (0-based) whose polarity was inverted before the downmix.
    stream, n_streams : int
        Which audio stream was read, of how many.
    """

    def __init__(self) -> None:
        self.rate_hz = math.nan
        self.stream = 0
        self.n_streams = 0
        self.inverted: tuple[int, ...] = ()
        self._hist = np.zeros(_BINS + 1, np.int64)
        self._peak = 0.0
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._signs: np.ndarray | None = None
        self._decide_n = 0

    def start(self, *, rate_hz: float, out_rate_hz: int, stream: int = 0, n_streams: int = 1) -> None:
        """Called once the stream is opened."""
        self.rate_hz = float(rate_hz) if rate_hz else math.nan
        self.stream, self.n_streams = stream, n_streams
        self._decide_n = int(DECIDE_S * out_rate_hz)

    def native(self, samples: np.ndarray, fmt: str) -> None:
        """Count one frame's native samples (any PyAV sample format: ``s16``, ``fltp``, ...)."""
        base = fmt.rstrip("p")
        x = np.abs(samples.astype(np.float64, copy=False) if base in ("flt", "dbl") else
                   (samples.astype(np.float64) - (128.0 if base == "u8" else 0.0)) / _SCALE.get(base, 1.0))
        if x.size == 0:
            return
        self._peak = max(self._peak, float(np.max(x)))
        idx = np.minimum((np.nan_to_num(x, nan=0.0, posinf=1.0) * _BINS).astype(np.int64), _BINS)
        self._hist += np.bincount(idx.ravel(), minlength=_BINS + 1)

    @property
    def clipped_ratio(self) -> float:
        """Share of native samples within 0.1 % of the peak (0 for silence, NaN before any sample)."""
        total = int(self._hist.sum())
        if total == 0:
            return math.nan
        if self._peak <= 0:
            return 0.0
        first = int(min(0.999 * self._peak, 1.0) * _BINS)
        return float(self._hist[first:].sum() / total)

    def downmix(self, chunk: np.ndarray) -> list[np.ndarray]:
        """Float channels ``(channels, n)`` -> the mono chunks ready so far (polarity-aligned)."""
        chunk = np.asarray(chunk)
        if chunk.ndim == 1 or chunk.shape[0] == 1:
            return [chunk.reshape(-1).astype(np.float32, copy=False)]
        if self._signs is not None:
            return [self._mix(chunk)]
        self._pending.append(chunk)
        self._pending_n += chunk.shape[1]
        return self.flush() if self._pending_n >= self._decide_n else []

    def flush(self) -> list[np.ndarray]:
        """Decide the polarity (if still pending) and return the held-back mono chunks."""
        if not self._pending:
            return []
        head = np.concatenate(self._pending, axis=1).astype(np.float64)
        self._pending, self._pending_n = [], 0
        if self._signs is None:
            self._signs = polarity(head)
            self.inverted = tuple(int(i) for i in np.flatnonzero(self._signs < 0))
        return [self._mix(head)]

    def _mix(self, chunk: np.ndarray) -> np.ndarray:
        return (self._signs @ chunk / chunk.shape[0]).astype(np.float32)


def polarity(channels: np.ndarray) -> np.ndarray:
    """Signs (+1/-1) per channel that keep their average from cancelling.

    Parameters
    ----------
    channels : np.ndarray [shape=(c, n)]

    Returns
    -------
    np.ndarray [shape=(c,)]
        All +1 unless the plain average holds under :data:`CANCEL_RATIO` of the mean
        channel energy; then -1 for each channel anti-correlated with the loudest one.
    """
    energy = np.einsum("ij,ij->i", channels, channels)
    signs = np.ones(channels.shape[0])
    mean = channels.mean(axis=0)
    if energy.sum() <= 0 or float(mean @ mean) * channels.shape[0] >= CANCEL_RATIO * energy.mean():
        return signs
    ref = channels[int(np.argmax(energy))]
    signs[channels @ ref < 0] = -1.0
    return signs


def speech_level_dbfs(y: np.ndarray, active: np.ndarray, hop: int) -> float:
    """RMS level of the samples in active 10 ms frames, in dBFS (NaN without any).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono samples in [-1, 1].
    active : np.ndarray [shape=(k,), dtype=bool]
        One flag per ``hop`` samples (block ``j`` covers samples ``j*hop .. (j+1)*hop``).
    """
    k = min(active.size, y.size // hop)
    if k == 0 or not active[:k].any():
        return math.nan
    blocks = y[: k * hop].reshape(k, hop)  # a view: no copy of a long recording
    energy = np.einsum("ij,ij->i", blocks, blocks).astype(np.float64)[active[:k]]
    mean = energy.sum() / (energy.size * hop)
    return float(10.0 * np.log10(mean)) if mean > 0 else -math.inf


def pick_stream(n_streams: int, read: Callable[[int], np.ndarray], sr: int, *, source: str) -> int:
    """Of several audio streams, the one with the most speech in its first :data:`PICK_S` s.

    Parameters
    ----------
    read : callable
        ``read(i)`` -> mono samples at ``sr`` of stream ``i`` (its first :data:`PICK_S` s).

    Returns
    -------
    int
        The stream's index among the audio streams; a warning names it and the others.
    """
    from .voice import voice_activity

    speech = []
    for i in range(n_streams):
        try:
            y = read(i)
            act = voice_activity(y, sr) if y.size >= sr else None
            speech.append(float(act.active.mean()) if act is not None and act.status == "ok" else 0.0)
        except Exception:  # noqa: BLE001 - an unreadable stream simply has no speech
            speech.append(-1.0)
    best = int(np.argmax(speech))
    others = ", ".join(f"#{i} ({max(s, 0.0):.0%} speech)" for i, s in enumerate(speech) if i != best)
    warnings.warn(f"{source}: has {n_streams} audio streams; used stream #{best} ({max(speech[best], 0.0):.0%} "
                  f"speech in its first {PICK_S:g} s), not {others}", stacklevel=2)
    return best


def audio_quality(y: np.ndarray | None, sr: int, meter: AudioMeter | None, *, source: str) -> pd.Series:
    """The ``qc.`` values of :data:`NAMES` for one recording, with their warnings.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] or None
        The decoded mono track at ``sr`` Hz; None without an audio track.
    meter : AudioMeter or None
        The meter that watched the decoding.

    Returns
    -------
    pd.Series
        Indexed by :data:`NAMES`; ``qc.av_length_diff_s`` is left NaN (see :func:`av_length_diff`).
    """
    from .voice import frame_params, voice_activity

    out = pd.Series(math.nan, index=NAMES, dtype=float)
    if y is None or meter is None:
        return out
    out["qc.audio_rate_hz"] = meter.rate_hz
    out["qc.clipped_ratio"] = meter.clipped_ratio
    if meter.inverted:
        chans = ", ".join(str(c + 1) for c in meter.inverted)
        warnings.warn(f"{source}: audio channel {chans} is phase-inverted against the others (their average "
                      "would be silence); inverted back before the downmix", stacklevel=2)
    if meter.rate_hz < WIDE_BAND_HZ:
        warnings.warn(f"{source}: audio is sampled at {meter.rate_hz:g} Hz (narrow-band, like a telephone); "
                      f"nothing above {meter.rate_hz / 2:g} Hz was recorded, so mfcc. and gemaps. values "
                      "differ from wide-band recordings (qc.audio_rate_hz)", stacklevel=2)
    if out["qc.clipped_ratio"] > CLIPPED_WARN:
        warnings.warn(f"{source}: {out['qc.clipped_ratio']:.1%} of the audio samples are clipped; "
                      "voice-quality features (gemaps.) are distorted (qc.clipped_ratio)", stacklevel=2)
    if y.size >= sr:
        act = voice_activity(y, sr)
        if act.status == "ok":
            out["qc.audio_level_dbfs"] = speech_level_dbfs(y, act.active, frame_params(sr)[1])
    return out


def av_length_diff(audio_s: float, video_s: float, *, source: str) -> float:
    """Audio length minus video length in seconds (NaN if either is unknown), with a warning beyond :data:`AV_DIFF_WARN`."""
    diff = float(audio_s - video_s)
    if abs(diff) > AV_DIFF_WARN:
        longer = "audio" if diff > 0 else "video"
        warnings.warn(f"{source}: the {longer} track is {abs(diff):.1f} s longer than the other; the two may "
                      "not belong together, or one was cut (qc.av_length_diff_s)", stacklevel=2)
    return diff
