"""SCN data loaders on tiny fixtures in each exact on-disk layout, and label noise."""

import cv2
import numpy as np
import pandas as pd
import pytest

from cdr.errors import InputError, ParameterError
from cdr.scn.data import (FERPLUS_CLASSES, RAFDB_CLASSES, ImageDataset, add_label_noise, digits_splits,
                          load_dataset, load_ferplus)


def _write_jpg(path, grey: int, size: int = 20):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.full((size, size, 3), grey, np.uint8)
    img[:, :, 0] = 255 - grey  # channel order check: blue plane differs (BGR on disk)
    cv2.imwrite(str(path), img)


def test_rafdb_basic_layout(tmp_path):
    rows = [("train_00001.jpg", 5, 40), ("train_00002.jpg", 1, 80), ("test_0001.jpg", 7, 120),
            ("train_00003.jpg", 4, 160), ("test_0002.jpg", 2, 200)]
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text(
        "\n".join(f"{n} {lab}" for n, lab, _ in rows) + "\n")
    for n, _, grey in rows:
        _write_jpg(tmp_path / "Image" / "aligned" / n.replace(".jpg", "_aligned.jpg"), grey)
    d = load_dataset(tmp_path, "rafdb")
    assert d.classes == RAFDB_CLASSES
    assert d.train.labels.tolist() == [4, 0, 3] and d.test.labels.tolist() == [6, 1]
    assert [p.name for p in d.test.images] == ["test_0001_aligned.jpg", "test_0002_aligned.jpg"]
    img, idx = ImageDataset(d.train, 32)[1]
    assert img.shape == (3, 32, 32) and idx == 1
    # RGB order: G = 80, B = 255 - 80 (JPEG is lossy; solid colours survive within a few levels)
    assert abs(int(img[1].float().mean()) - 80) <= 3 and abs(int(img[2].float().mean()) - 175) <= 3


def test_rafdb_missing_image_names_the_file(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 3\n")
    with pytest.raises(InputError, match="train_00001_aligned.jpg"):
        load_dataset(tmp_path, "rafdb")
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 9\n")
    with pytest.raises(InputError, match="list_patition_label.txt:1"):
        load_dataset(tmp_path, "rafdb")


def test_ferplus_majority_vote(tmp_path):
    votes = [  # neutral happiness surprise sadness anger disgust fear contempt unknown NF
        [0, 8, 1, 1, 0, 0, 0, 0, 0, 0],  # clear happiness
        [1, 1, 1, 4, 1, 1, 1, 0, 0, 0],  # single votes dropped as outliers -> sadness 4 of 4
        [5, 5, 0, 0, 0, 0, 0, 0, 0, 0],  # tie: no majority -> left out
        [2, 0, 0, 0, 0, 0, 0, 0, 8, 0],  # unknown wins -> left out
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face -> left out
        [0, 0, 0, 0, 0, 0, 6, 0, 2, 2],  # fear 6 of 10 -> fear (val)
        [0, 0, 0, 0, 0, 0, 0, 7, 3, 0],  # contempt (test)
    ]
    usage = ["Training", "Training", "Training", "Training", "Training", "PublicTest", "PrivateTest"]
    pixels = [" ".join(str((10 * i + j) % 256) for j in range(48 * 48)) for i in range(len(votes))]
    pd.DataFrame({"emotion": 0, "pixels": pixels, "Usage": usage}).to_csv(tmp_path / "fer2013.csv", index=False)
    new = pd.DataFrame(votes, columns=FERPLUS_CLASSES + ["unknown", "NF"])
    new.insert(0, "Image name", [f"fer{i:07d}.png" for i in range(len(votes))])
    new.insert(0, "Usage", usage)
    new.to_csv(tmp_path / "fer2013new.csv", index=False)
    d = load_ferplus(tmp_path)
    assert d.classes == FERPLUS_CLASSES
    assert d.train.labels.tolist() == [1, 3]
    assert d.val.labels.tolist() == [6] and d.test.labels.tolist() == [7]
    # second kept training image is CSV row 1: pixel j = (10 + j) % 256, grey replicated to RGB
    assert d.train.images.shape == (2, 48, 48, 3)
    assert d.train.images[1, 0, :5, 2].tolist() == [10, 11, 12, 13, 14]


def test_imagefolder_layout(tmp_path):
    for split, cls, n in [("train", "calm", 3), ("train", "happy", 2), ("test", "calm", 1), ("test", "happy", 1),
                          ("val", "happy", 2)]:
        for i in range(n):
            _write_jpg(tmp_path / split / cls / f"{i}.jpg", 30 * i)
    (tmp_path / "train" / "calm" / "notes.txt").write_text("not an image")
    d = load_dataset(tmp_path, "imagefolder")
    assert d.classes == ["calm", "happy"]
    assert d.train.labels.tolist() == [0, 0, 0, 1, 1]
    assert d.test.labels.tolist() == [0, 1] and d.val.labels.tolist() == [1, 1]
    _write_jpg(tmp_path / "test" / "angry" / "0.jpg", 0)
    with pytest.raises(InputError, match="angry"):
        load_dataset(tmp_path, "imagefolder")


def test_unknown_format_refused(tmp_path):
    with pytest.raises(ParameterError, match="format='affectnet'"):
        load_dataset(tmp_path, "affectnet")


def test_label_noise_exact_count_per_class_and_seeded():
    labels = np.repeat(np.arange(4), [10, 20, 7, 33])
    noisy, flipped = add_label_noise(labels, 0.3, 4, seed=5)
    for c, n in enumerate([10, 20, 7, 33]):
        assert flipped[labels == c].sum() == int(np.floor(0.3 * n + 0.5))  # 3, 6, 2, 10
    assert flipped.sum() == 21
    assert (noisy[flipped] != labels[flipped]).all() and (noisy[~flipped] == labels[~flipped]).all()
    assert set(np.unique(noisy)) <= {0, 1, 2, 3}
    again, _ = add_label_noise(labels, 0.3, 4, seed=5)
    other, _ = add_label_noise(labels, 0.3, 4, seed=6)
    assert (again == noisy).all() and not (other == noisy).all()


@pytest.mark.parametrize("bad", [-0.1, 1.0, 30])
def test_label_noise_bad_share(bad):
    with pytest.raises(ParameterError, match=f"noise={bad}"):
        add_label_noise(np.array([0, 1]), bad, 2)


def test_digits_are_real_upscaled_and_split_fixed():
    d = digits_splits(image_size=32)
    assert (len(d.train), len(d.test)) == (1257, 540)
    assert d.train.images.shape == (1257, 32, 32, 3) and d.train.images.dtype == np.uint8
    share = np.bincount(d.test.labels) / (np.bincount(d.test.labels) + np.bincount(d.train.labels))
    assert np.allclose(share, 0.3, atol=0.01)  # stratified
    assert (digits_splits(image_size=32).test.labels == d.test.labels).all()
