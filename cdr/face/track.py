"""Frames -> face track: per-frame landmarks, iris, eye openness and head pose.

This is the only module that imports mediapipe. FaceMesh's own detector
misses faces smaller than about 1/6 of the frame width, so the tracker finds
the face with the full-range detector shipped in the same wheel, then runs
FaceMesh (with iris refinement) on a square crop around the face, scaled to
FaceMesh's working size. Each frame's landmarks re-centre the next crop, so a
small or moving face stays large and centred for FaceMesh.

The per-frame loop reads: decoder -> crop -> FaceMesh -> measures. I/O stays
in :mod:`cdr.io`; one tracker is built per video, inside the worker that uses it.

Only the patient's face is tracked. A rule (:mod:`cdr.face.select`, ``--face``)
picks it among the faces the detector finds; from then on the crop follows it.
When it is lost, every face the detector finds is a candidate, and one is taken
back only if it is the same person: the hue-saturation histogram of its aligned
face (:func:`cdr.face.align.appearance_histogram`) must lie within
:data:`IDENTITY_MAX_DISTANCE` of the patient's, built from the first
:data:`SIGNATURE_FRAMES` tracked frames. Otherwise the track stays lost; it never
moves to another person. A detector scan every :data:`SCAN_EVERY_S` seconds (every
:data:`AUTO_SCAN_EVERY_S` in the first 10 s), and every re-acquisition, count the
faces in view (``n_faces_max``).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging: errors only

import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import io  # noqa: E402
from ..errors import ParameterError  # noqa: E402
from . import FaceTrack  # noqa: E402,F401 - defined without mediapipe, to unpickle anywhere
from .align import APPEARANCE_SIZE, alignment_matrix, appearance_distance, appearance_histogram  # noqa: E402
from .pose import head_pose_and_gaze  # noqa: E402
from .select import AUTO_SCAN_S, FACE_CHOICES, follow_faces, most_present, pick  # noqa: E402

#: Landmark indices (left/right as seen in the image).
LEFT_EYE_CORNERS = (33, 133)
RIGHT_EYE_CORNERS = (362, 263)
LEFT_IRIS, RIGHT_IRIS = 468, 473
#: Eye-aspect-ratio points p1..p6 (Soukupová & Čech 2016) per eye.
LEFT_EAR = (33, 160, 158, 133, 153, 144)
RIGHT_EAR = (362, 385, 387, 263, 373, 380)

TRACK_COLUMNS = [
    "t", "face", "yaw", "pitch", "roll",
    "pupil_left_x", "pupil_left_y", "pupil_right_x", "pupil_right_y",
    "ear_left", "ear_right",
    "gaze_head_left_x", "gaze_head_left_y", "gaze_head_right_x", "gaze_head_right_y",
    "face_x", "face_y", "face_scale", "mouth_open",
]
_MEASURES = TRACK_COLUMNS[2:]

#: Largest Bhattacharyya distance between the appearance histogram of a face found
#: after a loss and the patient's for it to count as the patient. On rendered real
#: faces (skimage's astronaut, matplotlib's Grace Hopper; yaw +-30, pitch +-10
#: degrees, smiles) the same person lies at 0.0-0.36 from a frontal reference and the
#: other person at 0.70-0.77.
IDENTITY_MAX_DISTANCE = 0.5
#: Tracked frames whose appearance histograms, averaged, make the patient's reference.
SIGNATURE_FRAMES = 30
#: Seconds between the detector scans that count the faces in view: every
#: AUTO_SCAN_EVERY_S in the first AUTO_SCAN_S seconds (for ``auto``), every SCAN_EVERY_S after.
SCAN_EVERY_S = 10.0
AUTO_SCAN_EVERY_S = 2.0
#: The detector sees frames scaled to fit this square (its model works at 192x192 anyway).
DETECT_SIZE = 384

#: FaceMesh works on 192x192 input; a slightly larger crop keeps the iris sharp.
CROP_SIZE = 256
#: Crop side as a multiple of the face's landmark extent.
CROP_MARGIN = 1.7


def eye_measures(lm: np.ndarray) -> np.ndarray:
    """Pupil offsets and eye aspect ratios of one frame.

    Parameters
    ----------
    lm : np.ndarray [shape=(478, 3)]
        Landmarks in pixels.

    Returns
    -------
    np.ndarray [shape=(6,)]
        pupil_left_x, pupil_left_y, pupil_right_x, pupil_right_y (iris centre minus eye
        centre, in eye widths, image axes), ear_left, ear_right.
    """
    out = np.empty(6)
    for k, (corners, iris, ear) in enumerate(
        ((LEFT_EYE_CORNERS, LEFT_IRIS, LEFT_EAR), (RIGHT_EYE_CORNERS, RIGHT_IRIS, RIGHT_EAR))
    ):
        a, b = lm[corners[0], :2], lm[corners[1], :2]
        width = np.hypot(*(b - a))
        out[2 * k: 2 * k + 2] = (lm[iris, :2] - (a + b) / 2) / width
        p = lm[list(ear), :2]
        out[4 + k] = (np.hypot(*(p[1] - p[5])) + np.hypot(*(p[2] - p[4]))) / (2 * np.hypot(*(p[0] - p[3])))
    return out


def mouth_open(lm: np.ndarray) -> float:
    """Lip opening (inner upper lip 13 to inner lower lip 14) / distance between the eye centres."""
    left, right = eye_centres(lm)
    return float(np.hypot(*(lm[14, :2] - lm[13, :2])) / max(np.hypot(*(right - left)), 1e-9))


def frame_measures(lm: np.ndarray, width: int, height: int) -> np.ndarray:
    """One frame's row of the track, in the order of ``TRACK_COLUMNS[2:]``.

    Parameters
    ----------
    lm : np.ndarray [shape=(478, 3)]
        Landmarks in pixels.
    width, height : int
        The frame's size in pixels (``face_x`` is a fraction of the width, ``face_y``
        of the height; ``face_scale``, the larger side of the face landmarks' bounding
        box, a fraction of the width).
    """
    pose_gaze = head_pose_and_gaze(lm)
    lo, hi = lm[:468, :2].min(0), lm[:468, :2].max(0)
    face = [(lo[0] + hi[0]) / 2 / width, (lo[1] + hi[1]) / 2 / height, float(max(hi - lo)) / width]
    return np.concatenate([pose_gaze[:3], eye_measures(lm), pose_gaze[3:], face, [mouth_open(lm)]])


def eye_centres(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres (pixels) of the left and right eye, as seen in the image."""
    left = lm[list(LEFT_EYE_CORNERS), :2].mean(0)
    right = lm[list(RIGHT_EYE_CORNERS), :2].mean(0)
    return left, right


