"""The face mesh of ``cdr.synth.face``: FaceMesh landmark tables, triangles, and the movable irises.

SYNTHETIC DATA helpers. FaceMesh indices below are those of mediapipe's 478-point
mesh with irises. "Left"/"right" are as seen in the image (FaceMesh's "right
eye" is the image's left one).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

#: FaceMesh indices. "Left"/"right" are as seen in the image (FaceMesh's "right eye" is the image's left).
NOSE_TIP = 1
CHEEK_LEFT, CHEEK_RIGHT = 234, 454
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
MOUTH_UPPER = (191, 80, 81, 82, 13, 312, 311, 310, 415)  # inner upper lip, image-left to right
MOUTH_LOWER = (95, 88, 178, 87, 14, 317, 402, 318, 324)  # inner lower lip, same order
#: (scale about the face centre, extra depth in face widths) of the rings carrying hair, ears and neck.
RINGS = ((1.3, 0.15), (1.65, 0.3))
#: Head rotation centre behind the face's mean depth, in face widths.
HEAD_CENTRE_DEPTH = 0.5


@dataclass(frozen=True)
class Eye:
    corners: tuple[int, int]
    upper: tuple[int, ...]  # upper lid, corner to corner (interior points)
    lower: tuple[int, ...]  # lower lid, same order
    upper2: tuple[int, ...]  # the ring above the upper lid, same order
    iris: tuple[int, ...]  # centre, then four points on the iris edge
    ear: tuple[int, ...]  # p1..p6 of the eye aspect ratio

    @property
    def contour(self) -> list[int]:
        return [self.corners[0], *self.upper, self.corners[1], *self.lower[::-1]]


EYE_LEFT = Eye((33, 133), (246, 161, 160, 159, 158, 157, 173), (7, 163, 144, 145, 153, 154, 155),
                (247, 30, 29, 27, 28, 56, 190), (468, 469, 470, 471, 472), (33, 160, 158, 133, 153, 144))
EYE_RIGHT = Eye((263, 362), (466, 388, 387, 386, 385, 384, 398), (249, 390, 373, 374, 380, 381, 382),
                 (467, 260, 259, 257, 258, 286, 414), (473, 474, 475, 476, 477), (362, 385, 387, 263, 373, 380))


def close_eye(v: np.ndarray, eye: Eye, amount: float) -> None:
    """Lower the upper lid onto the lower lid, in place (``amount`` 0 open … 1 closed; < 0 widens)."""
    up, lo, up2 = list(eye.upper), list(eye.lower), list(eye.upper2)
    shift = amount * 0.95 * (v[lo] - v[up])
    v[up] += shift
    v[up2] += 0.5 * shift


class EyeSprite:
    """One eye's iris, cut from the photograph, that can be redrawn shifted inside the eye opening."""

    def __init__(self, rgb: np.ndarray, lm: np.ndarray, eye: Eye):
        self.c0 = lm[eye.iris[0], :2].copy()
        self.iris_src = lm[list(eye.iris), :2].copy()
        self.radius = float(np.mean(np.linalg.norm(lm[list(eye.iris[1:]), :2] - self.c0, axis=1)))
        self.eye_width = float(np.linalg.norm(lm[eye.corners[0], :2] - lm[eye.corners[1], :2]))
        contour = lm[eye.contour, :2]
        m = self.radius + 0.8 * self.eye_width
        h, w = rgb.shape[:2]
        x0, y0 = np.floor(contour.min(0) - m).astype(int).clip(0)
        x1, y1 = np.minimum(np.ceil(contour.max(0) + m).astype(int), [w, h])
        self.box = (x0, y0, x1, y1)
        patch = rgb[y0:y1, x0:x1].copy()
        self.opening = np.zeros(patch.shape[:2], np.float32)
        cv2.fillPoly(self.opening, [np.round((contour - [x0, y0]) * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
        disc = np.zeros(patch.shape[:2], np.float32)
        c = np.round((self.c0 - [x0, y0]) * 16).astype(int)
        cv2.circle(disc, tuple(int(a) for a in c), int(round(self.radius * 16)), 1.0, -1, cv2.LINE_AA, 4)
        self.disc = disc
        hole = ((disc > 0) & (self.opening > 0)).astype(np.uint8)
        hole = cv2.dilate(hole, np.ones((3, 3), np.uint8))
        self.empty = cv2.inpaint(patch, hole, 2, cv2.INPAINT_TELEA)
        seen = (disc > 0.5) & (self.opening > 0.5)
        fill = patch[seen].mean(0) if seen.any() else patch[disc > 0.5].mean(0)
        sprite = patch.astype(np.float32)
        sprite[(disc > 0) & ~seen] = fill  # iris hidden under the lids in the photograph
        self.sprite = sprite

    def iris_centre(self, gaze) -> np.ndarray:
        return self.c0 + np.asarray(gaze, float) * self.eye_width

    def iris_points(self, gaze) -> np.ndarray:
        return self.iris_src + np.asarray(gaze, float) * self.eye_width

    def draw(self, rgb: np.ndarray, gaze) -> None:
        """Redraw the iris shifted by ``gaze`` (eye widths) into ``rgb`` (the photograph), in place."""
        d = np.asarray(gaze, float) * self.eye_width
        x0, y0, x1, y1 = self.box
        t = np.float32([[1, 0, d[0]], [0, 1, d[1]]])
        size = (x1 - x0, y1 - y0)
        sprite = cv2.warpAffine(self.sprite, t, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        a = cv2.warpAffine(self.disc, t, size, flags=cv2.INTER_LINEAR, borderValue=0)
        a = (a * self.opening)[..., None]
        rgb[y0:y1, x0:x1] = (self.empty * (1 - a) + sprite * a + 0.5).astype(np.uint8)



@lru_cache(maxsize=1)
def _tessellation_cliques() -> tuple[tuple[int, int, int], ...]:
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_TESSELATION

    adj: dict[int, set[int]] = {}
    for a, b in FACEMESH_TESSELATION:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    out = []
    for a in adj:
        for b in adj[a]:
            if b > a:
                out.extend((a, b, c) for c in adj[a] & adj[b] if c > b)
    return tuple(out)


def face_triangles(xy: np.ndarray) -> list[tuple[int, int, int]]:
    """FaceMesh's 852 surface triangles from its edge list.

    Every 3-cycle of the edge graph is a triangle except the few that enclose a fourth
    vertex adjacent to all three corners; those are dropped, using the photograph's 2-D layout.
    """
    cliques = _tessellation_cliques()
    adj: dict[int, set[int]] = {}
    for t in cliques:
        for i in t:
            adj.setdefault(i, set()).update(t)
    keep = []
    for t in cliques:
        tri = xy[list(t)][None]
        enclosed = False
        for v in adj[t[0]] & adj[t[1]] & adj[t[2]] - set(t):
            sub = [np.stack([np.broadcast_to(xy[v], (2,)) if j == k else tri[0, j] for j in range(3)])[None]
                   for k in range(3)]
            signs = np.sign([signed_area(x)[0] for x in sub])
            enclosed |= bool(abs(signs.sum()) == 3)
        if not enclosed:
            keep.append(t)
    return keep


def _strip(a: list[int], b: list[int], closed: bool = False) -> list[tuple[int, int, int]]:
    """Triangles joining two point chains of equal length (a[i] faces b[i])."""
    n = len(a)
    out = []
    for i in range(n if closed else n - 1):
        j = (i + 1) % n
        out += [(a[i], a[j], b[i]), (b[i], a[j], b[j])]
    return out


def fill_triangles(n_rings: int) -> list[tuple[int, int, int]]:
    """Eye and mouth openings (lid-to-lid strips) and oval-to-ring strips."""
    out = []
    for eye in (EYE_LEFT, EYE_RIGHT):
        c0, c1 = eye.corners
        out += _strip([c0, *eye.upper, c1], [c0, *eye.lower, c1])
    out += _strip([78, *MOUTH_UPPER, 308], [78, *MOUTH_LOWER, 308])
    chains = [list(FACE_OVAL)] + [[468 + r * len(FACE_OVAL) + i for i in range(len(FACE_OVAL))] for r in range(n_rings)]
    for inner, outer in zip(chains, chains[1:]):
        out += _strip(inner, outer, closed=True)
    return [t for t in out if len(set(t)) == 3]


def inverse_affines(dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Affine maps [shape=(k, 6)] (a, b, c, d, e, f: x' = ax + by + c, y' = dx + ey + f) taking
    triangles ``dst`` [shape=(k, 3, 2)] onto ``src`` [shape=(k, 3, 2)]."""
    d1, d2 = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    s1, s2 = src[:, 1] - src[:, 0], src[:, 2] - src[:, 0]
    det = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0]
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    # inv([d1 d2]) = [[d2y, -d2x], [-d1y, d1x]] / det;  A = [s1 s2] @ inv
    i00, i01, i10, i11 = d2[:, 1] / det, -d2[:, 0] / det, -d1[:, 1] / det, d1[:, 0] / det
    a = s1[:, 0] * i00 + s2[:, 0] * i10
    b = s1[:, 0] * i01 + s2[:, 0] * i11
    d = s1[:, 1] * i00 + s2[:, 1] * i10
    e = s1[:, 1] * i01 + s2[:, 1] * i11
    c = src[:, 0, 0] - a * dst[:, 0, 0] - b * dst[:, 0, 1]
    f = src[:, 0, 1] - d * dst[:, 0, 0] - e * dst[:, 0, 1]
    return np.stack([a, b, c, d, e, f], axis=1)


def signed_area(t: np.ndarray) -> np.ndarray:
    """Twice the signed area of triangles [shape=(k, 3, 2)]; positive = clockwise on screen (y down)."""
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


