"""The extraction options that change a recording's features (shared by cdr-extract and cdr-predict)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from . import __version__


def extraction_options(*, scn: str | None, width: int | None, stride: int,
                       face: str = "auto") -> dict:
    """The options recorded in ``OUT/extraction.json`` by cdr-extract.

    cdr-train copies them into the model card; cdr-predict extracts with the same
    ``width``, ``stride`` and ``face`` and refuses another SCN checkpoint or cdr version.
    """
    scn_sha = None
    if scn:
        model = Path(scn) / "model.pt" if Path(scn).is_dir() else Path(scn)
        scn_sha = hashlib.sha256(model.read_bytes()).hexdigest() if model.exists() else str(scn)
    return {"cdr_version": __version__, "width": width, "stride": stride, "face": face,
            "scn_sha256": scn_sha}


def predict_options(trained: dict | None, scn: str | None) -> dict:
    """:func:`extraction_options` for cdr-predict: ``width``, ``stride`` and ``face`` as the model was trained."""
    trained = trained or {}
    return extraction_options(scn=scn, width=trained.get("width"), stride=trained.get("stride") or 1,
                              face=trained.get("face") or "auto")
