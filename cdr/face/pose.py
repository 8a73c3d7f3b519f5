"""Head pose (yaw, pitch, roll) from FaceMesh's 3-D landmarks, with no downloaded model.

The pose is the rotation of a rigid similarity alignment (Umeyama) of the
frame's landmarks onto a reference face shape. The reference,
``reference_face.npy``, is a mirror-symmetric FaceMesh shape built by
``pipelines/make_reference_face.py`` from a real frontal photograph; its
symmetry plane defines yaw = roll = 0. Pitch 0 is the pose in which the
mouth-corner midpoint lies straight below the eye-corner midpoint (the
eye-mouth line parallel to the image plane): absolute pitch therefore carries a
constant offset from person to person, which the per-video features
(spreads, velocities, correlations) do not see.

Coordinates are image axes: x to the right, y down, z away from the camera
(FaceMesh's depth), which is a right-handed frame. Signs follow the contract:
``yaw > 0`` when the nose turns toward the image's right, ``pitch > 0`` when
the nose turns up, ``roll > 0`` when the head tilts clockwise in the image.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

REFERENCE_PATH = Path(__file__).with_name("reference_face.npy")

#: FaceMesh indices that move little with expression: forehead, temples, nose, cheekbones, jaw line.
#: Eyelids and lips are left out, so that blinks and smiles do not read as head motion.
_LIPS_AND_LIDS = {
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
    267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
    7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
    249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
}
RIGID = np.array([i for i in range(468) if i not in _LIPS_AND_LIDS])


@lru_cache(maxsize=1)
def reference_face() -> np.ndarray:
    """The reference shape [shape=(478, 3)], centred, inter-ocular distance 1."""
    return np.load(REFERENCE_PATH).astype(np.float64)


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s · R · src + t`` (Umeyama 1991).

    Parameters
    ----------
    src, dst : np.ndarray [shape=(n, 3)]

    Returns
    -------
    s : float
    R : np.ndarray [shape=(3, 3)], a proper rotation (det = +1)
    t : np.ndarray [shape=(3,)]
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    r = u @ sign @ vt
    var = (a**2).sum() / len(src)
    s = float(np.trace(np.diag(d) @ sign) / var)
    return s, r, mu_d - s * r @ mu_s


def euler_from_matrix(r: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees, in the contract's signs, of a head rotation in image axes.

    The rotation is decomposed as ``R = Rz(c) · Rx(b) · Ry(a)`` (intrinsic Z-X-Y, as
    ``scipy.spatial.transform.Rotation.as_euler("ZXY")``, written out because it runs on
    every frame): the head turns about its vertical axis, then nods, then tilts in the
    image plane. Ry(+a) turns the nose (-z) toward -x, the image's left; Rx(+b) turns it
    down (+y); Rz(+c) turns +x toward +y, clockwise on screen. Hence yaw = -a,
    pitch = -b, roll = c.
    """
    b = np.arcsin(np.clip(r[2, 1], -1.0, 1.0))
    a = np.arctan2(-r[2, 0], r[2, 2])
    c = np.arctan2(-r[0, 1], r[1, 1])
    return float(-np.degrees(a)), float(-np.degrees(b)), float(np.degrees(c))