#: Lines that mediapipe's C++ side writes to stderr on every run, and that say nothing to a user.
_NOISE = re.compile(
    r"Created TensorFlow Lite XNNPACK delegate|All log messages before absl::InitializeLog|"
    r"inference_feedback_manager\.cc|landmark_projection_calculator\.cc"
)


@contextmanager
def quiet_mediapipe() -> Iterator[None]:
    """Hold back mediapipe's routine C++ log lines; anything else written to stderr is passed on."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            kept = [ln for ln in tmp.read().decode(errors="replace").splitlines(keepends=True)
                    if not _NOISE.search(ln)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


#: One landmark of a serialised ``NormalizedLandmarkList`` with x, y, z only: field 1
#: (length 15) holding fixed32 fields 1, 2 and 3.
_LANDMARK_RECORD = np.dtype([("head", "u1", 2), ("tx", "u1"), ("x", "<f4"), ("ty", "u1"), ("y", "<f4"),
                             ("tz", "u1"), ("z", "<f4")])
_LANDMARK_TAGS = (b"\x0a\x0f", 0x0D, 0x15, 0x1D)


def parse_landmarks(blob: bytes) -> np.ndarray:
    """``NormalizedLandmarkList`` bytes -> float64 array [shape=(n, 3)] of x, y, z.

    FaceMesh's lists hold x, y and z only, 17 bytes a landmark: those are read with
    one numpy view. Anything else (other fields, another layout) goes through the
    protobuf parser, so the result never depends on the shortcut.
    """
    n, rem = divmod(len(blob), _LANDMARK_RECORD.itemsize)
    if not rem and n:
        rec = np.frombuffer(blob, _LANDMARK_RECORD)
        head, tx, ty, tz = _LANDMARK_TAGS
        if ((rec["head"] == np.frombuffer(head, "u1")).all() and (rec["tx"] == tx).all()
                and (rec["ty"] == ty).all() and (rec["tz"] == tz).all()):
            return np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float64)
    from mediapipe.framework.formats import landmark_pb2

    return _landmark_array(landmark_pb2.NormalizedLandmarkList.FromString(blob))


def _landmark_array(msg) -> np.ndarray:
    """A parsed ``NormalizedLandmarkList`` -> float64 array [shape=(n, 3)] of x, y, z."""
    return np.array([(p.x, p.y, p.z) for p in msg.landmark], np.float64).reshape(-1, 3)


class _MeshGraph:
    """FaceMesh's calculator graph, fed one RGB image at a time.

    ``FaceMesh.process`` builds a namedtuple class and parses every landmark into a
    Python protobuf object on each call, which costs about 0.6 ms a frame, a tenth of
    the whole track. This feeds the same graph the same packets (image at 30 fps
    timestamps) and reads the serialised landmark list straight into numpy.
    """

    STREAM_IN, STREAM_OUT = "image", "multi_face_landmarks"

    def __init__(self, mesh) -> None:
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import _packet_getter, image_frame

        self._mesh = mesh
        self._create = packet_creator.create_image_frame
        self._srgb = image_frame.ImageFormat.SRGB
        self._serialised = _packet_getter._get_serialized_proto_list
        # The solution's own graph, input stream and output buffer.
        self._graph, self._outputs = mesh._graph, mesh._graph_outputs
        if (self.STREAM_IN not in mesh._input_stream_type_info
                or self.STREAM_OUT not in mesh._output_stream_type_info):
            raise AttributeError("FaceMesh's graph has other streams")

    def landmarks(self, rgb: np.ndarray) -> np.ndarray | None:
        """Normalised landmarks [shape=(478, 3)] of the first face, or None."""
        self._outputs.clear()
        self._mesh._simulated_timestamp += 33333
        packet = self._create(rgb, image_format=self._srgb).at(self._mesh._simulated_timestamp)
        self._graph.add_packet_to_input_stream(stream=self.STREAM_IN, packet=packet)
        self._graph.wait_until_idle()
        out = self._outputs.get(self.STREAM_OUT)
        if out is None or out.is_empty():
            return None
        faces = self._serialised(out)
        return parse_landmarks(faces[0]) if faces else None


class FaceTracker:
    """Track the patient's face through a video's frames.

    Parameters
    ----------
    min_confidence : float
        Detection and tracking confidence for mediapipe.
    redetect_every : int
        Once no face has been held for a second's worth of frames (30), run the
        full-frame detector only on every n-th frame, so that long stretches
        without a face cost little. Frames in between count as "no face".
    face : str or (float, float)
        Which face to take first: a rule of :data:`cdr.face.select.FACE_CHOICES`
        (``auto`` takes the largest here; :func:`track_frames` does the rest), or a
        position as fractions of the frame's width and height.
    identity_max_distance : float
        See :data:`IDENTITY_MAX_DISTANCE`; ``inf`` turns the identity check off.
    """

    def __init__(self, *, min_confidence: float = 0.5, redetect_every: int = 3,
                 face: str | tuple[float, float] = "largest",
                 identity_max_distance: float = IDENTITY_MAX_DISTANCE) -> None:
        if not isinstance(face, tuple) and face not in FACE_CHOICES:
            raise ParameterError(f"face={face!r} is unknown; use one of {', '.join(FACE_CHOICES)}")
        self.min_confidence = min_confidence
        self.redetect_every = redetect_every
        self.rule = face
        self.identity_max_distance = identity_max_distance
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True,
            min_detection_confidence=min_confidence, min_tracking_confidence=min_confidence,
        )
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )
        try:
            self._graph: _MeshGraph | None = _MeshGraph(self._mesh)
        except (AttributeError, ImportError):  # another mediapipe: its public API
            self._graph = None
        self._roi: tuple[float, float, float] | None = None  # centre x, centre y, side (pixels)
        self._lost = 0
        self._last: tuple[float, float, float] | None = None  # centre x, y, size of the last tracked face
        self._signature = np.zeros(0)
        self._n_signature = 0
        self._scanned: tuple[object, np.ndarray] | None = None
        self.n_faces_max = 0
        self.face_switches = 0

    def close(self) -> None:
        self._mesh.close()
        self._detector.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect_all(self, frame: io.Frame) -> np.ndarray:
        """Every face the full-frame detector finds [shape=(k, 3)]: centre x, centre y, size (pixels)."""
        if self._scanned is not None and self._scanned[0] is frame:
            return self._scanned[1]
        scale = DETECT_SIZE / max(frame.width, frame.height)
        res = self._detector.process(frame.warp_rgb(np.array([[scale, 0, 0], [0, scale, 0]]), DETECT_SIZE))
        side = DETECT_SIZE / scale  # the square the detector saw, in frame pixels (black past the frame)
        boxes = np.array([
            ((b.xmin + b.width / 2) * side, (b.ymin + b.height / 2) * side, max(b.width, b.height) * side)
            for b in (d.location_data.relative_bounding_box for d in res.detections or [])
        ]).reshape(-1, 3)
        self.n_faces_max = max(self.n_faces_max, len(boxes))
        self._scanned = (frame, boxes)
        return boxes

    def retarget(self, target: tuple[float, float]) -> None:
        """Drop the face held and take the one nearest ``target`` (fractions of width, height)."""
        self.rule = target
        self._roi = None
        self._signature, self._n_signature = np.zeros(0), 0

    def _appearance(self, frame: io.Frame, lm: np.ndarray) -> np.ndarray:
        m = alignment_matrix(*eye_centres(lm), APPEARANCE_SIZE)
        return appearance_histogram(frame.warp_rgb(m, APPEARANCE_SIZE))

    def _acquire(self, frame: io.Frame) -> np.ndarray | None:
        """Landmarks of the patient's face found anew by the detector, or None."""
        boxes = self.detect_all(frame)
        if not len(boxes):
            return None
        if not self._n_signature:
            order = [pick(boxes, self.rule, frame.width, frame.height)]
        else:  # the patient: nearest where they were first, but only if it is them
            order = np.argsort(np.hypot(boxes[:, 0] - self._last[0], boxes[:, 1] - self._last[1]))
        reference = self._signature / max(self._n_signature, 1)
        for i in order:
            cx, cy, size = boxes[i]
            lm = self._mesh_in_roi(frame, (cx, cy, size * CROP_MARGIN))
            if lm is None:
                continue
            if self._n_signature and (appearance_distance(self._appearance(frame, lm), reference)
                                      > self.identity_max_distance):
                continue
            return lm
        return None

    def _mesh_in_roi(self, frame: io.Frame, roi: tuple[float, float, float]) -> np.ndarray | None:
        cx, cy, side = roi
        scale = CROP_SIZE / side
        # One affine warp crops, pads and scales in a single pass, converting only the crop to RGB.
        m = np.array([[scale, 0, CROP_SIZE / 2 - scale * cx], [0, scale, CROP_SIZE / 2 - scale * cy]])
        crop = frame.warp_rgb(m, CROP_SIZE)
        if self._graph is not None:
            lm = self._graph.landmarks(crop)
        else:
            faces = self._mesh.process(crop).multi_face_landmarks
            lm = _landmark_array(faces[0]) if faces else None
        if lm is None:
            return None
        lm *= CROP_SIZE
        lm[:, 0] = (lm[:, 0] - m[0, 2]) / scale
        lm[:, 1] = (lm[:, 1] - m[1, 2]) / scale
        lm[:, 2] /= scale
        return lm

    def process(self, frame: io.Frame | np.ndarray) -> np.ndarray | None:
        """Landmarks [shape=(478, 3), pixels] of the patient's face in one frame (or RGB image), or None."""
        if isinstance(frame, np.ndarray):
            frame = io.Frame(0.0, rgb=frame)
        fresh = self._roi is None
        if fresh:
            self._lost += 1
            if self._lost > 30 and self._lost % self.redetect_every:
                return None
            lm = self._acquire(frame)
        else:
            lm = self._mesh_in_roi(frame, self._roi)
            if lm is None:
                fresh, lm = True, self._acquire(frame)
        if lm is None:
            self._roi = None
            return None
        self._lost = 0
        lo, hi = lm[:468, :2].min(0), lm[:468, :2].max(0)
        (cx, cy), size = (lo + hi) / 2, float(max(hi - lo))
        if fresh and self._last is not None and np.hypot(cx - self._last[0], cy - self._last[1]) > self._last[2]:
            self.face_switches += 1
        self._last = (float(cx), float(cy), size)
        self._roi = (float(cx), float(cy), size * CROP_MARGIN)
        if self._n_signature < SIGNATURE_FRAMES:
            h = self._appearance(frame, lm)
            self._signature = h if not self._n_signature else self._signature + h
            self._n_signature += 1
        return lm


