"""Facial expressions as deformations of the FaceMesh landmarks, and the synthetic expression set.

SYNTHETIC DATA. Expressions are made by moving a real photograph's landmarks
(see ``cdr.synth.face``); they are caricatures of the real thing, good enough
to give a demo expression network something learnable with known labels.

A *primitive* moves a few anchor landmarks by a displacement (in face widths,
image axes, x right, y down) and carries nearby points along with a Gaussian
fall-off. Named classes are recipes of primitives.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

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


# ---- the synthetic expression training set --------------------------------------------------------


def build_expression_set(
    out: str | os.PathLike,
    *,
    photos: tuple[str, ...] = ("grace_hopper",),
    classes: tuple[str, ...] = tuple(CLASSES),
    n_train: int = 120,
    n_test: int = 30,
    size: int = 112,
    appearances: int = 6,
    seed: int = 0,
) -> Path:
    """Write aligned face crops with known expression labels in the imagefolder layout.

    ``OUT/train/<class>/*.png`` and ``OUT/test/<class>/*.png``, plus ``OUT/manifest.json`` (written
    last; a second call with the same arguments returns at once) and ``OUT/labels.csv`` (every
    image with its class, photo and drawn parameters).

    SYNTHETIC DATA. The real identities are only the photographs named in ``photos`` (by default
    Grace Hopper's, which the synthetic cohort does not use, so that the expression network never
    sees a cohort face). Variety comes from mirroring, colour and face-shape jitter (``appearances``
    variants per photograph), head pose (yaw ±15°, pitch ±10°, roll ±10°), gaze, background, and
    expression strength (0.6..1.2 of each class's recipe). Train and test use disjoint appearance
    variants of the same photographs.

    Parameters
    ----------
    out : output folder
    photos : built-in photograph names (``cdr.synth.face.BUILTIN_PHOTOS``)
    classes : expression classes (``CLASSES``)
    n_train, n_test : images per class in each split
    size : crop side in pixels (``cdr.face.align.align_face``)
    appearances : appearance variants per photograph and split
    seed : int

    Returns
    -------
    Path of ``out``.
    """
    import cv2

    from ..face.align import align_face
    from .face import FaceRenderer

    for c in classes:
        class_amounts(c)
    out = Path(out)
    args = {"photos": list(photos), "classes": list(classes), "n_train": n_train, "n_test": n_test, "size": size,
            "appearances": appearances, "seed": seed, "version": 1}
    manifest = out / "manifest.json"
    if manifest.exists():
        try:
            if json.loads(manifest.read_text()).get("args") == args:
                return out
        except ValueError:
            pass
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in (("train", n_train), ("test", n_test)):
        renderers = []
        for photo in photos:
            for _ in range(appearances):
                renderers.append((photo, FaceRenderer(photo, mirror=bool(rng.integers(2)),
                                                      colour=tuple(rng.uniform(0.85, 1.15, 3)),
                                                      aspect=tuple(rng.uniform(0.93, 1.07, 2)))))
        for c in classes:
            folder = out / split / c
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                photo, r = renderers[int(rng.integers(len(renderers)))]
                amounts = {k: v * rng.uniform(0.6, 1.2) for k, v in class_amounts(c).items()}
                blink = amounts.pop("blink", 0.0)
                pose = dict(yaw=rng.uniform(-15, 15), pitch=rng.uniform(-10, 10), roll=rng.uniform(-10, 10))
                gaze = (rng.uniform(-0.1, 0.1), rng.uniform(-0.06, 0.06))
                img, truth = r.render(**pose, gaze=gaze, blink=blink, expression=amounts, frame_size=(224, 224),
                                      face_width=0.45, center=(0.5, 0.55), background=int(rng.integers(2**31)))
                crop = align_face(img, (truth["eye_left_x"], truth["eye_left_y"]),
                                  (truth["eye_right_x"], truth["eye_right_y"]), size=size)
                name = f"{c}_{i:04d}.png"
                cv2.imwrite(str(folder / name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                rows.append({"path": f"{split}/{c}/{name}", "split": split, "label": c, "photo": photo,
                             **{k: float(v) for k, v in pose.items()}, "blink": float(blink),
                             **{f"expr_{k}": float(v) for k, v in amounts.items()}})
    pd.DataFrame(rows).to_csv(out / "labels.csv", index=False)
    (out / "README.txt").write_text(
        "SYNTHETIC DATA - not patients. Aligned face crops rendered by cdr.synth.expressions from the public\n"
        f"photographs {list(photos)}; the class of each image is the expression that was planted (labels.csv).\n")
    tmp = manifest.with_suffix(".json.part")
    tmp.write_text(json.dumps({"synthetic": True, "note": "SYNTHETIC expression crops rendered from public "
                               "photographs; labels are the planted expression classes.", "args": args,
                               "real_identities": list(photos), "counts": {"train": n_train * len(classes),
                               "test": n_test * len(classes)}}, indent=2))
    os.replace(tmp, manifest)
    return out
