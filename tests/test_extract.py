"""cdr-extract end to end: the table, tracks, failures, augmentation, cache, lock, Dask, kill -9."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdr.cli.extract import main as extract_main
from cdr.errors import CdrError
from cdr.extract import extract_recording, feature_names
from cdr.synth.video import render_face_video
from cdr.outdir import output_lock
from cdr.table import extract_folder

TRACK_CONTRACT = ["t", "face", "yaw", "pitch", "roll",
                  "pupil_left_x", "pupil_left_y", "pupil_right_x", "pupil_right_y"]


def _clip(path: Path, seconds: float = 3.0, fps: int = 25, audio=None, seed: int = 0) -> None:
    t = np.arange(int(seconds * fps)) / fps
    sched = pd.DataFrame({"yaw": 12 * np.sin(2 * np.pi * 0.7 * t + seed), "pitch": 4 * np.sin(3 * t),
                          "gaze_x": 0.1 * np.sin(2 * np.pi * 2 * t)})
    render_face_video(path, sched, fps=fps, frame_size=(320, 240), audio=audio, background=seed)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, arctic_audio):
    """Two face videos (one with speech), an audio-only file, and bad inputs."""
    root = tmp_path_factory.mktemp("recordings")
    arctic = arctic_audio[0]
    speech = np.r_[np.zeros(4000, np.float32), arctic]
    _clip(root / "p01.mp4", audio=speech)
    (root / "site b").mkdir()
    _clip(root / "site b" / "p02 'ü'.mp4", seed=1)
    import soundfile as sf

    sf.write(root / "p03.wav", arctic, 16000)
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("not a video\n")
    (root / "folder.mp4").mkdir()
    for p in root.rglob("*.truth.parquet"):
        p.unlink()
    return root


@pytest.fixture(scope="module")
def extracted(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    code = extract_main([str(folder), "-o", str(out), "--keep-tracks", "--augment", "flip", "--quiet"])
    return out, code


def test_table_rows_columns_and_qc(extracted):
    out, code = extracted
    assert code == 0
    table = pd.read_parquet(out / "features.parquet")
    assert table.index.name == "video_id"
    assert sorted(table.index) == ["p01", "p01#flip", "p03", "site b/p02 'ü'", "site b/p02 'ü'#flip"]
    assert list(table.columns) == feature_names()
    groups = {c.split(".")[0] for c in table.columns}
    assert {"pupil", "coupling", "pose", "mfcc", "gemaps", "voice", "qc"} <= groups
    assert pd.read_csv(out / "features.csv", index_col="video_id").shape == table.shape
    p01, p02, p03 = table.loc["p01"], table.loc["site b/p02 'ü'"], table.loc["p03"]
    assert p01["qc.face_ratio"] == 1.0 and p01["qc.audio_present"] == 1 and p01["qc.speech_ratio"] > 0.5
    assert p01["qc.fps"] == 25 and p01["qc.n_frames"] == 75
    assert p01["qc.duration_s"] >= 3.0 - 0.05  # the longer of the video and audio streams
    # no audio track: speech groups NaN, never 0
    assert p02["qc.audio_present"] == 0
    assert p02.filter(regex=r"^(mfcc|gemaps|voice)\.").isna().all()
    # audio only: visual groups NaN, flagged in qc
    assert p03["qc.video_present"] == 0 and np.isnan(p03["qc.face_ratio"])
    assert p03.filter(regex=r"^(pupil|coupling|pose)\.").isna().all()
    assert p03.filter(regex=r"^gemaps\.").notna().all()
    # the head turns +-12 degrees: the pose statistics see it
    assert 5 < p01["pose.yaw_std_deg"] < 15
    # one face, never left: no switch; the pupil spectra used every 10-sample window of 3 s
    assert p01["qc.n_faces_max"] == 1 and p01["qc.face_switches"] == 0
    assert p01["qc.pupil_windows"] == (90 - 1 - 10) // 5 + 1
    assert np.isnan(p03["qc.n_faces_max"]) and np.isnan(p03["qc.pupil_windows"])


def test_mixed_cameras_are_named_in_one_line_with_counts(tmp_path, capsys):
    from cdr.table import mixed_cameras

    root = tmp_path / "in"
    root.mkdir()
    for name, fps, size in (("a", 25, (320, 240)), ("b", 25, (320, 240)), ("c", 30, (320, 180))):
        t = np.arange(int(2.0 * fps)) / fps
        render_face_video(root / f"{name}.mp4", pd.DataFrame({"yaw": 5 * np.sin(t)}), fps=fps, frame_size=size)
    for p in root.rglob("*.truth.parquet"):
        p.unlink()
    assert extract_main([str(root), "-o", str(tmp_path / "out"), "--quiet", "--face", "largest"]) == 0
    line = ("mixed cameras: 3 videos at 2 frame rate(s) (25 fps x2, 30 fps x1) and 2 frame size(s) "
            "(320x180 x1, 320x240 x2)")
    assert [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("mixed")][0].startswith(line)
    assert sum(ln.startswith(line) for ln in (tmp_path / "out" / "extract.log").read_text().splitlines()) == 1
    same = pd.DataFrame({"qc.fps": [25.0, 25.0, np.nan], "qc.width": [320, 320, np.nan],
                         "qc.height": [240, 240, np.nan]}, index=["a", "a#flip", "audio"])
    assert mixed_cameras(same) is None


def test_unknown_face_rule_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        extract_main([str(tmp_path), "-o", str(tmp_path / "o"), "--face", "middle"])
    assert "--face" in capsys.readouterr().err


def test_flip_rows_mirror_the_track(extracted):
    out, _ = extracted
    table = pd.read_parquet(out / "features.parquet")
    a, b = table.loc["p01"], table.loc["p01#flip"]
    assert b["pose.yaw_std_deg"] == pytest.approx(a["pose.yaw_std_deg"])
    assert b["pupil.left_dx_total_energy"] == pytest.approx(a["pupil.right_dx_total_energy"])
    assert b.filter(like="gemaps.").equals(a.filter(like="gemaps."))
    assert "p03#flip" not in table.index  # nothing to mirror in audio


def test_tracks_follow_the_contract(extracted):
    out, _ = extracted
    track = pd.read_parquet(out / "tracks" / "site b" / "p02 'ü'.parquet")
    assert list(track.columns[: len(TRACK_CONTRACT)]) == TRACK_CONTRACT
    assert len(track) == 75 and track["face"].all()
    assert track["t"].diff().iloc[1:].to_numpy() == pytest.approx(0.04, abs=1e-3)


def test_failures_are_recorded_one_line_each(extracted):
    out, _ = extracted
    fails = pd.read_csv(out / "failures.csv")
    assert list(fails.columns) == ["video_id", "stage", "error"]
    by_id = dict(zip(fails["video_id"], fails["error"]))
    assert set(by_id) == {"empty", "notes", "folder"}
    assert "empty (0 bytes)" in by_id["empty"] and "empty.mp4" in by_id["empty"]
    assert "not a readable media file" in by_id["notes"]
    assert "is a folder" in by_id["folder"]
    assert all("\n" not in e for e in by_id.values())


def test_rerun_skips_finished_work_and_redoes_changed_files(extracted, folder, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(extracted[0], out)
    s = extract_folder(folder, out, keep_tracks=True, augment=("flip",), progress=False)
    assert (s.n_cached, s.n_done) == (3, 0)
    # other options invalidate the cache
    s = extract_folder(folder, out, keep_tracks=True, progress=False)
    assert (s.n_cached, s.n_done) == (0, 3)
    assert "p01#flip" not in pd.read_parquet(out / "features.parquet").index


def test_a_second_run_on_the_same_output_is_refused(tmp_path, folder):
    with output_lock(tmp_path, command="cdr-extract"):
        with pytest.raises(CdrError, match="another cdr-extract is writing to this folder"):
            extract_folder(folder, tmp_path, progress=False)
        assert extract_main([str(folder), "-o", str(tmp_path), "--quiet"]) == 2
    assert not (tmp_path / "features.parquet").exists()


def test_predict_path_gives_the_same_row(extracted, folder):
    out, _ = extracted
    row = extract_recording(folder / "p01.mp4", "p01")
    table = pd.read_parquet(out / "features.parquet")
    # the extraction above also mirrored the track, which adds its own warnings
    keep = [c for c in table.columns if c != "qc.n_warnings"]
    pd.testing.assert_series_equal(row[keep], table.loc["p01", keep], check_names=False)


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "in").mkdir()
    assert extract_main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--quiet"]) == 1


@pytest.mark.slow
def test_dask_cluster_gives_the_same_table(folder, extracted, tmp_path):
    from dask.distributed import LocalCluster

    out_local, _ = extracted
    local = pd.read_parquet(out_local / "features.parquet")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        s = extract_folder(folder, tmp_path, scheduler=cluster.scheduler_address, keep_tracks=True,
                           augment=("flip",), progress=False)
    assert s.n_done == 3 and len(s.failures) == 3
    dask_table = pd.read_parquet(tmp_path / "features.parquet")
    pd.testing.assert_frame_equal(dask_table, local.loc[dask_table.index], check_exact=False, rtol=1e-6)


@pytest.mark.slow
def test_kill_9_mid_batch_then_rerun_processes_each_recording_once(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(4):
        _clip(src / f"v{i}.mp4", seed=i)
    for p in src.glob("*.truth.parquet"):
        p.unlink()
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "cdr.cli.extract", str(src), "-o", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "cache").glob("*.json")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in (out / "cache").glob("*.json")}
    assert 1 <= len(finished) < 4, "the kill should land mid-batch"
    assert not (out / "features.parquet").exists()
    # no half-written file is ever visible under its final name
    for p in (out / "cache").glob("*.parquet"):
        pd.read_parquet(p)
    s = extract_folder(src, out, progress=False)
    assert s.n_cached == len(finished) and s.n_done == 4 - len(finished)
    table = pd.read_parquet(out / "features.parquet")
    assert sorted(table.index) == [f"v{i}" for i in range(4)]
    assert not list(out.rglob("*.tmp"))


def _leak_on_second_task(i: int) -> int:
    """A worker task that makes loky's leak check fire after every worker's second task.

    loky measures a worker after its first task and replaces it once it has grown by
    more than ``_MAX_MEMORY_LEAK_SIZE``, checking at most every ``_MEMORY_LEAK_CHECK_DELAY``
    seconds. Setting both below zero in the worker makes the replacement certain,
    whatever the machine's memory does, so the test no longer hinges on loky's timing.
    """
    from joblib.externals.loky import process_executor

    process_executor._MAX_MEMORY_LEAK_SIZE = -(1 << 62)
    process_executor._MEMORY_LEAK_CHECK_DELAY = -1.0
    time.sleep(0.05)
    return os.getpid()


def test_a_replaced_worker_warns_no_one():
    from joblib import Parallel, delayed

    from cdr.parallel import quiet_worker_restarts

    def run(quiet: bool) -> tuple[set, list[str]]:
        import warnings

        from joblib import parallel_config

        # A fresh pool each time (loky reuses its workers unless a setting differs). Every
        # task is handed to the executor at once, so jobs are still waiting when a worker goes.
        with parallel_config(backend="loky", n_jobs=2, idle_worker_timeout=61 + quiet):
            pool = Parallel(batch_size=1, pre_dispatch="all")
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                with quiet_worker_restarts() if quiet else contextlib.nullcontext():
                    pids = pool(delayed(_leak_on_second_task)(i) for i in range(6))
        return set(pids), [str(w.message) for w in caught if "worker stopped" in str(w.message)]

    pids, said = run(quiet=False)
    assert len(pids) > 2 and said   # the control: loky replaced a worker, and said so
    pids, said = run(quiet=True)
    assert len(pids) > 2 and not said


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_progress_shows_each_recordings_rate_on_a_terminal_only(tmp_path, arctic_audio, monkeypatch, terminal):
    import soundfile as sf

    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "p03.wav", arctic_audio[0], arctic_audio[1])
    err = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    s = extract_folder(tmp_path / "in", tmp_path / "out", progress=True)
    assert s.n_done == 1
    lines = err.getvalue()
    if terminal:
        assert re.search(r"p03: \d+\.\d min in \d+ s \(\d+\.\dx real time\)", lines), lines
        assert "cdr-extract" in lines
    else:
        assert lines == ""


def test_the_speech_thread_has_torch_whole_before_the_tracking_thread_goes_on(tmp_path):
    """The race seen under load: scipy's array-API check met a half-imported torch.

    In a fresh process, the event that lets the tracking thread go on to the visual features
    is set only once torch is whole (``torch.Tensor`` exists), with or without a turns file.
    """
    from cdr.resources import arctic_wav

    rttm = tmp_path / "a.rttm"
    rttm.write_text("SPEAKER a 1 0.5 2.0 <NA> <NA> patient <NA> <NA>\n")
    probe = f"""
import sys, threading
from pathlib import Path
from cdr.extract import _speech

class Probe(threading.Event):
    def set(self):
        torch = sys.modules.get("torch")
        print("whole" if torch is not None and hasattr(torch, "Tensor") else "not whole")
        super().set()

for turns in (None, {str(rttm)!r}):
    event = Probe()
    _speech(Path({str(arctic_wav())!r}), turns, float("nan"), 1, event)
    assert event.is_set()
"""
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["whole", "whole"], r.stdout


@pytest.mark.parametrize("message", [
    "4 tasks which were still being processed by the workers have been cancelled. You could benefit",
    "3 tasks have been successfully executed  but not used. Additionally, 4 tasks which were still "
    "being processed by the workers have been cancelled. You could benefit",
    "3 tasks have been successfully executed  but not used. You could benefit",
])
def test_joblib_cancellation_is_hidden_in_every_wording(message):
    """joblib words its cancellation warning by how far the tasks got, so a stop may raise any of these."""
    import warnings

    from cdr.parallel import quiet_worker_restarts

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_worker_restarts():
            warnings.warn(message, UserWarning)
            warnings.warn("an unrelated warning", UserWarning)
    assert [str(w.message) for w in caught] == ["an unrelated warning"]
