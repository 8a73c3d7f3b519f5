"""Facial expressions as deformations of the FaceMesh landmarks, and the synthetic expression set.

SYNTHETIC DATA. Expressions are made by moving a real photograph's landmarks
(see ``cdr.synth.face``); they are caricatures of the real thing, good enough
to give a demo expression network something learnable with known labels.

A *primitive* moves a few anchor landmarks by a displacement (in face widths,
image axes, x right, y down) and carries nearby points along with a Gaussian
fall-off. Named classes are recipes of primitives.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..errors import ParameterError

#: primitive -> list of (anchor landmark, (dx, dy) in face widths, Gaussian sigma in face widths)
PRIMITIVES: dict[str, list[tuple[int, tuple[float, float], float]]] = {
    # mouth corners up and out, cheeks lifted
    "smile": [(61, (-0.06, -0.055), 0.085), (291, (0.06, -0.055), 0.085),
              (205, (0.0, -0.02), 0.07), (425, (0.0, -0.02), 0.07)],
    # mouth corners down and slightly in
    "frown": [(61, (0.01, 0.045), 0.07), (291, (-0.01, 0.045), 0.07)],
    # whole brows raised
    "brows_up": [(105, (0.0, -0.06), 0.09), (334, (0.0, -0.06), 0.09)],
    # brows lowered and drawn together
    "brows_down": [(105, (0.015, 0.035), 0.07), (334, (-0.015, 0.035), 0.07),
                   (107, (0.02, 0.03), 0.05), (336, (-0.02, 0.03), 0.05)],
    # inner brow ends raised (sadness)
    "brows_inner_up": [(107, (0.0, -0.045), 0.05), (336, (0.0, -0.045), 0.05)],
}

#: Lower lip and chin points, moved down by "jaw" (mouth opening); the upper lip stays.
_LOWER_LIP = [14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375]

#: Expression classes of the synthetic training set: name -> primitive amounts (plus "blink", "jaw").
CLASSES: dict[str, dict[str, float]] = {
    "neutral": {},
    "happy": {"smile": 1.0},
    "sad": {"frown": 1.0, "brows_inner_up": 1.0},
    "surprise": {"brows_up": 1.0, "jaw": 1.0, "blink": -0.35},
    "anger": {"brows_down": 1.0, "blink": 0.3},
}


def apply_expressions(v: np.ndarray, amounts: Mapping[str, float], face_width: float) -> None:
    """Deform mesh vertices in place.

    Parameters
    ----------
    v : np.ndarray [shape=(n, 3)]
        Mesh vertices in pixels; rows 0..467 are the FaceMesh landmarks.
    amounts : mapping
        Primitive name -> amount (1 is the full expression; 0 none). ``"jaw"`` opens the
        mouth. ``"blink"`` is handled by the renderer, not here.
    face_width : float
        Cheek-to-cheek width in pixels (the unit of the displacements).
    """
    base = v[:468, :2].copy()
    for name, amount in amounts.items():
        if not amount or name == "blink":
            continue
        if name == "jaw":
            _open_jaw(v, base, float(amount), face_width)
            continue
        if name not in PRIMITIVES:
            raise ParameterError(f"expression {name!r} is unknown; use one of {sorted([*PRIMITIVES, 'jaw'])}")
        for anchor, (dx, dy), sigma in PRIMITIVES[name]:
            d2 = ((base - base[anchor]) ** 2).sum(1) / (sigma * face_width) ** 2
            wgt = np.exp(-0.5 * d2)[:, None]
            v[:468, :2] += amount * wgt * np.array([dx, dy]) * face_width


def _open_jaw(v: np.ndarray, base: np.ndarray, amount: float, fw: float) -> None:
    """Move the lower lip, chin and lower jaw down by up to ``0.08·amount`` face widths."""
    mouth = base[[13, 14]].mean(0)
    below = np.clip((base[:, 1] - mouth[1]) / (0.03 * fw), 0, 1)
    below[_LOWER_LIP] = 1.0
    below[[13, 82, 81, 80, 191, 312, 311, 310, 415, 0, 37, 39, 40, 185, 267, 269, 270, 409]] = 0.0
    side = np.exp(-0.5 * ((base[:, 0] - mouth[0]) / (0.3 * fw)) ** 2)
    v[:468, 1] += amount * 0.08 * fw * below * side
    v[[61, 291, 78, 308], 1] += amount * 0.04 * fw  # corners half way


def class_amounts(name: str) -> dict[str, float]:
    """Primitive amounts of an expression class (see ``CLASSES``)."""
    if name not in CLASSES:
        raise ParameterError(f"expression class {name!r} is unknown; use one of {sorted(CLASSES)}")
    return dict(CLASSES[name])
