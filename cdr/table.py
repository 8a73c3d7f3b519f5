"""Many recordings -> one feature table: parallel, cached, resumable, locked.

Layout of an output folder ``OUT``::

    OUT/features.parquet, OUT/features.csv   one row per recording (and #flip twins)
    OUT/failures.csv                         video_id, stage, error
    OUT/tracks/<video_id>.parquet            with keep_tracks
    OUT/cache/<video_id>.parquet             finished rows, one file per recording
    OUT/extract.log                          warnings, one line each
    OUT/.lock                                held while a run writes

A ``dataset.json`` or ``cohort.json`` at the top of the input folder (its
``synthetic`` flag and ``note``) travels in ``features.parquet``'s metadata
(:mod:`cdr.provenance`).

Every file is written to a temporary name and renamed into place, so a run
killed at any moment leaves only whole files; the next run skips recordings
whose cache entry matches the file and the options, and redoes the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import __version__, io, provenance
from .errors import CdrError
from .extract import RecordingError, extract_rows
from .outdir import atomic_write, output_lock
from .parallel import quiet_worker_restarts

FAILURE_COLUMNS = ["video_id", "stage", "error"]


@dataclass
class ExtractSummary:
    """What a folder run did."""

    n_inputs: int
    n_done: int
    n_cached: int
    failures: pd.DataFrame
    table_path: Path
    seconds: float
    media_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every input was processed or recorded, and at least one was processed."""
        return self.n_done + self.n_cached > 0


def options_key(*, scn: str | None, augment: tuple[str, ...], width: int | None, stride: int) -> str:
    """A digest of everything that changes a recording's features."""
    h = hashlib.sha256()
    if scn:
        model = Path(scn) / "model.pt" if Path(scn).is_dir() else Path(scn)
        h.update(model.read_bytes() if model.exists() else str(scn).encode())
    h.update(json.dumps([__version__, sorted(augment), width, stride]).encode())
    return h.hexdigest()[:16]


def _file_key(path: Path) -> str:
    try:
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "unreadable"


def _cache_path(out: Path, video_id: str, kind: str = "cache") -> Path:
    return out / kind / f"{video_id}.parquet"


def _cached(out: Path, rec: io.Recording, key: str, keep_tracks: bool) -> pd.DataFrame | None:
    """The finished rows of a recording, or None when they are missing, stale or unreadable."""
    path = _cache_path(out, rec.video_id)
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        if (meta.get("file"), meta.get("options")) != (_file_key(rec.path), key):
            return None
        if keep_tracks and meta.get("video") and not _cache_path(out, rec.video_id, "tracks").exists():
            return None
        return pd.read_parquet(path)
    except (OSError, ValueError):
        return None  # missing, unreadable or half-written by a killed run: redo it


def _work(path: str, video_id: str, options: dict) -> tuple[str, str, object]:
    """Run in a worker: extract one recording.

    Returns ``(video_id, "ok", Extraction)`` or ``(video_id, "failed", (stage, message))``.
    """
    try:
        return video_id, "ok", extract_rows(path, video_id, **options)
    except RecordingError as exc:
        return video_id, "failed", (exc.stage, str(exc))
    except CdrError as exc:
        return video_id, "failed", ("extract", str(exc))
    except Exception as exc:  # one bad file must never end the batch
        return video_id, "failed", ("extract", f"{path}: unexpected {type(exc).__name__}: {exc}; "
                                    "please report this file's details")