def landmarks_in_image(rgb: np.ndarray) -> np.ndarray | None:
    """Landmarks [shape=(478, 3), pixels] of the face in a single still image, or None."""
    with quiet_mediapipe(), FaceTracker() as tracker:
        return tracker.process(rgb)


def track_frames(frames, *, crop_rate: float = 2.0, crop_size: int = 112,
                 tracker: FaceTracker | None = None, face: str | tuple[float, float] = "auto",
                 restartable: bool = False) -> FaceTrack:
    """Track the patient's face through a video's frames.

    Parameters
    ----------
    frames : iterable of cdr.io.Frame or of (float, np.ndarray)
        Frames from :func:`cdr.io.iter_video`, or (seconds, RGB image) pairs.
    crop_rate : float
        Aligned face crops kept per second (0 keeps none).
    crop_size : int
        Side of the crops in pixels.
    face : str or (float, float)
        Whose face (see :mod:`cdr.face.select`); ignored when ``tracker`` is given.
        With ``auto`` the largest face is tracked from the start; after
        ``AUTO_SCAN_S`` seconds, if another face was present in more scans, the
        track moves to it from there on (counted in ``face_switches``), or, with
        ``restartable``, stops and returns a track whose ``retarget`` says where
        that face is, so that the caller can track again from the start.
    """
    with quiet_mediapipe():
        return _track_frames(frames, crop_rate=crop_rate, crop_size=crop_size, tracker=tracker,
                             face=face, restartable=restartable)


