"""Many recordings -> one feature table: parallel, cached, resumable, locked.

Layout of an output folder ``OUT``::

    OUT/features.parquet, OUT/features.csv   one row per recording (and #flip twins)
    OUT/failures.csv                         video_id, stage, error
    OUT/tracks/<video_id>.parquet            with keep_tracks
    OUT/turns/<video_id>.rttm                with keep_tracks: the speaker turns used
    OUT/cache/<video_id>.parquet             finished rows, one file per recording
    OUT/extract.log                          warnings of the recordings in the table, one line each
    OUT/.lock                                held while a run writes

A ``dataset.json`` or ``cohort.json`` at the top of the input folder (its
``synthetic`` flag and ``note``) travels in ``features.parquet``'s metadata
(:mod:`cdr.provenance`).

Every file is written to a temporary name and renamed into place, so a run
killed at any moment leaves only whole files; the next run removes the
temporary files left behind, skips recordings whose cache entry matches the
file and the options (their warnings are kept in the entry), and redoes the
rest. A file whose content would not change is not rewritten.

Two files that would share one ``video_id`` (``p01.mp4`` beside ``p01.wav``) are
both refused, each with a line in ``failures.csv`` that says how to rename.
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
from .options import extraction_options
from .outdir import atomic_write, output_lock
from .parallel import ignore_interrupts, quiet_worker_restarts

FAILURE_COLUMNS = ["video_id", "stage", "error"]
CONNECT_TIMEOUT_S = 10.0
"""How long ``--scheduler`` waits for the scheduler to answer."""
WORKER_TIMEOUT_S = 60.0
"""How long ``--scheduler`` waits for the scheduler's first worker."""


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
    #: One line when the recordings come from different cameras (frame rates or sizes), else None.
    cameras: str | None = None

    @property
    def ok(self) -> bool:
        """Every input was processed or recorded, and at least one was processed."""
        return self.n_done + self.n_cached > 0


def options_key(*, scn: str | None, augment: tuple[str, ...], width: int | None, stride: int,
                face: str = "auto") -> str:
    """A digest of everything that changes a recording's features."""
    h = hashlib.sha256()
    if scn:
        model = Path(scn) / "model.pt" if Path(scn).is_dir() else Path(scn)
        h.update(model.read_bytes() if model.exists() else str(scn).encode())
    h.update(json.dumps([__version__, sorted(augment), width, stride] + ([face] if face != "auto" else [])).encode())
    return h.hexdigest()[:16]


def _file_key(path: Path) -> str:
    try:
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "unreadable"


def _cache_path(out: Path, video_id: str, kind: str = "cache") -> Path:
    return out / kind / f"{video_id}.parquet"


def _turns_file(turns_dir: Path | None, video_id: str) -> Path | None:
    """The user's ``<video_id>.rttm`` in ``turns_dir``, if there is one."""
    if turns_dir is None:
        return None
    path = turns_dir / f"{video_id}.rttm"
    return path if path.is_file() else None


def _turns_key(path: Path | None) -> str | None:
    return None if path is None else _file_key(path)


def _cached(out: Path, rec: io.Recording, key: str, keep_tracks: bool,
            turns_file: Path | None = None) -> tuple[pd.DataFrame, list[str]] | None:
    """The finished rows of a recording and its warnings, or None when missing, stale or unreadable."""
    path = _cache_path(out, rec.video_id)
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        if (meta.get("file"), meta.get("options"), meta.get("turns")) != (
                _file_key(rec.path), key, _turns_key(turns_file)):
            return None
        if keep_tracks and meta.get("video") and not _cache_path(out, rec.video_id, "tracks").exists():
            return None
        if keep_tracks and meta.get("has_turns") and not (out / "turns" / f"{rec.video_id}.rttm").exists():
            return None
        return pd.read_parquet(path), [str(w) for w in meta.get("warnings", [])]
    except (OSError, ValueError):
        return None  # missing, unreadable or half-written by a killed run: redo it


def split_collisions(recordings: list[io.Recording]) -> tuple[list[io.Recording], list[tuple[str, str, str]]]:
    """Set apart the files that would share a ``video_id``.

    Returns
    -------
    unique : list of Recording
        The recordings whose ``video_id`` is theirs alone, in the given order.
    refused : list of (video_id, stage, error)
        One ``failures.csv`` line per colliding file, naming the others and how to rename.
    """
    by_id: dict[str, list[io.Recording]] = {}
    for rec in recordings:
        by_id.setdefault(rec.video_id, []).append(rec)
    unique = [r for r in recordings if len(by_id[r.video_id]) == 1]
    refused = []
    for vid, recs in by_id.items():
        if len(recs) < 2:
            continue
        names = sorted(r.path.name for r in recs)
        for r in sorted(recs, key=lambda r: r.path.name):
            ext = r.path.suffix.lower().lstrip(".")
            refused.append((vid, "input", f"{r.path}: {' and '.join(names)} would share the video_id "
                            f"'{vid}', so neither is extracted; rename one (e.g. {r.path.stem}_{ext}"
                            f"{r.path.suffix}) and rerun"))
    return unique, refused


