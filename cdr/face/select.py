"""Whose face is the patient's: choosing among the faces a detector finds in a frame.

``cdr-extract --face`` names the rule (:data:`FACE_CHOICES`):

- ``largest``: the largest face when the track starts;
- ``center``: the face nearest the frame's centre;
- ``left`` / ``right``: the face furthest to the image's left / right;
- ``auto`` (the default): the face present in most of the detector's scans of the
  first :data:`AUTO_SCAN_S` seconds, the largest on ties. Faces are followed from
  scan to scan by position (:func:`follow_faces`).

Once chosen, the tracker follows that face and checks who it is on every
re-acquisition (see :mod:`cdr.face.track`). Pure numpy: boxes are arrays of
``(centre x, centre y, size)`` in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

FACE_CHOICES = ("auto", "largest", "center", "left", "right")
#: Seconds at the start of a recording over which ``auto`` counts the faces.
AUTO_SCAN_S = 10.0
#: Two detections in consecutive scans are the same face when their centres lie
#: within this many face sizes of each other.
FOLLOW_SIZES = 1.0


def pick(boxes: np.ndarray, rule: str | tuple[float, float], width: int, height: int) -> int:
    """Index of the face a rule picks.

    Parameters
    ----------
    boxes : np.ndarray [shape=(k, 3)], k >= 1
        Centre x, centre y, size, in pixels.
    rule : str or (float, float)
        One of :data:`FACE_CHOICES` (``auto`` picks as ``largest``), or a target
        position as fractions of the frame's width and height (the nearest face).
    """
    if isinstance(rule, tuple):
        target = np.array([rule[0] * width, rule[1] * height])
        return int(np.argmin(np.hypot(*(boxes[:, :2] - target).T)))
    if rule == "center":
        return int(np.argmin(np.hypot(boxes[:, 0] - width / 2, boxes[:, 1] - height / 2)))
    if rule == "left":
        return int(np.argmin(boxes[:, 0]))
    if rule == "right":
        return int(np.argmax(boxes[:, 0]))
    return int(np.argmax(boxes[:, 2]))


@dataclass
class FollowedFace:
    """One face followed through the scans: where it was last, in how many scans, how big."""

    x: float
    y: float
    sizes: list[float] = field(default_factory=list)
    scans: list[int] = field(default_factory=list)
    positions: list[tuple[float, float]] = field(default_factory=list)

    @property
    def n_scans(self) -> int:
        return len(self.sizes)


def follow_faces(scans: list[np.ndarray]) -> list[FollowedFace]:
    """Link the detections of successive scans into faces, by position.

    Parameters
    ----------
    scans : list of np.ndarray [shape=(k_i, 3)]
        The boxes of each scan, in time order.

    Returns
    -------
    list of FollowedFace
        Each detection joins the nearest face (seen in an earlier scan, not yet
        matched in this one) within :data:`FOLLOW_SIZES` face sizes, or starts a new one.
    """
    faces: list[FollowedFace] = []
    for k, boxes in enumerate(scans):
        taken: set[int] = set()
        for x, y, size in sorted(np.asarray(boxes).reshape(-1, 3).tolist(), key=lambda b: -b[2]):
            best, best_d = None, FOLLOW_SIZES * size
            for i, f in enumerate(faces):
                d = float(np.hypot(f.x - x, f.y - y))
                if i not in taken and d <= best_d:
                    best, best_d = i, d
            if best is None:
                faces.append(FollowedFace(x, y))
                best = len(faces) - 1
            f = faces[best]
            f.x, f.y = x, y
            f.sizes.append(size)
            f.scans.append(k)
            f.positions.append((x, y))
            taken.add(best)
    return faces


def most_present(faces: list[FollowedFace]) -> FollowedFace | None:
    """The face seen in most scans, the largest (median size) on ties; None without faces."""
    if not faces:
        return None
    return max(faces, key=lambda f: (f.n_scans, float(np.median(f.sizes))))
