"""Writing synthetic videos (H.264/HEVC + AAC mp4) and their per-frame ground truth.

SYNTHETIC DATA. The videos written here hold rendered faces (``cdr.synth.face``)
and synthetic or public-domain speech; the container's title and comment say so.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Mapping

import av
import cv2
import numpy as np
import pandas as pd

from ..errors import ParameterError
from .face import FaceRenderer, background_image

SYNTHETIC_NOTE = "SYNTHETIC: rendered by cdr.synth from public photographs and synthetic speech; not a patient"

#: Columns of a schedule that ``render_face_video`` passes to ``FaceRenderer.render`` per frame.
SCHEDULE_COLUMNS = ("yaw", "pitch", "roll", "gaze_x", "gaze_y", "blink", "smile")


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    audio: np.ndarray | None = None,
    sr: int = 16_000,
    rotation: int = 0,
    codec: str = "libx264",
    crf: int = 20,
    threads: int = 0,
    reproducible: bool = False,
    keyint: int = 0,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """Encode RGB frames (and optional mono audio) into an mp4.

    Parameters
    ----------
    path : path of the ``.mp4`` to write (parent folders are created)
    frames : iterable of np.ndarray [shape=(h, w, 3), dtype=uint8]
        The frames *as they should be displayed*, all the same size (even width and height).
    fps : float
        Frame rate; frame ``i`` gets the timestamp ``i / fps`` seconds.
    audio : np.ndarray [shape=(n,), dtype=float32], optional
        Mono samples in [-1, 1], encoded as AAC.
    sr : int
        Sample rate of ``audio`` in Hz.
    rotation : int
        Display rotation (0, 90, 180, 270; counter-clockwise, FFmpeg's display matrix). The
        frames are stored turned the other way, so that a player honouring the metadata (and
        ``cdr.io.iter_frames``) shows them as given.
    codec : str
        ``"libx264"`` (H.264) or ``"hevc"``/``"libx265"`` (H.265), as the PyAV build offers.
    crf : int
        Constant rate factor (quality; lower is better).
    threads : int
        Encoder threads (0: the encoder chooses). With more than one, x264's output can differ from
        run to run.
    reproducible : bool
        Identical frames give an identical file: one thread, and for H.264 no macroblock-tree
        rate control. With mbtree on, even on one thread, x264 in PyAV's FFmpeg wrote 9 different
        bitstreams in 21 encodes of the same 12-fps clip, each encoded after a 24-fps clip in the
        same process (13 alike, 8 others; first frames differing by up to 29 grey levels); with it
        off, 27 of 27 were identical. Tests that compare tracks across runs need this.
    keyint : int
        Largest keyframe interval in frames (0: the encoder's default). 1 encodes every frame on
        its own, so that two videos sharing a frame encode it alike (e.g. a clip and the same clip
        with some frames blacked out).
    metadata : mapping, optional
        Extra container tags; ``title``/``comment`` default to a synthetic-data note.

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    if rotation % 90 or rotation % 360 not in (0, 90, 180, 270):
        raise ParameterError(f"rotation={rotation} must be one of 0, 90, 180, 270")
    if not fps > 0:
        raise ParameterError(f"fps={fps} must be positive")
    codec = {"hevc": "libx265", "h265": "libx265", "h264": "libx264"}.get(codec, codec)
    if codec not in av.codecs_available:
        raise ParameterError(f"codec={codec!r} is not in this PyAV build; use 'libx264'")
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    k = (rotation % 360) // 90
    tmp = path.with_name(path.name + ".part")
    options = {"crf": str(crf), "preset": "veryfast", "threads": "1" if reproducible else str(int(threads))}
    if reproducible and codec == "libx264":
        options["x264-params"] = "mbtree=0"
    try:
        _encode(tmp, frames, rate, codec, options, keyint, k, rotation, audio, sr, metadata, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return path


def _encode(tmp, frames, rate, codec, options, keyint, k, rotation, audio, sr, metadata, path) -> None:
    n = 0
    with av.open(str(tmp), mode="w", format="mp4") as out:
        out.metadata.update({"title": "synthetic interview", "comment": SYNTHETIC_NOTE, **(metadata or {})})
        vs = out.add_stream(codec, rate=rate)
        vs.pix_fmt = "yuv420p"
        vs.options = options
        if keyint:
            vs.codec_context.gop_size = int(keyint)
        astream = None
        if audio is not None:
            astream = out.add_stream("aac", rate=sr, layout="mono")
            astream.bit_rate = 64_000
        for frame in frames:
            arr = np.asarray(frame, dtype=np.uint8)
            if k:
                arr = np.ascontiguousarray(np.rot90(arr, k=-k))
            if n == 0:
                h, w = arr.shape[:2]
                if w % 2 or h % 2:
                    raise ParameterError(f"{path}: frame size {w}x{h} must be even for yuv420p; crop or pad it")
                vs.width, vs.height = w, h
                if k:
                    vs.set_display_rotation(rotation % 360)
            # RGB -> YUV 4:2:0 in OpenCV (BT.601, limited range, as the decoder assumes) is faster than swscale.
            vf = av.VideoFrame.from_ndarray(cv2.cvtColor(arr, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
            vf.pts = n  # in the codec's time base, 1 / fps
            out.mux(vs.encode(vf))
            n += 1
        if n == 0:
            raise ParameterError(f"{path}: no frames given; pass at least one frame")
        out.mux(vs.encode(None))
        if astream is not None:
            _encode_audio(out, astream, np.asarray(audio, np.float32).reshape(-1), sr)


def _encode_audio(out, stream, y: np.ndarray, sr: int) -> None:
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    chunk = 1024
    for i in range(0, len(y), chunk):
        af = av.AudioFrame.from_ndarray(y[None, i : i + chunk].copy(), format="fltp", layout="mono")
        af.sample_rate = sr
        af.pts = i
        af.time_base = Fraction(1, sr)
        out.mux(stream.encode(af))
    out.mux(stream.encode(None))


def truth_path(video: str | os.PathLike) -> Path:
    """Where a video's per-frame ground truth lives: ``<name>.truth.parquet`` beside it."""
    video = Path(video)
    return video.with_name(video.stem + ".truth.parquet")


def read_truth(video: str | os.PathLike) -> pd.DataFrame:
    """The per-frame ground truth written beside a synthetic video (one row per frame)."""
    return pd.read_parquet(truth_path(video))


def render_face_video(
    path: str | os.PathLike,
    schedule: pd.DataFrame,
    *,
    fps: float = 25.0,
    renderer: FaceRenderer | None = None,
    frame_size: tuple[int, int] = (640, 480),
    face_width: float = 0.4,
    center: tuple[float, float] = (0.5, 0.5),
    background: np.ndarray | tuple[int, int, int] | int | None = None,
    audio: np.ndarray | None = None,
    sr: int = 16_000,
    rotation: int = 0,
    codec: str = "libx264",
    threads: int = 0,
    reproducible: bool = False,
) -> pd.DataFrame:
    """Render a face video from a per-frame schedule and save its ground truth beside it.

    Parameters
    ----------
    path : the ``.mp4`` to write
    schedule : pd.DataFrame
        One row per frame. Optional columns (missing = 0): ``yaw, pitch, roll`` (degrees),
        ``gaze_x, gaze_y`` (eye widths), ``blink, smile`` (0..1), ``center_x, center_y``
        (fractions of the frame), ``face_width`` (fraction of the frame width), and any
        further expression primitive by name prefixed ``expr_`` (e.g. ``expr_jaw``).
    fps, frame_size, face_width, center, background, audio, sr, rotation, codec, threads, reproducible
        As in ``FaceRenderer.render`` and ``write_video``. ``background`` given as a seed
        is drawn once for the whole video.

    Returns
    -------
    truth : pd.DataFrame
        One row per frame: ``t`` (seconds, ``i / fps``) and every key of the renderer's truth
        dict (pose in degrees, gaze in eye widths, projected pixel positions, pupil offsets as
        in the face-track format). Also written to ``truth_path(path)``.
    """
    renderer = renderer or FaceRenderer()
    w, h = frame_size
    if isinstance(background, (int, np.integer)) or background is None or np.asarray(background).shape == (3,):
        background = background_image(background, w, h)
    extra = [c for c in schedule.columns if c.startswith("expr_")]
    rows: list[dict[str, float]] = []

    def frames():
        for i, row in enumerate(schedule.itertuples(index=False)):
            r = row._asdict()
            img, truth = renderer.render(
                yaw=r.get("yaw", 0.0), pitch=r.get("pitch", 0.0), roll=r.get("roll", 0.0),
                gaze=(r.get("gaze_x", 0.0), r.get("gaze_y", 0.0)), blink=r.get("blink", 0.0),
                smile=r.get("smile", 0.0), expression={c[5:]: r[c] for c in extra} or None,
                frame_size=frame_size, face_width=r.get("face_width", face_width),
                center=(r.get("center_x", center[0]), r.get("center_y", center[1])), background=background,
            )
            rows.append({"t": i / fps, **truth})
            yield img

    write_video(path, frames(), fps, audio=audio, sr=sr, rotation=rotation, codec=codec, threads=threads,
                reproducible=reproducible)
    truth = pd.DataFrame(rows)
    for c in extra:  # expression amounts beyond the smile
        truth[c] = schedule[c].to_numpy(float)
    truth.attrs["note"] = SYNTHETIC_NOTE
    truth.to_parquet(truth_path(path))
    return truth