def _connect(scheduler: str, worker_timeout_s: float):
    """A Dask client on ``scheduler`` with at least one worker, or one CdrError line."""
    from dask.distributed import Client

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # OSError, TimeoutError, ValueError for a malformed address
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise CdrError(f"--scheduler {scheduler}: no Dask scheduler answered within {CONNECT_TIMEOUT_S:g} s "
                       f"({reason}); start one with 'dask scheduler', or check the address") from None
    try:
        client.wait_for_workers(1, timeout=worker_timeout_s)
    except Exception:  # TimeoutError, or the scheduler went away
        client.close()
        raise CdrError(f"--scheduler {scheduler}: the scheduler has no worker (waited {worker_timeout_s:g} s); "
                       f"start workers with 'dask worker {scheduler}' on machines that see the input folder") from None
    return client


def _work(path: str, video_id: str, options: dict, turns: str | None = None) -> tuple[str, str, object]:
    """Run in a worker: extract one recording.

    Returns ``(video_id, "ok", Extraction)`` or ``(video_id, "failed", (stage, message))``.
    """
    try:
        t0 = time.perf_counter()
        result = extract_rows(path, video_id, turns=turns, **options)
        result.seconds = time.perf_counter() - t0
        return video_id, "ok", result
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
    face: str = "auto",
    progress: bool = True,
    worker_timeout_s: float = WORKER_TIMEOUT_S,
    turns: str | os.PathLike | None = None,
) -> ExtractSummary:
    """Extract every recording under ``folder`` into ``out`` (see the module doc for the layout).

    Parameters
    ----------
    jobs : int
        Local worker processes (joblib). Ignored with ``scheduler``.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``); the same
        tasks then run on its workers through joblib's Dask backend. A scheduler
        that does not answer within :data:`CONNECT_TIMEOUT_S`, or has no worker
        within ``worker_timeout_s``, is refused with one line.

    Raises
    ------
    CdrError
        The output folder is locked or unusable, or the scheduler is unusable.
    DiskFullError
        A file did not fit on the disk; the recordings finished before are kept.
    turns : path-like, optional
        Folder of the user's ``<video_id>.rttm`` turns files; a recording with a file
        there uses it instead of the automatic turns.
    """
    from joblib import Parallel, delayed, parallel_config
    from tqdm.auto import tqdm

    out = Path(out)
    t0 = time.perf_counter()
    turns_dir = Path(turns) if turns is not None else None
    if turns_dir is not None and not turns_dir.is_dir():
        raise CdrError(f"--turns {turns_dir}: is not a folder; give the folder of <video_id>.rttm files")
    recordings = io.list_inputs(folder)
    if not recordings:
        return ExtractSummary(0, 0, 0, pd.DataFrame(columns=FAILURE_COLUMNS), out / "features.parquet", 0.0)
    unique, refused = split_collisions(recordings)
    turns_files = {r.video_id: _turns_file(turns_dir, r.video_id) for r in recordings}
    key = options_key(scn=scn, augment=augment, width=width, stride=stride, face=face)
    options = dict(scn=str(scn) if scn else None, device=device, augment=tuple(augment), width=width, stride=stride,
                   face=face)
    with output_lock(out, command="cdr-extract"):
        done: dict[str, pd.DataFrame] = {}
        logged: dict[str, list[str]] = {}
        todo: list[io.Recording] = []
        for rec in unique:
            cached = _cached(out, rec, key, keep_tracks, turns_files[rec.video_id])
            if cached is not None:
                done[rec.video_id], logged[rec.video_id] = cached
            else:
                todo.append(rec)
        n_cached = len(done)
        failures: list[tuple[str, str, str]] = list(refused)
        for _, _, error in refused:
            print(f"failed [input] {error}", file=sys.stderr)
        messages: list[str] = []
        media_seconds = 0.0
        tasks = (delayed(_work)(str(r.path), r.video_id, options,
                                str(turns_files[r.video_id]) if turns_files[r.video_id] else None) for r in todo)
        client = None
        if scheduler:
            client = _connect(scheduler, worker_timeout_s)  # the default client, which joblib's Dask backend uses
            backend = {"backend": "dask", "wait_for_workers_timeout": 60}
        else:
            backend = {"backend": "loky", "n_jobs": max(1, jobs), "initializer": ignore_interrupts}
        # Quiet unless stderr is a terminal (disable=None), so logs and pipes stay clean.
        bar = tqdm(total=len(todo), unit="rec", disable=None if progress and todo else True,
                   desc="cdr-extract", dynamic_ncols=True)
        try:
            with parallel_config(**backend), quiet_worker_restarts():
                results = Parallel(return_as="generator_unordered")(tasks) if todo else (r for r in ())
                by_id = {r.video_id: r for r in todo}
                try:
                    for vid, status, result in results:
                        if status == "ok":
                            _store(out, by_id[vid], key, result, keep_tracks, turns_files[vid])
                            done[vid] = result.rows
                            logged[vid] = result.warnings
                            messages.extend(result.warnings)
                            media = float(result.rows["qc.duration_s"].iloc[0])
                            media_seconds += media if media == media else 0.0  # NaN: a length unknown
                            if not bar.disable:
                                bar.write(_rate_line(vid, media, result.seconds), file=sys.stderr)
                                bar.set_postfix_str(f"{media_seconds / (time.perf_counter() - t0):.1f}x real time")
                        else:
                            failures.append((vid, *result))
                            bar.write(f"failed [{result[0]}] {result[1]}", file=sys.stderr)
                        bar.update(1)
                finally:
                    results.close()  # on an error, cancels the pending tasks here, under the warning filter
        finally:
            bar.close()
            if client is not None:
                client.close()
        table = _assemble(done)
        note = provenance.read_note(folder)
        if note:
            table.attrs[provenance.ATTR] = note
        cameras = mixed_cameras(table)
        if cameras:
            messages.append(cameras)
        fails = pd.DataFrame(failures, columns=FAILURE_COLUMNS).sort_values("video_id", kind="stable")
        table_path = out / "features.parquet"
        atomic_write(table_path, table.to_parquet())
        atomic_write(out / "features.csv", table.to_csv().encode())
        atomic_write(out / "failures.csv", fails.to_csv(index=False).encode())
        options = dict(extraction_options(scn=scn, width=width, stride=stride, face=face),
                       augment=sorted(augment))
        atomic_write(out / "extraction.json", (json.dumps(options, indent=2) + "\n").encode())
        log = "".join(m.replace("\n", " ") + "\n" for vid in sorted(done) for m in logged.get(vid, []))
        if cameras:
            log += cameras + "\n"
        if log or (out / "extract.log").exists():
            atomic_write(out / "extract.log", log.encode())
    return ExtractSummary(
        n_inputs=len(recordings), n_done=len(done) - n_cached, n_cached=n_cached, failures=fails,
        table_path=table_path, seconds=time.perf_counter() - t0, media_seconds=media_seconds,
        warnings=messages, cameras=cameras,
    )


