"""Facial-expression data sets for the Self-Cure Network, and synthetic label noise.

Three on-disk layouts are read:

``rafdb``
    RAF-DB "basic": ``EmoLabel/list_patition_label.txt`` (lines ``train_00001.jpg 5``,
    labels 1-7) and ``Image/aligned/train_00001_aligned.jpg``.
``ferplus``
    ``fer2013.csv`` (``emotion,pixels,Usage``) and ``fer2013new.csv`` (FERPlus votes),
    labelled by majority vote as in Microsoft's FERPlus reference code.
``imagefolder``
    ``train/<class>/*``, ``test/<class>/*`` and optionally ``val/<class>/*``.

A loader returns :class:`DataSplits`; :class:`ImageDataset` turns one split into
``(uint8 image [3, S, S], index)`` items. Labels are deliberately not part of the
items: the trainer looks them up in its own label table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from cdr.errors import InputError, ParameterError
from cdr.scn.config import FORMATS  # defined without torch, for --help

RAFDB_CLASSES = ["surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"]
FERPLUS_CLASSES = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt"]
_FERPLUS_VOTES = FERPLUS_CLASSES + ["unknown", "NF"]
_IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass
class Split:
    """One split: images (paths, or an array [N, H, W, 3] uint8 RGB) and labels [N] (class indices)."""

    images: list[Path] | np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class DataSplits:
    """A data set: class names, train and test splits, an optional validation split."""

    classes: list[str]
    train: Split
    test: Split
    val: Split | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)


def read_rgb(path: Path) -> np.ndarray:
    """Read an image file as uint8 RGB [H, W, 3]; InputError naming the file if unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"{path}: not a readable image; remove it or replace it")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize an RGB (or grey, replicated to RGB) image to [size, size, 3] uint8."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.shape[0] != size or rgb.shape[1] != size:
        shrink = rgb.shape[0] > size
        rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb)


class ImageDataset(Dataset):
    """A split as ``(image uint8 [3, S, S], index)`` items, resized on the fly."""

    def __init__(self, split: Split, image_size: int) -> None:
        self.split = split
        self.image_size = int(image_size)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        item = self.split.images[i]
        rgb = item if isinstance(item, np.ndarray) else read_rgb(item)
        rgb = resize_square(rgb, self.image_size)
        return torch.from_numpy(rgb).permute(2, 0, 1), i


def load_rafdb(root: Path) -> DataSplits:
    """RAF-DB basic: ``EmoLabel/list_patition_label.txt`` + ``Image/aligned/*_aligned.jpg``."""
    root = Path(root)
    lst = root / "EmoLabel" / "list_patition_label.txt"
    if not lst.is_file():
        raise InputError(f"{lst}: missing; pass the RAF-DB 'basic' folder (holding EmoLabel/ and Image/)")
    parts: dict[str, tuple[list[Path], list[int]]] = {"train": ([], []), "test": ([], [])}
    missing = []
    for n, line in enumerate(lst.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].isdigit() or not 1 <= int(fields[1]) <= 7:
            raise InputError(f"{lst}:{n}: expected '<name>.jpg <label 1-7>', got {line!r}")
        name, label = fields[0], int(fields[1])
        kind = name.split("_")[0]
        if kind not in parts:
            raise InputError(f"{lst}:{n}: image {name!r} is neither train_* nor test_*")
        path = root / "Image" / "aligned" / f"{Path(name).stem}_aligned{Path(name).suffix}"
        if not path.is_file():
            missing.append(path)
        parts[kind][0].append(path)
        parts[kind][1].append(label - 1)
    if missing:
        raise InputError(f"{missing[0]}: missing ({len(missing)} aligned images in all); unpack Image/aligned")
    tr, te = parts["train"], parts["test"]
    return DataSplits(RAFDB_CLASSES, Split(tr[0], np.array(tr[1], np.int64)),
                      Split(te[0], np.array(te[1], np.int64)), source="rafdb")


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """FERPlus majority label per row, or -1 where there is none.

    Follows Microsoft's FERPlus reference code (``_process_data``, mode "majority"):
    single votes are dropped as outliers; the top class must hold more than half of the
    remaining votes; rows whose winner is "unknown" or "NF" (not a face) are left out.

    Parameters
    ----------
    votes : np.ndarray [shape=(N, 10)]
        Vote counts in the order of ``fer2013new.csv``: 8 emotions, unknown, NF.

    Returns
    -------
    labels : np.ndarray [shape=(N,), dtype=int64]
        Class index into :data:`FERPLUS_CLASSES`, or -1.
    """
    v = np.where(votes <= 1, 0, votes).astype(float)
    total = v.sum(axis=1)
    top = v.argmax(axis=1)
    ok = (v.max(axis=1) > 0.5 * total) & (top < len(FERPLUS_CLASSES))
    return np.where(ok, top, -1).astype(np.int64)


