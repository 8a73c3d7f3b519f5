"""Model files: round trip, and every kind of bad file refused before any of its code runs."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.neighbors import KNeighborsClassifier

from tables import make_feature_table

from cdr.errors import ModelFileError
from cdr.model import store as modelio
from cdr.model.estimators import OrdinalClassifier, SVMClassifier
from cdr.model.tasks import make_dataset

BUILT: list[str] = []


class Payload:
    """A foreign type: building it from a file would record that code ran."""

    def __init__(self):
        BUILT.append("init")

    def __setstate__(self, state):
        BUILT.append("setstate")
        self.__dict__.update(state)


@pytest.fixture(scope="module", params=[SVMClassifier, OrdinalClassifier])
def trained(tmp_path_factory, request):
    table, labels = make_feature_table((6, 6, 4), signal={"pupil": 2.0}, seed=1)
    design = make_dataset(table, labels, "cdr3", ("pupil",))
    model = request.param().fit(design.X, design.y, groups=design.groups)
    card = {"feature_names": design.columns, "classes": list(design.task.classes),
            "groups": ["pupil"], "estimator": {"name": type(model).__name__}}
    out = tmp_path_factory.mktemp("model")
    modelio.save_model(model, out, "cdr3", card, background=design.X)
    return out, model, design


def copy_model(src, dst):
    for name in ("model_cdr3.skops", "model_cdr3.json"):
        (dst / name).write_bytes((src / name).read_bytes())
    return dst


def rewrite_card(folder, **changes):
    path = folder / "model_cdr3.json"
    card = json.loads(path.read_text())
    for key, value in changes.items():
        if callable(value):
            value(card)
        else:
            card[key] = value
    path.write_text(json.dumps(card))


def forge(folder, obj, card_extra=None):
    """Write a .skops holding ``obj`` and a card whose hash matches it."""
    data = sio.dumps(obj)
    (folder / "model_cdr3.skops").write_bytes(data)
    card = {"format": modelio.CARD_FORMAT, "versions": modelio.versions(),
            "model_sha256": hashlib.sha256(data).hexdigest(), **(card_extra or {})}
    (folder / "model_cdr3.json").write_text(json.dumps(card))


def test_round_trip_predicts_the_same(trained):
    out, model, design = trained
    loaded, card, background = modelio.load_model(out, "cdr3")
    X = design.X
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(background, design.X)
    assert card["feature_names"] == design.columns
    assert card["versions"]["scikit-learn"] == modelio.versions()["scikit-learn"]
    assert card["model_sha256"] == modelio.sha256_file(out / "model_cdr3.skops")
    assert modelio.schema_types((out / "model_cdr3.skops").read_bytes()) <= modelio.ALLOWED_TYPES


def test_truncated_file_is_refused(trained, tmp_path):
    folder = copy_model(trained[0], tmp_path)
    data = (folder / "model_cdr3.skops").read_bytes()
    (folder / "model_cdr3.skops").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"model_cdr3.skops: sha256 differs from the one in "
                                             r"model_cdr3.json; the file was truncated or edited"):
        modelio.load_model(folder, "cdr3")


def test_edited_byte_is_refused(trained, tmp_path):
    folder = copy_model(trained[0], tmp_path)
    data = bytearray((folder / "model_cdr3.skops").read_bytes())
    data[len(data) // 3] ^= 0x01
    (folder / "model_cdr3.skops").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="truncated or edited"):
        modelio.load_model(folder, "cdr3")


def test_foreign_type_is_refused_before_it_is_built(tmp_path):
    BUILT.clear()
    forge(tmp_path, {"model": Payload(), "card": {}})
    BUILT.clear()
    with pytest.raises(ModelFileError, match=r"holds types that cdr does not load: "
                                             r".*Payload; it is not a cdr model"):
        modelio.load_model(tmp_path, "cdr3")
    assert BUILT == []


def test_trusted_but_unexpected_sklearn_type_is_refused(tmp_path):
    knn = KNeighborsClassifier(n_neighbors=1).fit(np.eye(3), [0, 1, 2])
    forge(tmp_path, {"model": knn, "card": {}})
    with pytest.raises(ModelFileError, match=r"sklearn.neighbors._classification."
                                             r"KNeighborsClassifier"):
        modelio.load_model(tmp_path, "cdr3")


def test_other_scikit_learn_version_is_refused(trained, tmp_path):
    folder = copy_model(trained[0], tmp_path)
    rewrite_card(folder, versions=lambda c: c["versions"].update({"scikit-learn": "1.4.2"}))
    here = modelio.versions()["scikit-learn"]
    with pytest.raises(ModelFileError, match=rf"saved with scikit-learn 1.4.2, this is {here}; "
                                             r"models do not carry over between versions"):
        modelio.load_model(folder, "cdr3")


def test_other_card_format_is_refused(trained, tmp_path):
    folder = copy_model(trained[0], tmp_path)
    rewrite_card(folder, format="cdr-model/0")
    with pytest.raises(ModelFileError, match="card format 'cdr-model/0' is not 'cdr-model/2'"):
        modelio.load_model(folder, "cdr3")


def test_edited_card_is_refused(trained, tmp_path):
    folder = copy_model(trained[0], tmp_path)
    rewrite_card(folder, feature_names=lambda c: c["feature_names"].reverse())
    with pytest.raises(ModelFileError, match="does not match the card stored in "
                                             "model_cdr3.skops; the card was edited"):
        modelio.load_model(folder, "cdr3")
    (folder / "model_cdr3.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="model_cdr3.json: not valid JSON"):
        modelio.load_model(folder, "cdr3")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(ModelFileError, match="model_cdr3.json: not found; train a model"):
        modelio.load_model(tmp_path, "cdr3")
