"""Reading recordings: list the inputs, decode video frames and the audio track.

This is the only module that imports PyAV. Frames stream one at a time, so
memory stays flat however long the recording is. Timestamps come from each
frame's pts, so variable frame rate is handled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from .errors import InputError, NoAudioError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".ogg")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS

AUDIO_RATE = 16_000


@dataclass(frozen=True)
class Recording:
    """One input file found in a recordings folder."""

    path: Path
    video_id: str

    @property
    def audio_only(self) -> bool:
        return self.path.suffix.lower() in AUDIO_EXTENSIONS


@dataclass(frozen=True)
class MediaInfo:
    """What a container holds. ``fps`` is the average rate; frames carry their own times."""

    path: Path
    duration_s: float
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = float("nan")
    rotation: int = 0
    codec: str = ""
    audio_streams: int = 0
    still_image: bool = False


def video_id_for(path: Path, root: Path) -> str:
    """``video_id``: the path relative to ``root``, without extension, ``/``-separated."""
    rel = Path(os.path.relpath(path, root))
    return rel.with_suffix("").as_posix()


def list_inputs(folder: str | os.PathLike) -> list[Recording]:
    """All media files under ``folder``, recursively, sorted by ``video_id``.

    Symbolic links to files are followed; links to folders are not, so a link
    loop cannot make the walk run forever. A folder whose name looks like a
    media file (``x.mp4/``) is listed, so that it is reported as a failure
    rather than silently ignored.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder; pass the folder that holds the recordings")
    found: list[Recording] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False, onerror=None):
        for name in list(dirnames):
            if name.lower().endswith(MEDIA_EXTENSIONS):
                found.append(Recording(Path(dirpath) / name, video_id_for(Path(dirpath) / name, root)))
        for name in filenames:
            if name.lower().endswith(MEDIA_EXTENSIONS) and not name.startswith("."):
                path = Path(dirpath) / name
                found.append(Recording(path, video_id_for(path, root)))
    found.sort(key=lambda r: r.video_id)
    return found


