"""Synthetic face frames: a real photograph animated through its own 3-D landmark mesh.

SYNTHETIC DATA. Every frame this module makes is a re-rendering of one real
photograph (by default ``skimage.data.astronaut()``); nothing here is a
recording of a person.

How it works. FaceMesh (with iris refinement) runs once on the photograph and
gives 478 landmarks, in pixels (x right, y down, z scaled like x, away from the
camera). Two rings of extra points around the face oval carry the hair, ears
and neck. The mesh is FaceMesh's own tessellation (its triangles recovered from
its edge list), with the eye and mouth openings filled by strips between the
lids (or lips) and strips joining the face oval to the rings; per
frame the 3-D points are deformed (blink, expression), rotated about a head
centre behind the face, projected orthographically (weak perspective), and each
triangle is warped piecewise-affinely into the frame: triangles are rasterised
far to near (painter's algorithm by mean depth) into a map
of triangle ids, from which one dense ``cv2.remap`` map is built. The irises
are moved inside the photograph's eye openings before the warp, so that the
warp carries them; their true image positions come from the same piecewise
affine map.

Pose is *relative to the photograph*: ``yaw = pitch = roll = 0`` reproduces the
photograph's own head pose, which is close to, but not exactly, frontal (a
tracker that reports absolute pose reads the photograph's own pose at zero).
Likewise ``gaze = (0, 0)`` is the photograph's own gaze.

Axes and signs (those of the face-track format): image axes x right, y down,
z away from the camera. ``yaw > 0`` turns the nose toward the image's right,
``pitch > 0`` turns it up, ``roll > 0`` tilts the head clockwise in the image.
The rotation is ``R = Rz(roll) · Rx(-pitch) · Ry(-yaw)`` (scipy's intrinsic
"ZXY" with angles ``(roll, -pitch, -yaw)``), which is the decomposition
``cdr.face.pose.euler_from_matrix`` inverts. Left/right eyes are as seen in
the image.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

import cv2
import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import InputError, ParameterError
from .expressions import apply_expressions
from .mesh import (
    CHEEK_LEFT, CHEEK_RIGHT, EYE_LEFT, EYE_RIGHT, FACE_OVAL, HEAD_CENTRE_DEPTH, NOSE_TIP, RINGS, EyeSprite,
    close_eye, face_triangles, fill_triangles, inverse_affines, signed_area,
)


#: Real photographs available offline, by name: the package that ships each, and its licence.
BUILTIN_PHOTOS = {
    "astronaut": "scikit-image: skimage.data.astronaut() (Eileen Collins, NASA, public domain)",
    "grace_hopper": "matplotlib: mpl-data/sample_data/grace_hopper.jpg (Grace Hopper, US Navy, public domain)",
}


@lru_cache(maxsize=8)
def _builtin_photo(name: str, mirror: bool = False) -> np.ndarray:
    if name == "astronaut":
        import skimage.data

        rgb = skimage.data.astronaut()
    elif name == "grace_hopper":
        import matplotlib.cbook
        import skimage.io

        rgb = skimage.io.imread(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    else:
        raise ParameterError(f"photo={name!r} is not a built-in photograph; use one of {sorted(BUILTIN_PHOTOS)}")
    rgb = np.ascontiguousarray(rgb[..., :3])
    return np.ascontiguousarray(rgb[:, ::-1]) if mirror else rgb


def photo_landmarks(rgb: np.ndarray) -> np.ndarray:
    """FaceMesh landmarks (with irises) of the one face in a photograph.

    Parameters
    ----------
    rgb : np.ndarray [shape=(h, w, 3), dtype=uint8]

    Returns
    -------
    np.ndarray [shape=(478, 3)]
        Pixels: x right, y down, z (depth, away from the camera) scaled like x.
    """
    from ..face.track import landmarks_in_image  # the project's one mediapipe user

    lm = landmarks_in_image(np.ascontiguousarray(rgb[..., :3]))
    if lm is None:
        raise InputError("photograph: FaceMesh found no face in it; use a photo with one clear, frontal face")
    return lm


@lru_cache(maxsize=8)
def _builtin_landmarks(name: str, mirror: bool = False) -> np.ndarray:
    return photo_landmarks(_builtin_photo(name, mirror))


def make_background(frame_size: tuple[int, int], seed: int) -> np.ndarray:
    """A smooth two-colour gradient with a faint low-frequency texture.

    Parameters
    ----------
    frame_size : (width, height) in pixels
    seed : int

    Returns
    -------
    np.ndarray [shape=(height, width, 3), dtype=uint8]
    """
    w, h = frame_size
    rng = np.random.default_rng(seed)
    c0, c1 = rng.uniform(30, 225, size=(2, 3))
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    img = c0[None, None] + ramp[..., None] * (c1 - c0)[None, None]
    noise = rng.normal(0, 1, size=(max(h // 32, 2), max(w // 32, 2), 3)).astype(np.float32)
    noise = cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.uniform(4, 14) * noise
    return np.clip(img, 0, 255).astype(np.uint8)


class FaceRenderer:
    """Render one real photograph's face at a chosen pose, gaze, blink and expression.

    Parameters
    ----------
    photo : np.ndarray [shape=(h, w, 3), dtype=uint8] or str
        The photograph, or the name of a built-in one (``BUILTIN_PHOTOS``).
    landmarks : np.ndarray [shape=(478, 3)], optional
        The photograph's FaceMesh landmarks, if already known (pixels; of the mirrored
        photograph when ``mirror``).
    mirror : bool
        Use the photograph flipped left-right (its landmarks are found on the flipped image).
    colour : (float, float, float)
        Per-channel gains applied to the photograph (appearance jitter).
    aspect : (float, float)
        Horizontal and vertical stretch of the face mesh about the head centre (shape jitter).
    """

    def __init__(
        self,
        photo: np.ndarray | str = "astronaut",
        *,
        landmarks: np.ndarray | None = None,
        mirror: bool = False,
        colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
        aspect: tuple[float, float] = (1.0, 1.0),
    ):
        if isinstance(photo, str):
            rgb = _builtin_photo(photo, mirror)
            lm = _builtin_landmarks(photo, mirror) if landmarks is None else landmarks
        else:
            rgb = np.asarray(photo)
            if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.dtype != np.uint8:
                raise ParameterError(f"photo has shape {rgb.shape} and dtype {rgb.dtype}; pass an RGB uint8 image")
            rgb = np.ascontiguousarray(rgb[:, ::-1, :3] if mirror else rgb[..., :3])
            lm = photo_landmarks(rgb) if landmarks is None else landmarks
        if tuple(colour) != (1.0, 1.0, 1.0):
            rgb = np.clip(rgb * np.asarray(colour, np.float32), 0, 255).astype(np.uint8)
        self.photo = rgb
        self.aspect = np.asarray(aspect, np.float64)
        self.landmarks = np.asarray(lm, np.float64)
        if self.landmarks.shape != (478, 3):
            raise ParameterError(f"landmarks have shape {self.landmarks.shape}; FaceMesh with irises gives (478, 3)")
        self._build()

    # ---- set-up (once per photograph) -------------------------------------------------
    def _build(self) -> None:
        lm = self.landmarks
        self.face_width_src = float(np.linalg.norm(lm[CHEEK_RIGHT, :2] - lm[CHEEK_LEFT, :2]))
        fw = self.face_width_src
        centre2 = lm[:468, :2].mean(0)
        self.centre = np.r_[centre2, lm[:468, 2].mean() + HEAD_CENTRE_DEPTH * fw]
        oval = lm[FACE_OVAL]
        rings = []
        h, w = self.photo.shape[:2]
        for scale, dz in RINGS:
            ring = oval.copy()
            ring[:, :2] = centre2 + scale * (oval[:, :2] - centre2)
            ring[:, 0] = np.clip(ring[:, 0], 0, w - 1)
            ring[:, 1] = np.clip(ring[:, 1], 0, h - 1)
            ring[:, 2] += dz * fw
            rings.append(ring)
        # Mesh vertices: the 468 face points and the rings. The irises are not vertices; they are
        # drawn into the texture (see _texture) and mapped through the mesh.
        self.vertices = np.vstack([lm[:468]] + rings)
        simp = np.array(face_triangles(lm[:468, :2]) + fill_triangles(len(rings)))
        area = signed_area(self.vertices[simp, :2])
        simp[area < 0] = simp[area < 0][:, [0, 2, 1]]  # one winding for all, in the photograph
        self.simplices = simp
        self.src_tri = self.vertices[simp, :2]
        # Alpha: opaque inside the inner ring, fading to zero at the outer ring.
        alpha = np.zeros((h, w), np.float32)
        cv2.fillPoly(alpha, [np.round(rings[0][:, :2]).astype(np.int32)], 1.0)
        gap = float(np.mean(np.linalg.norm(rings[-1][:, :2] - rings[0][:, :2], axis=1)))
        dist = cv2.distanceTransform((alpha < 0.5).astype(np.uint8), cv2.DIST_L2, 5)
        alpha = np.clip(1.0 - dist / max(gap, 1.0), 0, 1)
        outer = np.zeros((h, w), np.uint8)
        cv2.fillPoly(outer, [np.round(rings[-1][:, :2]).astype(np.int32)], 1)
        self._alpha = (alpha * outer * 255).astype(np.uint8)
        self._eyes = [EyeSprite(self.photo, lm, eye) for eye in (EYE_LEFT, EYE_RIGHT)]
        self._located: dict[tuple[float, float], tuple[int, np.ndarray]] = {}
        self._rgba = np.dstack([self.photo, self._alpha])
        self._tex_key: tuple | None = (0.0, 0.0)
        self._tex_levels: list[np.ndarray] = [self._rgba.copy()]

    def _texture(self, gaze: tuple[float, float], level: int) -> np.ndarray:
        """The RGBA photograph with the irises moved by ``gaze`` (eye widths), at pyramid ``level``."""
        key = (round(float(gaze[0]), 4), round(float(gaze[1]), 4))
        if key != self._tex_key:
            work = self._tex_levels[0]
            for eye in self._eyes:  # only the eye boxes change with gaze
                x0, y0, x1, y1 = eye.box
                work[y0:y1, x0:x1] = self._rgba[y0:y1, x0:x1]
                if key != (0.0, 0.0):
                    eye.draw(work[..., :3], key)
            del self._tex_levels[1:]
            self._tex_key = key
        while len(self._tex_levels) <= level:
            self._tex_levels.append(cv2.pyrDown(self._tex_levels[-1]))
        return self._tex_levels[level]

    # ---- geometry -----------------------------------------------------------------------
    def deformed(self, *, blink: float = 0.0, smile: float = 0.0, expression: Mapping[str, float] | None = None,
                 blink_left: float | None = None, blink_right: float | None = None) -> np.ndarray:
        """Mesh vertices [shape=(n, 3)] in photograph pixels after blink and expression, before rotation."""
        v = self.vertices.copy()
        if (self.aspect != 1.0).any():
            v[:, :2] = self.centre[:2] + (v[:, :2] - self.centre[:2]) * self.aspect
        amounts = dict(expression or {})
        if smile:
            amounts["smile"] = amounts.get("smile", 0.0) + smile
        apply_expressions(v, amounts, self.face_width_src)
        for eye, b in ((EYE_LEFT, blink if blink_left is None else blink_left),
                       (EYE_RIGHT, blink if blink_right is None else blink_right)):
            if b:
                close_eye(v, eye, float(np.clip(b, -0.5, 1.0)))
        return v

    @staticmethod
    def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
        """Head rotation [shape=(3, 3)] in image axes for contract-signed angles in degrees."""
        return Rotation.from_euler("ZXY", [roll, -pitch, -yaw], degrees=True).as_matrix()

    def _project(self, pts: np.ndarray, r: np.ndarray, scale: float, centre_px: np.ndarray) -> np.ndarray:
        q = (pts - self.centre) @ r.T
        out = q * scale
        out[:, :2] += centre_px
        return out

    # ---- rendering ----------------------------------------------------------------------
    def render(
        self,
        *,
        yaw: float = 0.0,
        pitch: float = 0.0,
        roll: float = 0.0,
        gaze: tuple[float, float] = (0.0, 0.0),
        blink: float = 0.0,
        smile: float = 0.0,
        expression: Mapping[str, float] | None = None,
        frame_size: tuple[int, int] = (640, 480),
        face_width: float = 0.4,
        center: tuple[float, float] = (0.5, 0.5),
        background: np.ndarray | tuple[int, int, int] | int | None = None,
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Render one frame.

        Parameters
        ----------
        yaw, pitch, roll : float
            Degrees, relative to the photograph's own pose, contract signs.
        gaze : (float, float)
            Iris shift (x right, y down) within the eye, in eye widths, in the head's frame.
        blink : float
            0 open … 1 closed (upper lids lowered onto the lower lids); down to -0.5 widens the eyes.
        smile : float
            0 neutral … 1 full smile (mouth corners up and out).
        expression : mapping, optional
            Further expression amounts by name (see ``cdr.synth.expressions.PRIMITIVES``).
        frame_size : (width, height)
            Pixels.
        face_width : float
            Cheek-to-cheek face width at zero pose, as a fraction of the frame width.
        center : (float, float)
            Where the head centre lands, as fractions of (width, height).
        background : array [shape=(height, width, 3)], RGB tuple, int seed or None (mid grey)

        Returns
        -------
        rgb : np.ndarray [shape=(height, width, 3), dtype=uint8]
        truth : dict[str, float]
            The applied ``yaw, pitch, roll`` (degrees), ``gaze_x, gaze_y`` (eye widths), ``blink``,
            ``smile``; projected 2-D pixel positions ``nose_x, nose_y`` (landmark 1),
            ``eye_left_x/_y``, ``eye_right_x/_y`` (corner midpoints), ``iris_left_x/_y``,
            ``iris_right_x/_y``; ``pupil_left_x/_y``, ``pupil_right_x/_y`` (iris minus eye centre
            in projected eye widths, image axes, as in the face-track format); ``ear_left``,
            ``ear_right`` (eye aspect ratios of the rendered lids); ``face_width_px``.
        """
        w, h = int(frame_size[0]), int(frame_size[1])
        if w < 16 or h < 16:
            raise ParameterError(f"frame_size={frame_size} is too small; use at least 16x16 pixels")
        if not 0.02 <= face_width <= 2.0:
            raise ParameterError(f"face_width={face_width} must be a fraction of the frame width in [0.02, 2]")
        frame = background_image(background, w, h)
        scale = face_width * w / self.face_width_src
        centre_px = np.array([center[0] * w, center[1] * h])
        r = self.rotation(yaw, pitch, roll)
        v = self.deformed(blink=blink, smile=smile, expression=expression)
        dst = self._project(v, r, scale, centre_px)
        self._warp_into(frame, dst, gaze, scale)
        truth = self._truth(dst, gaze)
        truth.update(yaw=float(yaw), pitch=float(pitch), roll=float(roll), blink=float(blink), smile=float(smile),
                     face_width_px=float(face_width * w))
        return frame, truth

    def _warp_into(self, frame: np.ndarray, dst: np.ndarray, gaze, scale: float) -> None:
        h, w = frame.shape[:2]
        tri_dst = dst[self.simplices]  # (T, 3, 3)
        area = signed_area(tri_dst[:, :, :2])
        # No back-face culling: every triangle is drawn, far to near, so that turned-away
        # triangles (the far cheek, a nostril's side) sit behind the near surface instead of
        # leaving holes. Only degenerate triangles (closed lids) are skipped.
        keep = np.abs(area) > 1e-3
        x0, y0 = np.floor(dst[:, :2].min(0)).astype(int)
        x1, y1 = np.ceil(dst[:, :2].max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 <= x0 or y1 <= y0 or not keep.any():
            return
        idx = np.flatnonzero(keep)
        idx = idx[np.argsort(-tri_dst[idx, :, 2].mean(1), kind="stable")]  # far first
        ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
        pts = np.round((tri_dst[idx, :, :2] - [x0, y0]) * 16).astype(np.int32)
        for i, p in zip(idx, pts):
            cv2.fillConvexPoly(ids, p, int(i), lineType=cv2.LINE_8, shift=4)
        # Inverse affine (destination pixel -> texture pixel) of every kept triangle, closed form.
        level = int(np.clip(np.floor(-np.log2(max(scale, 1e-6)) + 0.25), 0, 4))
        tex = self._texture(tuple(gaze), level)
        f = 0.5**level
        coef = np.zeros((len(self.simplices) + 1, 6), np.float32)
        coef[-1] = (0, 0, -10, 0, 0, -10)  # id -1 (no triangle): outside the texture, alpha 0
        coef[idx] = inverse_affines(tri_dst[idx, :, :2] - [x0, y0], self.src_tri[idx] * f + (f - 1) * 0.5)
        xx = np.arange(x1 - x0, dtype=np.float32)[None, :]
        yy = np.arange(y1 - y0, dtype=np.float32)[:, None]
        cols = [np.ascontiguousarray(coef[:, i]) for i in range(6)]
        mx, my = cols[0][ids], cols[3][ids]
        mx *= xx
        my *= xx
        mx += cols[1][ids] * yy
        my += cols[4][ids] * yy
        mx += cols[2][ids]
        my += cols[5][ids]
        rgba = cv2.remap(tex, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        a = cv2.merge([rgba[..., 3]] * 3)
        roi = frame[y0:y1, x0:x1]
        roi[:] = cv2.add(cv2.multiply(rgba[..., :3], a, scale=1 / 255), cv2.multiply(roi, 255 - a, scale=1 / 255))

    def _map_points(self, src_xy: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Carry photograph points [shape=(k, 2)] through the mesh to the frame (pixels)."""
        out = np.empty((len(src_xy), 2))
        for n, p in enumerate(np.asarray(src_xy, float)):
            key = (round(p[0], 6), round(p[1], 6))
            hit = self._located.get(key)
            if hit is None:
                a, b, c = (self.src_tri[:, i] for i in range(3))
                den = signed_area(self.src_tri)
                l1 = signed_area(np.stack([np.broadcast_to(p, a.shape), b, c], 1)) / den
                l2 = signed_area(np.stack([a, np.broadcast_to(p, a.shape), c], 1)) / den
                bary = np.stack([l1, l2, 1 - l1 - l2], 1)
                i = int(np.argmax(bary.min(1)))  # the triangle holding p (or the nearest to holding it)
                hit = self._located[key] = (i, bary[i])
                if len(self._located) > 4096:
                    self._located.clear()
            i, w = hit
            out[n] = w @ dst[self.simplices[i], :2]
        return out

    def _truth(self, dst: np.ndarray, gaze) -> dict[str, float]:
        out: dict[str, float] = {"gaze_x": float(gaze[0]), "gaze_y": float(gaze[1])}
        out["nose_x"], out["nose_y"] = map(float, dst[NOSE_TIP, :2])
        for side, eye, sprite in (("left", EYE_LEFT, self._eyes[0]), ("right", EYE_RIGHT, self._eyes[1])):
            c0, c1 = dst[eye.corners[0], :2], dst[eye.corners[1], :2]
            centre = (c0 + c1) / 2
            width = float(np.linalg.norm(c1 - c0))
            iris = self._map_points(sprite.iris_centre(gaze)[None], dst)[0]
            out[f"eye_{side}_x"], out[f"eye_{side}_y"] = map(float, centre)
            out[f"iris_{side}_x"], out[f"iris_{side}_y"] = map(float, iris)
            out[f"pupil_{side}_x"], out[f"pupil_{side}_y"] = map(float, (iris - centre) / max(width, 1e-9))
            p = dst[list(eye.ear), :2]
            ear = (np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3]))
            out[f"ear_{side}"] = float(ear)
        return out

    def landmarks_2d(self, **render_kwargs) -> np.ndarray:
        """The 478 landmarks [shape=(478, 2)] (pixels) as they land in a frame rendered with these arguments."""
        w, h = render_kwargs.get("frame_size", (640, 480))
        scale = render_kwargs.get("face_width", 0.4) * w / self.face_width_src
        cx, cy = render_kwargs.get("center", (0.5, 0.5))
        r = self.rotation(render_kwargs.get("yaw", 0.0), render_kwargs.get("pitch", 0.0), render_kwargs.get("roll", 0.0))
        v = self.deformed(blink=render_kwargs.get("blink", 0.0), smile=render_kwargs.get("smile", 0.0),
                          expression=render_kwargs.get("expression"))
        dst = self._project(v, r, scale, np.array([cx * w, cy * h]))
        gaze = render_kwargs.get("gaze", (0.0, 0.0))
        iris = np.vstack([self._map_points(e.iris_points(gaze), dst) for e in self._eyes])
        return np.vstack([dst[:468, :2], iris])


def background_image(background, w: int, h: int) -> np.ndarray:
    """The frame's background [shape=(h, w, 3), uint8] from an array, an RGB tuple, an int seed or None (grey)."""
    if background is None:
        return np.full((h, w, 3), 128, np.uint8)
    if isinstance(background, (int, np.integer)):
        return make_background((w, h), int(background))
    arr = np.asarray(background)
    if arr.shape == (3,):
        return np.broadcast_to(arr.astype(np.uint8), (h, w, 3)).copy()
    if arr.shape != (h, w, 3):
        raise ParameterError(f"background has shape {arr.shape}; it must be ({h}, {w}, 3) for frame_size=({w}, {h})")
    return arr.astype(np.uint8, copy=True)
