"""A real photograph whose irises move with known motion: the astronaut, re-animated.

SYNTHETIC DATA. scikit-image's astronaut (public domain) is cropped to 320 x 320
(eyes about 19 pixels wide), the two irises are displaced by a smooth warp centred
on FaceMesh's iris landmarks, and the whole face rolls and drifts. Used by the
real-face tests and by ``benchmarks/pupil_jitter.py``.
"""

from __future__ import annotations

import numpy as np

#: Planted iris motion, in eye widths: x = X_AMP * (sin 2pi 1.0 t + sin 2pi 3.0 t),
#: y = Y_AMP * (sin(2pi 1.3 t + 1) + sin 2pi 2.7 t).
X_AMP, Y_AMP = 0.08, 0.05


def moving_eyes(seconds: float, fps: float, *, eye_amplitude: float = 1.0) -> list[np.ndarray]:
    """Frames [each shape=(320, 320, 3), uint8] of the astronaut with moving irises.

    ``eye_amplitude`` scales the planted iris motion (0: the eyes stay still in the head,
    while the head still rolls and drifts as always).
    """
    import cv2
    from skimage.data import astronaut

    from ..face.track import LEFT_EYE_CORNERS, LEFT_IRIS, RIGHT_EYE_CORNERS, RIGHT_IRIS, landmarks_in_image

    img = np.ascontiguousarray(astronaut()[:320, 80:400])
    lm = landmarks_in_image(img)
    eye_w = np.mean([np.hypot(*(lm[a, :2] - lm[b, :2])) for a, b in (LEFT_EYE_CORNERS, RIGHT_EYE_CORNERS)])
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32)
    bump = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * (0.3 * eye_w) ** 2)).astype(np.float32)
               for x, y in (lm[LEFT_IRIS, :2], lm[RIGHT_IRIS, :2]))
    frames = []
    for t in np.arange(int(seconds * fps)) / fps:
        sx = eye_amplitude * eye_w * X_AMP * (np.sin(2 * np.pi * 1.0 * t) + np.sin(2 * np.pi * 3.0 * t))
        sy = eye_amplitude * eye_w * Y_AMP * (np.sin(2 * np.pi * 1.3 * t + 1) + np.sin(2 * np.pi * 2.7 * t))
        eyes = cv2.remap(img, xx - sx * bump, yy - sy * bump, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        m = cv2.getRotationMatrix2D((160, 150), 8 * np.sin(np.pi * t) + 3 * np.sin(2 * np.pi * 1.3 * t), 1.0)
        m[:, 2] += (12 * np.sin(2 * np.pi * 0.3 * t), 6 * np.sin(2 * np.pi * 0.7 * t))
        frames.append(cv2.warpAffine(eyes, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT))
    return frames
