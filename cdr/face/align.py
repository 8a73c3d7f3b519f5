"""Aligned face crops: eye line level, fixed inter-ocular scale.

One function serves both the expression features of a video (crops cut from
tracked frames) and the synthetic expression training set, so that the
network sees the same geometry in training and in use.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Eye centres in the crop, as fractions of its side (left/right as seen in the image).
LEFT_EYE_AT = (0.34, 0.40)
RIGHT_EYE_AT = (0.66, 0.40)


def alignment_matrix(left_eye: np.ndarray, right_eye: np.ndarray, size: int) -> np.ndarray:
    """Similarity transform (2x3) that maps the two eye centres (pixels) to their crop positions."""
    src_l, src_r = np.asarray(left_eye, float), np.asarray(right_eye, float)
    dst_l = np.array(LEFT_EYE_AT) * size
    dst_r = np.array(RIGHT_EYE_AT) * size
    sv, dv = src_r - src_l, dst_r - dst_l
    scale = np.hypot(*dv) / max(np.hypot(*sv), 1e-6)
    angle = np.arctan2(dv[1], dv[0]) - np.arctan2(sv[1], sv[0])
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    shift = dst_l - rot @ src_l
    return np.hstack([rot, shift[:, None]])


def align_face(rgb: np.ndarray, left_eye: np.ndarray, right_eye: np.ndarray, *, size: int = 112) -> np.ndarray:
    """Cut an aligned square face crop.

    Parameters
    ----------
    rgb : np.ndarray [shape=(h, w, 3), dtype=uint8]
    left_eye, right_eye : array-like [shape=(2,)]
        Eye centres in pixels (x, y), left/right as seen in the image.
    size : int
        Side of the output crop in pixels.

    Returns
    -------
    crop : np.ndarray [shape=(size, size, 3), dtype=uint8]
    """
    m = alignment_matrix(left_eye, right_eye, size)
    return cv2.warpAffine(rgb, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


#: Side (pixels) of the aligned crop an appearance histogram is taken from, and the
#: central window (rows, columns) that holds the face without hair or background.
APPEARANCE_SIZE = 48
_APPEARANCE_WINDOW = (slice(10, 44), slice(8, 40))
#: Hue and saturation bins of the appearance histogram.
APPEARANCE_BINS = (12, 8)


def appearance_histogram(crop: np.ndarray) -> np.ndarray:
    """Hue-saturation histogram [shape=(96,), float32, sums to 1] of an aligned face crop.

    ``crop`` is an RGB uint8 crop of side :data:`APPEARANCE_SIZE` cut with
    :func:`alignment_matrix`; only its central window (cheeks, nose, eyes, mouth) counts.
    Hue and saturation change little with head pose and expression, and differ
    between people, so the histogram tells one person from another in one video.
    """
    hsv = cv2.cvtColor(np.ascontiguousarray(crop[_APPEARANCE_WINDOW]), cv2.COLOR_RGB2HSV)
    h = cv2.calcHist([hsv], [0, 1], None, list(APPEARANCE_BINS), [0, 180, 0, 256]).ravel()
    return h / max(float(h.sum()), 1.0)


def appearance_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance (0 same, 1 disjoint) of two appearance histograms."""
    return float(cv2.compareHist(np.float32(a), np.float32(b), cv2.HISTCMP_BHATTACHARYYA))
