"""Save and load trained models safely: ``model_<task>.skops``, its card, the run's manifest.

A model is written with :mod:`skops.io` (no pickle).  Beside it,
``model_<task>.json`` (the card) records the estimator, the feature groups and
names, the label map, the extraction options of the training table, the package
versions, hashes of the training data, the run id, a free-form ``dataset`` dict
(provenance) and the sha256 of the ``.skops`` file.  The card is also stored
inside the ``.skops`` file, with the training rows' feature values (the
background that :mod:`cdr.model.inference` explains predictions against).

``manifest.json`` binds every file of one cdr-train run: run id, tasks and the
sha256 of each file.  :func:`check_folder` refuses a folder whose files do not
match it (a stale model of an earlier run, a model copied in, a deleted file).

Loading refuses, with :class:`~cdr.errors.ModelFileError` and before any object
is built from the file:

* a card that is missing or not valid JSON, or of another card format;
* a model saved with another scikit-learn minor version (``1.8`` vs ``1.9``);
* a ``.skops`` file whose sha256 differs from the card's (truncated or edited);
* a file holding any type outside :data:`ALLOWED_TYPES` (read from the file's
  schema and from ``skops.io.get_untrusted_types``).

After loading, the card inside the file must equal the card beside it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import platform
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cdr.errors import ModelFileError

CARD_FORMAT = "cdr-model/2"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = "cdr-run/1"
ALLOWED_TYPES: frozenset[str] = frozenset({
    "builtins.dict", "builtins.list", "builtins.tuple", "builtins.str", "builtins.int",
    "builtins.float", "builtins.bool", "builtins.NoneType",
    "numpy.ndarray", "numpy.dtype", "numpy.float64", "numpy.float32", "numpy.int64",
    "numpy.int32", "numpy.intp", "numpy.bool_", "numpy.str_",
    "sklearn.pipeline.Pipeline",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.svm._classes.SVC",
    "cdr.model.estimators.SVMClassifier",
    "cdr.model.estimators.OrdinalClassifier",
})
"""Every type a cdr model file may hold, as ``module.qualname``."""
PACKAGES = ("scikit-learn", "skops", "numpy", "scipy", "pandas", "cdr")
_INTERNAL = ("model_file", "model_sha256")  # card fields that cannot be inside the file


def versions() -> dict[str, str]:
    """Versions of Python and of :data:`PACKAGES` in this environment."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_paths(model_dir: str | Path, task: str) -> tuple[Path, Path]:
    """``(model_<task>.skops, model_<task>.json)`` in ``model_dir``."""
    d = Path(model_dir)
    return d / f"model_{task}.skops", d / f"model_{task}.json"


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model, model_dir: str | Path, task: str, card: dict,
               background: np.ndarray | None = None) -> Path:
    """Write ``model_<task>.skops`` and its card ``model_<task>.json`` atomically.

    Parameters
    ----------
    model : estimator
        The fitted model (:mod:`cdr.model.estimators`).
    model_dir : str or Path
        Created if missing.
    task : str
        ``"cdr3"`` or ``"binary"``.
    card : dict
        JSON-serialisable facts: at least ``feature_names`` and ``classes``.
        ``format``, ``task`` and ``versions`` are added.

    Returns
    -------
    Path
        The ``.skops`` file.
    """
    skops_path, card_path = model_paths(model_dir, task)
    skops_path.parent.mkdir(parents=True, exist_ok=True)
    inner = dict(card, format=CARD_FORMAT, task=task, versions=versions())
    inner = json.loads(json.dumps(inner))  # exactly what the JSON card will hold
    import skops.io as sio  # here, not at import: cdr-predict reads cards before the models load

    data = sio.dumps({"model": model, "card": inner,
                      "background": np.empty((0, 0)) if background is None else background})
    _write_atomic(skops_path, data)
    full = dict(inner, model_file=skops_path.name,
                model_sha256=hashlib.sha256(data).hexdigest())
    _write_atomic(card_path, (json.dumps(full, indent=2) + "\n").encode())
    return skops_path