def _track_frames(frames, *, crop_rate: float, crop_size: int, tracker: FaceTracker | None,
                  face: str | tuple[float, float], restartable: bool) -> FaceTrack:
    own = tracker is None
    tracker = tracker or FaceTracker(face=face)
    auto = tracker.rule == "auto"
    times: list[float] = []
    found: list[bool] = []
    rows: list[np.ndarray] = []
    crops: list[np.ndarray] = []
    crop_times: list[float] = []
    scans: list[np.ndarray] = []  # the detector's boxes in the first AUTO_SCAN_S seconds
    held: list[tuple[float, float, float] | None] = []  # the tracked face at each of those scans
    next_crop = next_scan = 0.0
    nan_row = np.full(len(_MEASURES), np.nan)
    retarget = None
    try:
        for frame in frames:
            if isinstance(frame, tuple):
                frame = io.Frame(frame[0], rgb=frame[1])
            t = frame.t
            lm = tracker.process(frame)
            if t >= next_scan:
                boxes = tracker.detect_all(frame)
                next_scan = t + (AUTO_SCAN_EVERY_S if t < AUTO_SCAN_S else SCAN_EVERY_S)
                if auto and t < AUTO_SCAN_S:
                    scans.append(boxes)
                    held.append(tracker._last if lm is not None else None)
            if auto and t >= AUTO_SCAN_S:
                auto = False
                retarget = _patient_elsewhere(scans, held, frame.width, frame.height)
                if retarget is not None:
                    if restartable:
                        break
                    tracker.retarget(retarget)
                    retarget = None
            times.append(t)
            found.append(lm is not None)
            if lm is None:
                rows.append(nan_row)
                continue
            rows.append(frame_measures(lm, frame.width, frame.height))
            if crop_rate > 0 and t >= next_crop:
                crops.append(frame.warp_rgb(alignment_matrix(*eye_centres(lm), crop_size), crop_size))
                crop_times.append(t)
                next_crop = t + 1.0 / crop_rate
    finally:
        if own:
            tracker.close()
    df = pd.DataFrame(np.array(rows).reshape(-1, len(_MEASURES)), columns=_MEASURES)
    df.insert(0, "face", np.array(found, bool))
    df.insert(0, "t", np.array(times, float))
    return FaceTrack(
        frames=df,
        crops=np.array(crops, np.uint8).reshape(-1, crop_size, crop_size, 3),
        crop_times=np.array(crop_times, float),
        n_faces_max=tracker.n_faces_max, face_switches=tracker.face_switches, retarget=retarget,
    )


