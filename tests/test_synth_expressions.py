"""Synthetic expression set: imagefolder layout, labels, identities apart from the cohort, caching."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from cdr.errors import ParameterError
from cdr.synth.cohort import CohortConfig
from cdr.synth.expressions import CLASSES, build_expression_set, class_amounts


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("expr")
    return build_expression_set(out, classes=("neutral", "happy"), n_train=8, n_test=2, appearances=2, seed=1)


def _load(folder):
    return np.stack([cv2.imread(str(p))[..., ::-1] for p in sorted(folder.glob("*.png"))]).astype(float)


def test_imagefolder_layout_and_labels(data):
    for split, n in (("train", 8), ("test", 2)):
        for c in ("neutral", "happy"):
            files = sorted((data / split / c).glob("*.png"))
            assert len(files) == n
            assert cv2.imread(str(files[0])).shape == (112, 112, 3)
    labels = pd.read_csv(data / "labels.csv")
    assert len(labels) == 20 and set(labels.label) == {"neutral", "happy"}
    assert (labels[labels.label == "happy"].expr_smile > 0.5).all()
    assert "expr_smile" not in labels or labels[labels.label == "neutral"].expr_smile.isna().all()


def test_happy_crops_differ_from_neutral_at_the_mouth(data):
    happy, neutral = _load(data / "train" / "happy"), _load(data / "train" / "neutral")
    diff = np.abs(happy.mean(0) - neutral.mean(0)).mean(2)
    mouth = diff[75:95, 30:82].mean()  # below the eyes (at 0.40 of the side), around the mouth
    forehead = diff[5:25, 30:82].mean()
    assert mouth > 1.5 * forehead


def test_identities_are_apart_from_the_cohort(data):
    meta = json.loads((data / "manifest.json").read_text())
    assert meta["synthetic"] is True and "SYNTHETIC" in (data / "README.txt").read_text()
    assert not set(meta["real_identities"]) & set(CohortConfig().photos)


def test_second_call_is_cached(data):
    stamp = (data / "manifest.json").stat().st_mtime_ns
    build_expression_set(data, classes=("neutral", "happy"), n_train=8, n_test=2, appearances=2, seed=1)
    assert (data / "manifest.json").stat().st_mtime_ns == stamp


def test_unknown_class_is_refused(tmp_path):
    assert set(CLASSES) >= {"neutral", "happy"}
    with pytest.raises(ParameterError, match="contempt"):
        class_amounts("contempt")
    with pytest.raises(ParameterError):
        build_expression_set(tmp_path, classes=("contempt",))