def check_file(path: str | os.PathLike) -> Path:
    """The checks on a recording's path that need no decoder; :class:`InputError` names what is wrong."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a recording; rename or move it out of the input folder")
    if not path.exists():
        raise InputError(f"{path}: does not exist (a broken link?); fix or remove it")
    if not path.is_file():
        raise InputError(f"{path}: is not a regular file (a pipe or device?); copy the recording into a file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: is not readable; check its permissions")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: is empty (0 bytes); copy the recording again")
    return path


def _open(path: Path) -> av.container.InputContainer:
    path = check_file(path)
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        with open(path, "rb") as f:
            head = f.read(12)
        if head[4:8] == b"ftyp":
            raise InputError(f"{path}: an MP4/MOV file that is truncated or damaged ({_reason(exc)}); "
                             "copy it again from the source") from exc
        raise InputError(f"{path}: not a readable media file ({_reason(exc)}); check that it plays, or re-encode it") from exc


def _reason(exc: BaseException) -> str:
    """FFmpeg's own words, without the errno and the repeated file name."""
    if isinstance(exc, av.error.FFmpegError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text.split(": '")[0]


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read a container's header: streams, duration, frame rate, size and rotation."""
    path = Path(path)
    with _open(path) as container:
        v = container.streams.video[0] if container.streams.video else None
        a = container.streams.audio[0] if container.streams.audio else None
        if v is None and a is None:
            raise InputError(f"{path}: holds no video or audio stream; check that it is a recording")
        duration = float(container.duration / av.time_base) if container.duration else float("nan")
        n_audio = len(container.streams.audio)
        if v is None:
            return MediaInfo(path, duration, False, True, audio_streams=n_audio)
        if not np.isfinite(duration) and v.duration and v.time_base:
            duration = float(v.duration * v.time_base)
        fps = float(v.average_rate) if v.average_rate else float("nan")
        rotation = 0
        try:
            first = next(container.decode(v))
            rotation = int(round(first.rotation or 0)) % 360
        except (StopIteration, av.error.FFmpegError):
            pass
        w, h = v.codec_context.width, v.codec_context.height
        if rotation in (90, 270):
            w, h = h, w
        still = container.format.name.endswith("_pipe") or container.format.name == "image2"
        return MediaInfo(path, duration, True, a is not None, w, h, fps, rotation, v.codec_context.name,
                         n_audio, still)


class Frame:
    """One decoded video frame, kept in the decoder's YUV 4:2:0 layout.

    Converting a whole 720p frame to RGB costs more than FaceMesh's crop needs,
    so RGB is made on demand: :meth:`rgb` for the full frame (cached) and
    :meth:`warp_rgb` for an affine-warped crop, which converts only the crop.

    Attributes
    ----------
    t : float
        Seconds from the stream's start, from the frame's pts.
    width, height : int
        Displayed size in pixels.
    """

    __slots__ = ("t", "width", "height", "_yuv", "_rgb")

    def __init__(self, t: float, *, yuv: np.ndarray | None = None, rgb: np.ndarray | None = None) -> None:
        self.t = t
        self._yuv, self._rgb = yuv, rgb
        if rgb is not None:
            self.height, self.width = rgb.shape[:2]
        else:
            self.height, self.width = yuv.shape[0] * 2 // 3, yuv.shape[1]

    def rgb(self) -> np.ndarray:
        """The whole frame [shape=(height, width, 3), dtype=uint8]."""
        if self._rgb is None:
            self._rgb = cv2.cvtColor(self._yuv, cv2.COLOR_YUV2RGB_I420)
        return self._rgb

    def warp_rgb(self, m: np.ndarray, size: int) -> np.ndarray:
        """The frame warped by the 2x3 affine ``m`` into a ``size`` x ``size`` RGB crop.

        Pixels outside the frame are black.
        """
        if self._rgb is not None:
            return cv2.warpAffine(self._rgb, m, (size, size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT)
        h, w = self.height, self.width
        y = self._yuv[:h]
        u = self._yuv[h: h + h // 4].reshape(h // 2, w // 2)
        v = self._yuv[h + h // 4:].reshape(h // 2, w // 2)
        half = size // 2
        mc = m * 0.5
        mc[:, :2] = m[:, :2]  # chroma in, chroma out: both at half resolution
        out = np.empty((size * 3 // 2, size), np.uint8)
        cv2.warpAffine(y, m, (size, size), dst=out[:size], flags=cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=16)
        out_u = cv2.warpAffine(u, mc, (half, half), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=128)
        out_v = cv2.warpAffine(v, mc, (half, half), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=128)
        out[size: size + size // 4] = out_u.reshape(size // 4, size)
        out[size + size // 4:] = out_v.reshape(size // 4, size)
        return cv2.cvtColor(out, cv2.COLOR_YUV2RGB_I420)


def iter_video(
    path: str | os.PathLike,
    *,
    width: int | None = None,
    height: int | None = None,
    stride: int = 1,
    threads: int = 0,
) -> Iterator[Frame]:
    """Decode video frames one at a time, as :class:`Frame` objects.

    Parameters
    ----------
    width, height : int, optional
        Output size in pixels, after rotation. Scaling happens in the decoder's
        scaler (swscale), not in Python. One of them alone keeps the aspect ratio.
    stride : int
        Keep every ``stride``-th decoded frame.
    threads : int
        Decoder threads; 0 lets FFmpeg choose.

    Yields
    ------
    Frame
        With its time from pts, as displayed (rotation metadata applied).
    """
    path = Path(path)
    if stride < 1:
        raise ValueError(f"stride={stride} must be a positive integer")
    with _open(path) as container:
        if not container.streams.video:
            raise InputError(f"{path}: has no video stream; audio-only files give speech features only")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        start = stream.start_time or 0
        tb = float(stream.time_base) if stream.time_base else None
        size: tuple[int, int] | None = None
        rotation = 0
        planar = False
        n = 0
        try:
            for frame in container.decode(stream):
                if n % stride:
                    n += 1
                    continue
                n += 1
                if size is None:
                    rotation = int(round(frame.rotation or 0)) % 360
                    size = _target_size(frame.width, frame.height, width, height, rotation)
                    planar = rotation == 0 and size[0] % 2 == 0 and size[1] % 2 == 0
                if frame.pts is not None and tb is not None:
                    t = float((frame.pts - start) * tb)
                else:
                    t = float(frame.time) if frame.time is not None else float("nan")
                w, h = size
                if planar:
                    yield Frame(t, yuv=frame.to_ndarray(format="yuv420p", width=w, height=h))
                    continue
                rgb = frame.to_ndarray(format="rgb24", width=w, height=h)
                if rotation:
                    # FFmpeg's display matrix turns counter-clockwise; so does np.rot90 for k > 0.
                    rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
                yield Frame(t, rgb=rgb)
        except av.error.FFmpegError as exc:
            if n == 0:
                raise InputError(f"{path}: video could not be decoded ({_reason(exc)}); re-encode it") from exc
            # A truncated file: keep what was decoded, stop quietly at the damage.
            return


def iter_frames(path: str | os.PathLike, **kwargs) -> Iterator[tuple[float, np.ndarray]]:
    """Like :func:`iter_video`, but yields ``(t, rgb)`` with the whole frame in RGB.

    Yields
    ------
    t : float
        Seconds from the stream's start, from the frame's pts.
    rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]
    """
    for frame in iter_video(path, **kwargs):
        yield frame.t, frame.rgb()


def _target_size(fw: int, fh: int, width: int | None, height: int | None, rotation: int) -> tuple[int, int]:
    """Decoder output size (before rotation) for a wanted displayed size."""
    if rotation in (90, 270):
        width, height = height, width
    if width is None and height is None:
        return fw, fh
    if width is None:
        width = int(round(fw * height / fh / 2)) * 2
    if height is None:
        height = int(round(fh * width / fw / 2)) * 2
    return int(width), int(height)


def read_audio(path: str | os.PathLike, *, sr: int = AUDIO_RATE, stream: int = 0, max_s: float | None = None,
               meter=None) -> np.ndarray:
    """Decode a recording's audio track as mono float32 at ``sr`` Hz.

    Channels are averaged after their polarity is aligned, so that a stereo track
    whose channels are inverted copies does not cancel to silence
    (:class:`cdr.features.audio_qc.AudioMeter`).

    Parameters
    ----------
    stream : int
        Which audio stream (0: the first).
    max_s : float, optional
        Stop after this many seconds.
    meter : AudioMeter, optional
        Watches the native samples (clipping, rate) and does the downmix; pass one
        to read its measurements afterwards.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Samples in [-1, 1].

    Raises
    ------
    NoAudioError
        The container has no audio track. Callers treat this as "speech groups
        are NaN", not as a failure of the recording.
    """
    from .features.audio_qc import AudioMeter

    path = Path(path)
    meter = meter if meter is not None else AudioMeter()
    with _open(path) as container:
        if not container.streams.audio:
            raise NoAudioError(f"{path}: has no audio track; speech features will be NaN")
        audio = container.streams.audio[stream]
        audio.thread_type = "AUTO"
        meter.start(rate_hz=audio.codec_context.sample_rate or audio.rate or 0, out_rate_hz=sr,
                    stream=stream, n_streams=len(container.streams.audio))
        # Resample each channel, then average them: FFmpeg's own downmix scales by 1/sqrt(2).
        resampler = None
        limit = int(max_s * sr) if max_s is not None else None
        known_s = (container.duration / 1e6) if container.duration else None
        samples = _Samples(limit + sr if limit is not None else int(known_s * sr) + sr if known_s else 0)
        n = 0
        try:
            for frame in container.decode(audio):
                if resampler is None:
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=sr)
                meter.native(frame.to_ndarray(), frame.format.name)
                for out in resampler.resample(frame):
                    samples.extend(meter.downmix(out.to_ndarray()))
                n += frame.samples * sr // max(frame.sample_rate, 1)
                if limit is not None and n >= limit:
                    break
        except av.error.FFmpegError:
            samples.extend(meter.flush())
            if not samples.n:
                raise InputError(f"{path}: audio could not be decoded; re-encode it") from None
        if resampler is not None:
            for out in resampler.resample(None):
                samples.extend(meter.downmix(out.to_ndarray()))
        samples.extend(meter.flush())
    y = samples.result()
    return y[:limit] if limit is not None else y


class _Samples:
    """Mono float32 samples gathered into one buffer sized from the container's duration.

    A list of chunks joined at the end would hold the signal twice (0.9 GB at the peak for an
    hour at 16 kHz); the buffer grows by half when the duration was short of the truth.
    """

    def __init__(self, expected: int) -> None:
        self.buf = np.empty(max(int(expected), 0), np.float32)
        self.n = 0

    def extend(self, chunks: list[np.ndarray]) -> None:
        for c in chunks:
            if self.n + c.size > self.buf.size:
                grown = np.empty(max(self.n + c.size, int(self.buf.size * 1.5) + 16_000), np.float32)
                grown[: self.n] = self.buf[: self.n]
                self.buf = grown
            self.buf[self.n : self.n + c.size] = c
            self.n += c.size

    def result(self) -> np.ndarray:
        if self.n < 0.9 * self.buf.size:  # a duration far above the truth: give the spare memory back
            return self.buf[: self.n].copy()
        return self.buf[: self.n]