def _patient_elsewhere(scans: list[np.ndarray], held: list, width: int, height: int) -> tuple[float, float] | None:
    """Where the ``auto`` rule's face is, if the track has not been holding it; else None."""
    faces = follow_faces(scans)
    if len(faces) < 2:
        return None
    chosen = most_present(faces)
    on_it = sum(
        1 for k, (x, y) in zip(chosen.scans, chosen.positions)
        if held[k] is not None and np.hypot(held[k][0] - x, held[k][1] - y) <= held[k][2]
    )
    tracked = sum(h is not None for h in held)
    if tracked and on_it * 2 > tracked:
        return None
    return chosen.x / width, chosen.y / height


def track_video(path: str | Path, *, width: int | None = None, stride: int = 1,
                crop_rate: float = 2.0, crop_size: int = 112,
                face: str | tuple[float, float] = "auto") -> FaceTrack:
    """Decode a video and track the patient's face (see :func:`track_frames`).

    ``width`` scales frames in the decoder (aspect kept); ``stride`` keeps every n-th frame.
    When ``auto`` finds after its first seconds that the patient is another face than
    the one it started on, the video is tracked again from the start on that face.
    """
    ft = track_frames(io.iter_video(path, width=width, stride=stride), crop_rate=crop_rate,
                      crop_size=crop_size, face=face, restartable=True)
    if ft.retarget is not None:
        ft = track_frames(io.iter_video(path, width=width, stride=stride), crop_rate=crop_rate,
                          crop_size=crop_size, face=ft.retarget)
    return ft