def load_ferplus(root: Path) -> DataSplits:
    """FERPlus: ``fer2013.csv`` images with ``fer2013new.csv`` majority-vote labels.

    ``Usage`` Training / PublicTest / PrivateTest become train / val / test.
    """
    root = Path(root)
    old_p, new_p = root / "fer2013.csv", root / "fer2013new.csv"
    for p in (old_p, new_p):
        if not p.is_file():
            raise InputError(f"{p}: missing; the FERPlus folder needs fer2013.csv and fer2013new.csv")
    old, new = pd.read_csv(old_p), pd.read_csv(new_p)
    for p, df, cols in ((old_p, old, ["pixels", "Usage"]), (new_p, new, ["Usage", "Image name", *_FERPLUS_VOTES])):
        lacking = [c for c in cols if c not in df.columns]
        if lacking:
            raise InputError(f"{p}: lacks columns {lacking}")
    if len(old) != len(new) or not (old["Usage"].to_numpy() == new["Usage"].to_numpy()).all():
        raise InputError(f"{new_p}: rows do not line up with {old_p} (FERPlus is row-aligned with FER2013)")
    labels = ferplus_majority(new[_FERPLUS_VOTES].to_numpy())
    labels[new["Image name"].isna().to_numpy()] = -1
    splits = {}
    for usage, name in (("Training", "train"), ("PublicTest", "val"), ("PrivateTest", "test")):
        rows = np.flatnonzero((old["Usage"].to_numpy() == usage) & (labels >= 0))
        imgs = np.zeros((len(rows), 48, 48, 3), np.uint8)
        for j, r in enumerate(rows):
            px = np.array(old["pixels"].iat[r].split(), dtype=np.uint8)
            if px.size != 48 * 48:
                raise InputError(f"{old_p}: row {r + 2} has {px.size} pixels, expected 2304 (48x48)")
            imgs[j] = px.reshape(48, 48)[:, :, None]
        splits[name] = Split(imgs, labels[rows])
    return DataSplits(FERPLUS_CLASSES, splits["train"], splits["test"], splits["val"], source="ferplus")


def _folder_split(folder: Path, classes: list[str]) -> Split:
    paths, labels = [], []
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        if d.name not in classes:
            raise InputError(f"{d}: class {d.name!r} is not among the train classes {classes}")
        for f in sorted(d.iterdir()):
            if f.suffix.lower() in _IMAGE_EXT:
                paths.append(f)
                labels.append(classes.index(d.name))
    if not paths:
        raise InputError(f"{folder}: no images found in its class folders")
    return Split(paths, np.array(labels, np.int64))


def load_imagefolder(root: Path) -> DataSplits:
    """``train/<class>/*``, ``test/<class>/*`` and optional ``val/<class>/*``; classes from train."""
    root = Path(root)
    for sub in ("train", "test"):
        if not (root / sub).is_dir():
            raise InputError(f"{root / sub}: missing; the imagefolder layout is DATA/train/<class>/*, DATA/test/<class>/*")
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if len(classes) < 2:
        raise InputError(f"{root / 'train'}: needs at least two class folders, found {classes}")
    val = _folder_split(root / "val", classes) if (root / "val").is_dir() else None
    return DataSplits(classes, _folder_split(root / "train", classes), _folder_split(root / "test", classes),
                      val, source="imagefolder")


def load_dataset(root: Path, fmt: str) -> DataSplits:
    """Dispatch on ``fmt`` (one of :data:`FORMATS`)."""
    loaders = {"rafdb": load_rafdb, "ferplus": load_ferplus, "imagefolder": load_imagefolder}
    if fmt not in loaders:
        raise ParameterError(f"format={fmt!r} must be one of {list(FORMATS)}")
    return loaders[fmt](Path(root))


def digits_splits(*, image_size: int = 48, test_size: float = 0.3, seed: int = 0) -> DataSplits:
    """scikit-learn's ``load_digits`` (1797 real 8x8 scans), upscaled to RGB, stratified fixed split.

    Pixel values 0-16 are scaled to 0-255, upscaled bicubically to
    [image_size, image_size] and replicated to three channels.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    small = np.clip(d.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    big = np.stack([cv2.resize(im, (image_size, image_size), interpolation=cv2.INTER_CUBIC) for im in small])
    big = np.repeat(big[:, :, :, None], 3, axis=3)
    tr, te = train_test_split(np.arange(len(big)), test_size=test_size, stratify=d.target, random_state=seed)
    return DataSplits([str(c) for c in range(10)], Split(big[tr], d.target[tr].astype(np.int64)),
                      Split(big[te], d.target[te].astype(np.int64)), source="sklearn-digits")


def add_label_noise(labels: np.ndarray, share: float, num_classes: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flip ``share`` of the labels of each class to another class, uniformly at random.

    The paper's synthetic-noise protocol: for each category, round(share * n_c) of its
    samples are chosen and given one of the other K - 1 labels.

    Parameters
    ----------
    labels : np.ndarray [shape=(N,)]
        Clean class indices.
    share : float
        In [0, 1).
    num_classes : int
    seed : int

    Returns
    -------
    noisy : np.ndarray [shape=(N,), dtype=int64]
    flipped : np.ndarray [shape=(N,), dtype=bool]
        ``noisy != labels`` exactly.
    """
    if not 0.0 <= share < 1.0:
        hint = f" (did you mean {share / 100:g}?)" if 1.0 <= share < 100.0 else ""
        raise ParameterError(f"noise={share} must be a share in [0, 1){hint}")
    if num_classes < 2:
        raise ParameterError(f"num_classes={num_classes}: label noise needs at least two classes")
    labels = np.asarray(labels, np.int64)
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        k = int(np.floor(share * len(idx) + 0.5))
        chosen = rng.choice(idx, size=k, replace=False)
        noisy[chosen] = (c + rng.integers(1, num_classes, size=k)) % num_classes
    return noisy, noisy != labels