def orthographic_camera(dst_xy: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Scaled-orthographic camera fit of the reference's rigid points to ``dst_xy``.

    A linear least-squares affine camera (through the pseudo-inverse of the centred
    reference, computed once), projected onto the nearest scaled rotation (the two
    rows made orthonormal, the scale the mean of its singular values).

    Parameters
    ----------
    dst_xy : np.ndarray [shape=(len(RIGID), 2)]
        Image positions of the rigid landmarks.

    Returns
    -------
    rows : np.ndarray [shape=(2, 3)]
        The first two rows of the head's rotation (image axes).
    scale : float
        Pixels per reference unit (the reference's inter-ocular distance is 1).
    centre : np.ndarray [shape=(2,)]
        The image position of the reference's rigid centroid (the mean of ``dst_xy``).
    """
    _, pinv = _rigid_reference()
    centre = dst_xy.mean(0)
    m = pinv @ (dst_xy - centre)
    u, d, vt = np.linalg.svd(m.T, full_matrices=False)
    return u @ vt, float(d.mean()), centre


def orthographic_rotation(dst_xy: np.ndarray) -> np.ndarray:
    """Rotation [shape=(3, 3)] of :func:`orthographic_camera`, completed by the rows' cross product."""
    rows, _, _ = orthographic_camera(dst_xy)
    return np.vstack([rows, np.cross(rows[0], rows[1])])


@lru_cache(maxsize=1)
def _rigid_reference() -> tuple[np.ndarray, np.ndarray]:
    """The reference's rigid points and the pseudo-inverse of their centred coordinates."""
    ref = reference_face()[RIGID]
    return ref, np.linalg.pinv(ref - ref.mean(0))


#: Per eye (left, right as seen in the image): its two corners and the iris centre.
EYE_POINTS = ((33, 133, 468), (362, 263, 473))
#: Per eye: the lid contour (the eye opening), corners included.
EYE_RINGS = (
    (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398),
)
_GAZE_POINTS = np.r_[np.ravel(EYE_POINTS), np.ravel(EYE_RINGS)]


@lru_cache(maxsize=1)
def _gaze_depths() -> np.ndarray:
    """Head-frame depth of each gaze point on the reference, relative to the rigid centroid."""
    ref, _ = _rigid_reference()
    return reference_face()[_GAZE_POINTS, 2] - ref[:, 2].mean()


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """Head pose of one frame.

    FaceMesh's image-plane coordinates are more accurate than its regressed
    depth, which shrinks toward a frontal face as the head turns sideways: a
    full 3-D fit under-reads yaw by about a quarter at 20-30 degrees on rendered
    faces of known pose, while a fit to the image-plane positions alone
    recovers it, and under-reads pitch instead. So yaw comes from the
    image-plane fit (:func:`orthographic_rotation`), and pitch and roll from the
    3-D fit (:func:`umeyama`). ``tests/test_track.py`` holds both to the truth.

    Parameters
    ----------
    landmarks : np.ndarray [shape=(478, 3) or (468, 3)]
        FaceMesh landmarks in pixels (x right, y down, z scaled like x).

    Returns
    -------
    yaw, pitch, roll : float
        Degrees, contract signs.
    """
    yaw, pitch, roll = head_pose_and_gaze(landmarks, gaze=False)[:3]
    return float(yaw), float(pitch), float(roll)


def head_pose_and_gaze(landmarks: np.ndarray, *, gaze: bool = True) -> np.ndarray:
    """Head pose and eye-in-head gaze of one frame.

    Eye-in-head gaze is the iris centre's offset within the eye, in eye widths
    (corner to corner), measured in the head's own frame rather than in the image:
    x along the head's left-right axis (to the image's right when the face is
    frontal), y along its up-down axis (down). The image-plane camera of
    :func:`orthographic_camera` maps head-frame points to the image; the iris, the
    corners and the lid contour are taken back through it, each with its depth in
    the head frame set to that of the same landmark on the reference face
    (FaceMesh's own depths are compressed, see :func:`head_pose`). This removes
    roll, scale and foreshortening. One parallax term remains: the iris lies in
    front of the eye corners, so a head turn slides it sideways past them (about
    0.1 eye widths over +-30 degrees of yaw on rendered faces), and FaceMesh's
    iris does not follow the reference depth closely. So x is measured from the
    centre of the eye opening (the lid contour's centroid), which lies on the
    eyeball at about the iris's depth and slides with it; y is measured from the
    corner midpoint, because the lids follow the iris up and down.
    ``tests/test_track.py`` holds x to a rendered head turn with the eyes fixed.

    Parameters
    ----------
    landmarks : np.ndarray [shape=(478, 3)]
        FaceMesh landmarks with irises, in pixels. (468 landmarks give NaN gaze.)
    gaze : bool
        Also compute the gaze (otherwise the last four values are NaN).

    Returns
    -------
    np.ndarray [shape=(7,)]
        yaw, pitch, roll (degrees, contract signs), gaze_head_left_x, gaze_head_left_y,
        gaze_head_right_x, gaze_head_right_y (eye widths).
    """
    ref, _ = _rigid_reference()
    lm = np.asarray(landmarks, np.float64)
    obs = lm[RIGID]
    _, r3, _ = umeyama(ref, obs)
    _, pitch, roll = euler_from_matrix(r3)
    rows, scale, centre = orthographic_camera(obs[:, :2])
    yaw, _, _ = euler_from_matrix(np.vstack([rows, np.cross(rows[0], rows[1])]))
    out = np.full(7, np.nan)
    out[:3] = yaw, pitch, roll
    if gaze and len(lm) > 473:
        # image = scale * (rows[:, :2] @ q_xy + rows[:, 2] * q_z) + centre, solved for q_xy
        (a, b), (c, d) = rows[0, :2], rows[1, :2]
        inv_t = np.array([[d, -c], [-b, a]]) / (a * d - b * c)
        q = ((lm[_GAZE_POINTS, :2] - centre) / scale - np.outer(_gaze_depths(), rows[:, 2])) @ inv_t
        x, y = q[:, 0], q[:, 1]
        width = np.hypot(x[[1, 4]] - x[[0, 3]], y[[1, 4]] - y[[0, 3]])
        ring_x = x[6:].reshape(2, -1).mean(1)
        out[[3, 5]] = (x[[2, 5]] - ring_x) / width
        out[[4, 6]] = (y[[2, 5]] - (y[[0, 3]] + y[[1, 4]]) / 2) / width
    return out


def symmetric_reference(landmarks: np.ndarray) -> np.ndarray:
    """Build a mirror-symmetric, upright reference shape from one face's landmarks.

    Mirror pairs are found by an optimal assignment between the shape and its
    mirror image; the shape is averaged with its re-indexed mirror, rotated so
    that its symmetry plane is x = 0 and mouth-to-eyes points up (-y), with
    the nose toward the camera (-z), centred, and scaled to inter-ocular distance 1.

    Parameters
    ----------
    landmarks : np.ndarray [shape=(478, 3)]
        Pixels, image axes.

    Returns
    -------
    np.ndarray [shape=(478, 3)]
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    p = np.asarray(landmarks, np.float64)
    p = p - p[:468].mean(0)
    flip = np.diag([-1.0, 1.0, 1.0])
    for _ in range(3):
        _, pairs = linear_sum_assignment(cdist(p[:468], p[:468] @ flip))
        q = (p @ flip)[np.r_[pairs, _iris_pairs(p)]]
        s, r, t = umeyama(q[RIGID], p[RIGID])
        sym = (p + (s * q @ r.T + t)) / 2
        diffs = sym[:468] - sym[np.r_[pairs]]
        diffs = diffs[np.linalg.norm(diffs, axis=1) > 1e-6]
        n = np.linalg.svd(diffs, full_matrices=False)[2][0]
        n *= np.sign(n[0])
        up = sym[[33, 133, 362, 263]].mean(0) - sym[[61, 291]].mean(0)
        up -= n * (up @ n)
        up /= np.linalg.norm(up)
        basis = np.stack([n, -up, np.cross(n, -up)])
        p = (sym - sym[:468].mean(0)) @ basis.T
    if p[1, 2] > 0:  # the nose tip must be nearer the camera than the face's centre
        raise ValueError("reference face came out facing away; check the landmarks' depth axis")
    left = p[[33, 133]].mean(0)
    right = p[[362, 263]].mean(0)
    return p / np.linalg.norm(right - left)


def _iris_pairs(p: np.ndarray) -> np.ndarray:
    """Mirror indices of the ten iris points (468-472 <-> 473-477)."""
    left, right = np.arange(468, 473), np.arange(473, 478)
    # Within each iris: centre, then four points; mirror those by matching mirrored offsets.
    order = []
    for src, dst in ((left, right), (right, left)):
        a = p[src, :2] - p[src[0], :2]
        b = (p[dst, :2] - p[dst[0], :2]) * [-1, 1]
        order.extend(dst[np.argmin(np.linalg.norm(a[:, None] - b[None], axis=2), axis=1)])
    return np.array(order)