def _rate_line(video_id: str, media_s: float, seconds: float) -> str:
    """One recording's progress line: its length, the time it took and the rate."""
    if not media_s == media_s or seconds <= 0:  # NaN duration (an unreadable length)
        return f"{video_id}: done in {seconds:.0f} s"
    return f"{video_id}: {media_s / 60:.1f} min in {seconds:.0f} s ({media_s / seconds:.1f}x real time)"


def mixed_cameras(table: pd.DataFrame) -> str | None:
    """One line naming the frame rates and frame sizes of a batch's videos, if they differ.

    Counts are recordings (mirrored ``#flip`` rows are not counted again); rates
    are rounded to 0.01 fps. None when every video shares one rate and one size.
    """
    cols = ["qc.fps", "qc.width", "qc.height"]
    if table.empty or any(c not in table.columns for c in cols):
        return None
    v = table.loc[~table.index.astype(str).str.endswith("#flip"), cols].dropna()
    if v.empty:
        return None
    rates = v["qc.fps"].round(2).value_counts().sort_index()
    sizes = (v["qc.width"].astype(int).astype(str) + "x" + v["qc.height"].astype(int).astype(str)).value_counts()
    if len(rates) < 2 and len(sizes) < 2:
        return None
    rate_s = ", ".join(f"{r:g} fps x{n}" for r, n in rates.items())
    size_s = ", ".join(f"{s} x{n}" for s, n in sizes.sort_index().items())
    return (f"mixed cameras: {len(v)} videos at {len(rates)} frame rate(s) ({rate_s}) and "
            f"{len(sizes)} frame size(s) ({size_s}); check qc.fps, qc.width and qc.height "
            "against the class before trusting visual features")


def _store(out: Path, rec: io.Recording, key: str, result, keep_tracks: bool,
           turns_file: Path | None = None) -> None:
    from .speakers.rttm import format_rttm

    if keep_tracks and result.track is not None:
        atomic_write(_cache_path(out, rec.video_id, "tracks"), result.track.to_parquet(index=False))
    has_turns = result.turns is not None
    if keep_tracks and has_turns:
        atomic_write(out / "turns" / f"{rec.video_id}.rttm", format_rttm(result.turns, rec.video_id).encode())
    path = _cache_path(out, rec.video_id)
    atomic_write(path, result.rows.to_parquet())
    meta = {"file": _file_key(rec.path), "options": key, "video": result.track is not None,
            "warnings": list(result.warnings), "turns": _turns_key(turns_file), "has_turns": has_turns}
    atomic_write(path.with_suffix(".json"), json.dumps(meta).encode())


def _assemble(done: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if not done:
        return pd.DataFrame(index=pd.Index([], name="video_id"))
    table = pd.concat([done[k] for k in sorted(done)])
    table.index.name = "video_id"
    return table