def extract_folder(
    folder: str | os.PathLike,
    out: str | os.PathLike,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    scn: str | None = None,
    device: str = "auto",
    augment: tuple[str, ...] = (),
    keep_tracks: bool = False,
    width: int | None = None,
    stride: int = 1,
    progress: bool = True,
) -> ExtractSummary:
    """Extract every recording under ``folder`` into ``out`` (see the module doc for the layout).

    Parameters
    ----------
    jobs : int
        Local worker processes (joblib). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the same
        tasks then run on its workers through joblib's Dask backend.
    """
    from joblib import Parallel, delayed, parallel_config
    from tqdm.auto import tqdm

    out = Path(out)
    t0 = time.perf_counter()
    recordings = io.list_inputs(folder)
    key = options_key(scn=scn, augment=augment, width=width, stride=stride)
    options = dict(scn=str(scn) if scn else None, device=device, augment=tuple(augment), width=width, stride=stride)
    with output_lock(out, command="cdr-extract"):
        done: dict[str, pd.DataFrame] = {}
        todo: list[io.Recording] = []
        for rec in recordings:
            cached = _cached(out, rec, key, keep_tracks)
            if cached is not None:
                done[rec.video_id] = cached
            else:
                todo.append(rec)
        n_cached = len(done)
        failures: list[tuple[str, str, str]] = []
        messages: list[str] = []
        media_seconds = 0.0
        tasks = (delayed(_work)(str(r.path), r.video_id, options) for r in todo)
        client = None
        if scheduler:
            from dask.distributed import Client

            client = Client(scheduler)  # the default client, which joblib's Dask backend uses
            backend = {"backend": "dask", "wait_for_workers_timeout": 60}
        else:
            backend = {"backend": "loky", "n_jobs": max(1, jobs)}
        bar = tqdm(total=len(todo), unit="rec", disable=not progress or not todo,
                   desc="cdr-extract", dynamic_ncols=True)
        try:
            with parallel_config(**backend), quiet_worker_restarts():
                results = Parallel(return_as="generator_unordered")(tasks) if todo else []
                by_id = {r.video_id: r for r in todo}
                for vid, status, result in results:
                    if status == "ok":
                        _store(out, by_id[vid], key, result, keep_tracks)
                        done[vid] = result.rows
                        messages.extend(result.warnings)
                        media_seconds += float(result.rows["qc.duration_s"].iloc[0] or 0)
                    else:
                        failures.append((vid, *result))
                        bar.write(f"failed [{result[0]}] {result[1]}", file=sys.stderr)
                    bar.update(1)
        finally:
            bar.close()
            if client is not None:
                client.close()
        table = _assemble(done)
        note = provenance.read_note(folder)
        if note:
            table.attrs[provenance.ATTR] = note
        fails = pd.DataFrame(failures, columns=FAILURE_COLUMNS).sort_values("video_id")
        table_path = out / "features.parquet"
        atomic_write(table_path, lambda p: table.to_parquet(p))
        atomic_write(out / "features.csv", lambda p: table.to_csv(p))
        atomic_write(out / "failures.csv", lambda p: fails.to_csv(p, index=False))
        if messages:
            with open(out / "extract.log", "a", encoding="utf-8") as log:
                log.writelines(m.replace("\n", " ") + "\n" for m in messages)
    return ExtractSummary(
        n_inputs=len(recordings), n_done=len(done) - n_cached, n_cached=n_cached, failures=fails,
        table_path=table_path, seconds=time.perf_counter() - t0, media_seconds=media_seconds,
        warnings=messages,
    )


def _store(out: Path, rec: io.Recording, key: str, result, keep_tracks: bool) -> None:
    if keep_tracks and result.track is not None:
        atomic_write(_cache_path(out, rec.video_id, "tracks"), lambda p: result.track.to_parquet(p, index=False))
    path = _cache_path(out, rec.video_id)
    atomic_write(path, lambda p: result.rows.to_parquet(p))
    meta = {"file": _file_key(rec.path), "options": key, "video": result.track is not None}
    atomic_write(path.with_suffix(".json"), lambda p: p.write_text(json.dumps(meta)))


def _assemble(done: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if not done:
        return pd.DataFrame(index=pd.Index([], name="video_id"))
    table = pd.concat([done[k] for k in sorted(done)])
    table.index.name = "video_id"
    return table