def schema_types(data: bytes) -> set[str]:
    """Every ``module.class`` named in a ``.skops`` file's schema, without loading it."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        schema = json.loads(zf.read("schema.json"))
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def read_card(model_dir: str | Path, task: str) -> dict:
    """Read and check the card of ``model_<task>``; raise ModelFileError if unusable."""
    skops_path, card_path = model_paths(model_dir, task)
    if not card_path.is_file() or not skops_path.is_file():
        missing = card_path if not card_path.is_file() else skops_path
        raise ModelFileError(f"{missing}: not found; train a model with cdr-train first")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{card_path}: not valid JSON ({exc}); the card was edited or "
                             "truncated, retrain with cdr-train") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        got = card.get("format") if isinstance(card, dict) else type(card).__name__
        raise ModelFileError(f"{card_path}: card format {got!r} is not {CARD_FORMAT!r}; "
                             "this model comes from another cdr version, retrain with cdr-train")
    saved = str(card.get("versions", {}).get("scikit-learn", "unknown"))
    here = versions()["scikit-learn"]
    if _minor(saved) != _minor(here):
        raise ModelFileError(
            f"{skops_path}: saved with scikit-learn {saved}, this is {here}; models do not "
            f"carry over between versions: retrain with cdr-train, or install "
            f"scikit-learn=={saved}")
    return card


def load_model(model_dir: str | Path, task: str) -> tuple[object, dict, np.ndarray]:
    """Load ``model_<task>.skops`` after checking its card, hash and types.

    Returns
    -------
    model : estimator
    card : dict
        The JSON card.
    background : np.ndarray [shape=(n_training_rows, n_features)]

    Raises
    ------
    ModelFileError
        See the module docstring; nothing from the file is instantiated before
        every check has passed.
    """
    import skops.io as sio

    skops_path, card_path = model_paths(model_dir, task)
    card = read_card(model_dir, task)
    data = skops_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != card.get("model_sha256"):
        raise ModelFileError(f"{skops_path}: sha256 differs from the one in {card_path.name}; "
                             "the file was truncated or edited: retrain with cdr-train")
    try:
        named = schema_types(data)
        untrusted = set(sio.get_untrusted_types(data=data))
    except Exception as exc:  # not a zip, no schema, bad JSON
        raise ModelFileError(f"{skops_path}: not a readable skops file ({exc}); "
                             "retrain with cdr-train") from None
    foreign = sorted((named | untrusted) - ALLOWED_TYPES)
    if foreign:
        raise ModelFileError(f"{skops_path}: holds types that cdr does not load: "
                             f"{', '.join(foreign)}; it is not a cdr model, refusing it")
    try:
        obj = sio.loads(data, trusted=sorted(untrusted))
    except Exception as exc:
        raise ModelFileError(f"{skops_path}: cannot be loaded ({exc}); retrain with "
                             "cdr-train") from None
    expected = {k: v for k, v in card.items() if k not in _INTERNAL}
    if not isinstance(obj, dict) or not hasattr(obj.get("model"), "predict_proba"):
        raise ModelFileError(f"{skops_path}: does not hold a cdr model; retrain with cdr-train")
    if obj.get("card") != expected:
        raise ModelFileError(f"{card_path}: does not match the card stored in "
                             f"{skops_path.name}; the card was edited: retrain with cdr-train")
    return obj["model"], card, obj.get("background")


def write_manifest(model_dir: str | Path, run_id: str, tasks: list[str]) -> Path:
    """Write ``manifest.json``: the run id, tasks and the sha256 of every file of the run."""
    d = Path(model_dir)
    files = {p.name: sha256_file(p) for p in sorted(d.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.name != MANIFEST}
    body = {"format": MANIFEST_FORMAT, "run_id": run_id, "tasks": list(tasks), "files": files}
    path = d / MANIFEST
    _write_atomic(path, (json.dumps(body, indent=2) + "\n").encode())
    return path


def peek_extraction(model_dir: str | Path) -> dict | None:
    """The extraction options on the folder's first card, read without any check (None if unreadable).

    For work that may start early; :func:`check_folder` and :func:`load_model` decide later
    whether the folder is usable, and the options must then be read again from the checked card.
    """
    try:
        d = Path(model_dir)
        task = json.loads((d / MANIFEST).read_text(encoding="utf-8"))["tasks"][0]
        options = json.loads((d / f"model_{task}.json").read_text(encoding="utf-8")).get("extraction")
    except Exception:  # noqa: BLE001 - any fault is for check_folder to name
        return None
    return options if isinstance(options, dict) else None


def check_folder(model_dir: str | Path) -> dict:
    """Check that a model folder holds exactly one cdr-train run; return its manifest.

    Every model file of the run must be there; other files of the run (report,
    metrics) may be left out, as when the models are copied elsewhere, but
    must match when present.

    Raises
    ------
    ModelFileError
        In one line: no manifest, a file of the run missing or changed, a model
        file that is not part of the run, or a card of another run.
    """
    d = Path(model_dir)
    path = d / MANIFEST
    if not d.is_dir():
        raise ModelFileError(f"{d}: not a folder; pass the MODEL_DIR written by cdr-train")
    models = sorted(p.name for p in d.glob("model_*"))
    if not path.is_file():
        if models:
            raise ModelFileError(f"{d}: has model files but no {MANIFEST}, so they cannot be "
                                 "told apart from leftovers of other runs; retrain into this "
                                 "folder with cdr-train")
        raise ModelFileError(f"{d}: holds no model; train one with cdr-train first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files, run_id = dict(manifest["files"]), str(manifest["run_id"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable ({exc}); retrain with cdr-train") from None
    for name, digest in files.items():
        if not (d / name).is_file() and not name.startswith("model_"):
            continue  # a report or table left behind when the models were copied elsewhere
        if not (d / name).is_file():
            raise ModelFileError(f"{d / name}: missing, but part of run {run_id}; the folder "
                                 "is incomplete: retrain with cdr-train")
        if sha256_file(d / name) != digest:
            raise ModelFileError(f"{d / name}: changed since run {run_id} wrote it (sha256 "
                                 "differs from manifest.json); retrain with cdr-train")
    stray = [m for m in models if m not in files]
    if stray:
        raise ModelFileError(f"{d}: {', '.join(stray)} not part of run {run_id} "
                             f"({MANIFEST}); a model folder holds one training: remove them "
                             "or retrain")
    for task in manifest.get("tasks", []):
        card = json.loads((d / f"model_{task}.json").read_text(encoding="utf-8"))
        if card.get("run_id") != run_id or card.get("task") != task:
            raise ModelFileError(f"{d / f'model_{task}.json'}: card of task "
                                 f"{card.get('task')!r}, run {card.get('run_id')!r}, where "
                                 f"{MANIFEST} expects task {task!r} of run {run_id}; retrain")
    return manifest
