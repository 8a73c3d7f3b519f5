"""One recording -> one feature row (and its mirrored twin).

``cdr-extract`` runs this for every file of a folder and ``cdr-predict`` runs
it for one file, so both see the same numbers. The flow is one way:
decode (:mod:`cdr.io`) -> face track (:mod:`cdr.face.track`) -> feature groups
(:mod:`cdr.features`, :mod:`cdr.scn.embed`) -> a row of ``<group>.<feature>`` values.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import io
from .errors import CdrError, InputError, NoAudioError

if TYPE_CHECKING:
    from .tracking import Tracking

AUGMENTATIONS = ("flip",)

#: The quality-control columns that this module fills (the speech side adds its own).
QC_NAMES = [
    "qc.duration_s", "qc.fps", "qc.width", "qc.height", "qc.n_frames", "qc.video_present",
    "qc.face_ratio", "qc.n_warnings", "qc.n_faces_max", "qc.face_switches",
]


@dataclass
class Extraction:
    """What extracting one recording gives.

    Attributes
    ----------
    rows : pd.DataFrame
        Indexed by ``video_id`` (plus ``<video_id>#flip`` when asked), one column per feature.
    track : pd.DataFrame or None
        The per-frame face track (None for audio-only recordings).
    warnings : list of str
        What could not be measured, one line each.
    turns : pd.DataFrame or None
        The speaker turns the speech groups used (``start_s``, ``end_s``, ``speaker``).
    seconds : float
        Wall-clock seconds the extraction took (set by the caller that timed it).
    """

    rows: pd.DataFrame
    track: pd.DataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    turns: pd.DataFrame | None = None
    seconds: float = float("nan")


class RecordingError(CdrError):
    """A recording failed at a named stage; ``str()`` is the one-line message."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


@lru_cache(maxsize=2)
def load_embedder(checkpoint: str, device: str = "auto"):
    """The expression network of a checkpoint, built once per process (never pickled)."""
    from .scn.embed import ExpressionEmbedder

    return ExpressionEmbedder(checkpoint, device=device)


def warm_up() -> None:
    """Compile and cache, once, what the speech groups would otherwise compile in every process.

    librosa's numba kernels are compiled on first import and cached on disk (numba's
    ``cache=True``); ``make`` calls this at setup, so that no user run pays the compilation.
    """
    from .features.speech import speech_features

    rng = np.random.default_rng(0)
    bursts = np.r_[rng.normal(0, 0.2, 8000), np.zeros(8000), rng.normal(0, 0.2, 8000)].astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        speech_features(bursts, io.AUDIO_RATE)


def feature_names(*, scn: str | None = None, device: str = "auto") -> list[str]:
    """The table's columns, declared before any recording is read."""
    from .features.speech import SPEECH_NAMES
    from .features.visual import VISUAL_NAMES

    expr = load_embedder(str(scn), device).names if scn else []
    from .features.audio_qc import NAMES as AUDIO_QC_NAMES

    speech = [n for n in SPEECH_NAMES if not n.startswith("qc.")]
    speech_qc = [n for n in SPEECH_NAMES if n.startswith("qc.")]
    visual = [n for n in VISUAL_NAMES if not n.startswith("qc.")]
    visual_qc = [n for n in VISUAL_NAMES if n.startswith("qc.")]
    return visual + speech + list(expr) + QC_NAMES + visual_qc + speech_qc + AUDIO_QC_NAMES


def extract_rows(
    path: str | Path,
    video_id: str | None = None,
    *,
    scn: str | None = None,
    device: str = "auto",
    augment: tuple[str, ...] = (),
    width: int | None = None,
    stride: int = 1,
    crop_rate: float = 2.0,
    face: str = "auto",
    turns: str | Path | None = None,
    tracking: "Tracking | None" = None,
) -> Extraction:
    """Extract every feature group of one recording.

    Parameters
    ----------
    path : path-like
        A video or audio-only file.
    video_id : str, optional
        Row label; defaults to the file name without extension.
    scn : str, optional
        A Self-Cure Network checkpoint folder; without it the ``expr.`` group is left out.
    augment : tuple of str
        ``("flip",)`` adds a mirrored row ``<video_id>#flip`` computed from the
        mirrored track, without decoding again.
    width, stride : optional
        Decoder scaling and frame stride (see :func:`cdr.io.iter_frames`).
    face : str
        Whose face is the patient's (:data:`cdr.face.select.FACE_CHOICES`).
    turns : path-like, optional
        The user's RTTM turns file for this recording (speakers ``patient`` and
        ``interviewer``); it replaces the automatic turns. A bad file fails the
        recording (stage ``turns``) rather than being silently replaced by diarization.
    tracking : Tracking, optional
        The face track of ``path``, already under way in a process of its own
        (:func:`cdr.tracking.start_tracking`, with the same ``width``, ``stride``, ``face`` and crop rate);
        it replaces the tracking done here, and is ended if it is not used.

    Raises
    ------
    RecordingError
        The recording cannot be used at all; the message names the file and what to do.
    """
    path = Path(path)
    video_id = video_id or path.stem
    try:
        bad = [a for a in augment if a not in AUGMENTATIONS]
        if bad:
            raise RecordingError("options", f"augment={bad} is unknown; use one of {AUGMENTATIONS}")
        from .face.select import FACE_CHOICES

        if face not in FACE_CHOICES:
            raise RecordingError("options", f"face={face!r} is unknown; use one of {', '.join(FACE_CHOICES)}")
        if tracking is not None and tracking.options != dict(width=width, stride=stride,
                                                              crop_rate=crop_rate if scn else 0, face=face):
            tracking.close()  # started with other options: track here instead
            tracking = None
        return _extract_rows(path, video_id, scn=scn, device=device, augment=augment, width=width, stride=stride,
                             crop_rate=crop_rate, face=face, turns=turns, tracking=tracking)
    finally:
        if tracking is not None:
            tracking.close()


def _extract_rows(path: Path, video_id: str, *, scn, device, augment, width, stride, crop_rate, face, turns,
                  tracking) -> Extraction:
    """:func:`extract_rows` once its options are checked."""
    from .features import audio_qc
    from .features.augment import flip_track, flipped_id

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            info = io.probe(path)
        except CdrError as exc:
            raise RecordingError("open", str(exc)) from exc
        except Exception as exc:  # anything else PyAV may raise on a hostile file
            raise RecordingError("open", f"{path}: cannot be opened ({type(exc).__name__}: {exc}); check the file") from exc
        if info.still_image:
            raise RecordingError("open", f"{path}: is a still image ({info.codec}), not a recording; "
                                 "use a video or audio recording")

        if info.has_video and tracking is None:
            from .face.track import track_video  # first: the first frame waits on no other import
        # The speech groups need no frame: they run beside the tracking, in a thread (FaceMesh,
        # FFmpeg and openSMILE release the GIL), and are joined before the row is built.
        torch_whole = threading.Event()  # set by the speech thread once torch is imported (see _speech)
        # With the face tracked in another process, this one has a core to spare: the speech thread
        # measures every speaker, and the face's choice of the patient is then only a look-up.
        speech_job = _background(_speech, path, turns, info.duration_s, info.audio_streams, torch_whole,
                                 tracking is not None and info.has_video)
        track = None
        visual = expr = None
        flipped_visual = flipped_expr = None
        try:
            if info.has_video:
                try:
                    ft = None
                    if tracking is not None:
                        ft, notes = tracking.result()
                        speech_job.exception()  # joined first: its recorded warnings never meet these
                        for note in notes:
                            warnings.warn(note, stacklevel=2)
                    if ft is None:
                        from .face.track import track_video

                        ft = track_video(path, width=width, stride=stride, crop_rate=crop_rate if scn else 0,
                                         face=face)
                except CdrError as exc:
                    raise RecordingError("decode", str(exc)) from exc
                torch_whole.wait()
                from .features.visual import visual_features

                track = ft.frames
                if len(track) == 0:
                    raise RecordingError("decode", f"{path}: no video frame could be decoded; re-encode the file")
                visual = visual_features(track)
                if "flip" in augment:
                    flipped_visual = visual_features(flip_track(track))
                if scn:
                    emb = load_embedder(str(scn), device)
                    expr = emb.summarise(ft.crops, ft.crop_times)
                    if "flip" in augment:
                        flipped_expr = emb.summarise(np.ascontiguousarray(ft.crops[:, :, ::-1]), ft.crop_times)
        except BaseException:
            speech_job.exception()  # let the thread finish; the video's error is the one reported
            raise
        n_audio, prep, audio = speech_job.result()  # its warnings land in ``caught`` too; its errors surface here
        from .features.speech import finish_speech  # after the tracking: the first frame waits on no import

        result = finish_speech(prep, track)  # the face's mouth may name the patient
        speech = result.values
        names = feature_names(scn=scn, device=device)

        qc = pd.Series(np.nan, index=QC_NAMES)
        n_frames = len(track) if track is not None else 0
        duration = info.duration_s
        if track is not None and n_frames > 1 and not np.isfinite(duration):
            duration = float(track["t"].iloc[-1] - track["t"].iloc[0])
        if n_audio and not np.isfinite(duration):
            duration = n_audio / io.AUDIO_RATE
        qc["qc.duration_s"] = duration
        qc["qc.fps"] = info.fps
        qc["qc.width"], qc["qc.height"] = (info.width, info.height) if info.has_video else (np.nan, np.nan)
        qc["qc.n_frames"] = n_frames
        qc["qc.video_present"] = float(info.has_video)
        qc["qc.face_ratio"] = float(track["face"].mean()) if track is not None else np.nan
        if track is not None:
            qc["qc.n_faces_max"], qc["qc.face_switches"] = ft.n_faces_max, ft.face_switches
        video_s = np.nan
        if track is not None and n_frames > 1:
            video_s = float(track["t"].iloc[-1] + np.median(np.diff(track["t"].to_numpy())))
        audio["qc.av_length_diff_s"] = audio_qc.av_length_diff(
            n_audio / io.AUDIO_RATE if n_audio is not None else np.nan, video_s, source=str(path))

    messages = [f"{video_id}: {w.message}" for w in caught]
    qc["qc.n_warnings"] = len(messages)

    def row(vis, ex) -> pd.Series:
        parts = [speech, qc, audio]
        if vis is not None:
            parts.append(vis)
        if ex is not None:
            parts.append(ex)
        return pd.concat(parts).reindex(names)

    rows = {video_id: row(visual, expr)}
    if "flip" in augment and track is not None:
        rows[flipped_id(video_id)] = row(flipped_visual, flipped_expr)
    table = pd.DataFrame(rows).T.astype(float)
    table.index.name = "video_id"
    return Extraction(rows=table, track=track, warnings=messages, turns=result.turns)


def _speech(path: Path, turns: str | Path | None, duration_s: float, n_streams: int = 1,
            torch_whole: threading.Event | None = None, every_speaker: bool = False):
    """Decode the audio track, read the user's turns or diarize: ``(n_samples, SpeechPrep, audio qc)``.

    ``n_samples`` is None without an audio track. Of several audio streams, the one with
    speech is used (:func:`cdr.features.audio_qc.pick_stream`); the audio qc row is
    :func:`cdr.features.audio_qc.audio_quality`'s.

    The voice encoder (and with it torch) is loaded first, and ``torch_whole`` is set once it
    is: scipy's and scikit-learn's array-API checks read ``torch.Tensor`` whenever ``torch`` is
    in ``sys.modules``, so the other thread must not call them while torch is half-imported
    (that raised "partially initialized module 'torch'" in a worker under load).
    ``every_speaker``: measure each speaker as the patient now
    (:func:`cdr.features.speech.measure_every_speaker`).
    """
    try:
        from .speakers.diarize import encoder

        encoder()
    finally:
        if torch_whole is not None:
            torch_whole.set()
    from .features import audio_qc
    from .features.speech import prepare_speech

    meter = audio_qc.AudioMeter()
    try:
        stream = 0
        if n_streams > 1:
            stream = audio_qc.pick_stream(n_streams, lambda i: io.read_audio(path, stream=i, max_s=audio_qc.PICK_S),
                                          io.AUDIO_RATE, source=str(path))
        y = io.read_audio(path, stream=stream, meter=meter)
    except NoAudioError:
        y = None
    except InputError as exc:
        warnings.warn(f"{path}: audio unusable ({exc}); speech groups are NaN")
        y = None
    user_turns = None
    if turns is not None:
        from .speakers.rttm import read_rttm

        audio_s = len(y) / io.AUDIO_RATE if y is not None else duration_s
        try:
            user_turns = read_rttm(turns, duration_s=audio_s if np.isfinite(audio_s) else None)
        except CdrError as exc:
            raise RecordingError("turns", str(exc)) from exc
        if not (user_turns["speaker"] == "patient").any():
            raise RecordingError("turns", f"{turns}: names no 'patient' segment; add the patient's turns")
    audio = audio_qc.audio_quality(y, io.AUDIO_RATE, meter, source=str(path))
    prep = prepare_speech(y, io.AUDIO_RATE, source=str(path), turns=user_turns)
    if every_speaker:
        from .features.speech import measure_every_speaker

        measure_every_speaker(prep)
    return (None if y is None else len(y)), prep, audio


def _background(fn, *args) -> Future:
    """Run ``fn(*args)`` in a thread of its own; ``.result()`` joins it (and re-raises its error)."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # handed to the caller, which re-raises it
            future.set_exception(exc)

    threading.Thread(target=run, name="cdr-speech", daemon=True).start()
    return future


def extract_recording(path: str | Path, video_id: str | None = None, *, scn: str | None = None,
                      device: str = "auto", width: int | None = None,
                      stride: int = 1, face: str = "auto", tracking: "Tracking | None" = None) -> pd.Series:
    """The feature row of one recording (no augmentation), as ``cdr-extract`` computes it.

    What could not be measured is in ``row.attrs["warnings"]`` (list of str). ``tracking``:
    see :func:`extract_rows`.
    """
    ex = extract_rows(path, video_id, scn=scn, device=device, width=width, stride=stride,
                      face=face, tracking=tracking)
    row = ex.rows.iloc[0].copy()
    row.attrs["warnings"] = list(ex.warnings)
    return row
