"""Interruptions and resources, produced for real: signals to a real subprocess, a full tmpfs, a closed port.

Each fault ends in one line naming what happened and what to do, with no traceback,
no worker left running, the output lock released and finished work kept.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from filelock import FileLock

from cdr.errors import CdrError
from cdr.table import extract_folder

RESUME = "finished recordings are kept; rerun the same command to resume"


def _ignores_sigint(pid: int) -> bool:
    """Whether a loky worker has set SIGINT to be ignored (its SigIgn mask, from /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        if b"LokyProcess" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return False  # not a worker (the resource tracker ignores SIGINT too)
    except OSError:
        return False
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return bool(mask & (1 << (signal.SIGINT - 1)))


def _session_processes(sid: int) -> list[int]:
    """Pids of the live processes whose session id is ``sid`` (from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ppid, pgrp, session
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def batch(tmp_path_factory, arctic_audio) -> Path:
    """One silent recording (which warns) first, then eight of speech, 12 s each."""
    import soundfile as sf

    y, sr = arctic_audio
    folder = tmp_path_factory.mktemp("batch")
    sf.write(folder / "a_silent.wav", np.zeros(2 * sr, np.float32), sr)
    for i in range(8):
        sf.write(folder / f"s{i}.wav", np.tile(y, 3), sr)
    return folder


def _extract_cmd(folder: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cdr.cli.extract", str(folder), "-o", str(out), "--quiet", *extra]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_extract_stopped_by_a_signal_exits_in_one_line_and_resumes(batch, tmp_path, sig):
    out = tmp_path / "out"
    proc = subprocess.Popen(_extract_cmd(batch, out, "--jobs", "2"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    def ready() -> bool:  # a recording finished, and both workers past their start-up (they ignore Ctrl-C)
        workers = [p for p in _session_processes(proc.pid) if p != proc.pid and _ignores_sigint(p)]
        return (out / "cache" / "a_silent.json").exists() and len(workers) >= 2

    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the batch ended before the signal could be sent"
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)  # what a terminal's Ctrl-C does: the whole foreground group
    else:
        os.kill(proc.pid, sig)  # what kill, systemd or a job scheduler does: the main process
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    name = "Ctrl-C (SIGINT)" if sig == signal.SIGINT else "SIGTERM"
    assert lines == [f"cdr-extract: stopped by {name}; {RESUME}"], err
    deadline = time.monotonic() + 10
    while _session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_processes(proc.pid) == [], "a worker outlived cdr-extract"
    FileLock(str(out / ".lock")).acquire(timeout=0)  # released: a rerun may take it
    finished = sorted(p.stem for p in (out / "cache").glob("*.json"))
    assert 1 <= len(finished) < 9 and "a_silent" in finished
    assert not (out / "features.parquet").exists()

    stale = out / "cache" / ".s7.parquet.k1ll3d.tmp"  # what a kill -9 mid-write leaves
    stale.write_bytes(b"PAR1 half")
    rerun = subprocess.run(_extract_cmd(batch, out), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{9 - len(finished)} extracted, {len(finished)} already done" in rerun.stdout
    assert not list(out.rglob("*.tmp"))
    assert len(pd.read_parquet(out / "features.parquet")) == 9
    log = (out / "extract.log").read_text().splitlines()
    assert [line for line in log if line.startswith("a_silent:")], "the finished recording's warning was lost"


def test_rerun_with_nothing_changed_rewrites_nothing(batch, tmp_path):
    out = tmp_path / "out"
    small = tmp_path / "in"
    small.mkdir()
    shutil.copy(batch / "a_silent.wav", small)
    assert subprocess.run(_extract_cmd(small, out), capture_output=True).returncode == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert {p.name for p in before} >= {"features.parquet", "features.csv", "failures.csv", "extract.log",
                                        "a_silent.parquet", "a_silent.json"}
    time.sleep(0.01)
    assert subprocess.run(_extract_cmd(small, out), capture_output=True).returncode == 0
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert after == before


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_scheduler_with_nothing_listening_is_one_line(batch, tmp_path):
    port = _closed_port()
    t0 = time.monotonic()
    r = subprocess.run(_extract_cmd(batch, tmp_path / "out", "--scheduler", f"tcp://127.0.0.1:{port}"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "parallel_config" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"cdr-extract: --scheduler tcp://127.0.0.1:{port}: "
                                                   "no Dask scheduler answered within 10 s"), r.stderr
    assert time.monotonic() - t0 < 60


def test_scheduler_without_workers_is_one_line(batch, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None) as cluster:
        with pytest.raises(CdrError, match=r"the scheduler has no worker \(waited 2 s\); start workers "
                                           r"with 'dask worker tcp://127"):
            extract_folder(batch, tmp_path / "out", scheduler=cluster.scheduler_address,
                           worker_timeout_s=2, progress=False)
    FileLock(str(tmp_path / "out" / ".lock")).acquire(timeout=0)


def test_full_disk_is_one_line_and_keeps_finished_recordings(batch, tmp_path):
    """OUT on a 1 MB tmpfs: the first cache files fit, a later one does not."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is missing: no way to mount a tiny filesystem")
    out = tmp_path / "out"
    out.mkdir()
    mount = f"mount -t tmpfs -o size=1m tmpfs {shlex.quote(str(out))}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", mount], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {probe.stderr.decode().strip()}")
    cmd = shlex.join(_extract_cmd(batch, out))
    script = f"{mount} && {cmd}; echo rc=$?; ls -a {shlex.quote(str(out / 'cache'))}; df -B1 --output=avail {shlex.quote(str(out))}"
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in r.stderr, r.stderr
    assert "rc=1" in r.stdout, r.stdout + r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("cdr-extract:")]
    assert len(lines) == 1, r.stderr
    assert f"cdr-extract: {out}/" in lines[0] and "the disk is full (" in lines[0], lines[0]
    assert " needed to write this file); free some space" in lines[0] and lines[0].endswith(RESUME)
    listing = r.stdout.split("rc=1", 1)[1].split()
    finished = [n for n in listing if n.endswith(".json")]
    assert finished and all(n[:-5] + ".parquet" in listing for n in finished)  # whole pairs
    assert not [n for n in listing if n.endswith(".tmp")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_train_stopped_by_a_signal_exits_in_one_line(tmp_path, sig):
    rng = np.random.default_rng(0)
    cdr = [0.5] * 12 + [1.0] * 12 + [2.0] * 6
    ids = pd.Index([f"v{i:02d}" for i in range(len(cdr))], name="video_id")
    pd.DataFrame(rng.normal(size=(len(cdr), 6)), index=ids,
                 columns=[f"pupil.f{j}" for j in range(6)]).to_parquet(tmp_path / "features.parquet")
    pd.DataFrame({"video_id": ids, "cdr": cdr}).to_csv(tmp_path / "labels.csv", index=False)
    model = tmp_path / "model"
    cmd = [sys.executable, "-m", "cdr.cli.train", str(tmp_path / "features.parquet"), "--labels",
           str(tmp_path / "labels.csv"), "-o", str(model), "--permutations", "100000", "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    def workers() -> list[int]:  # started, and past their start-up (they ignore Ctrl-C from then on)
        return [p for p in _session_processes(proc.pid) if p != proc.pid and _ignores_sigint(p)]

    while len(workers()) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    os.killpg(proc.pid, sig) if sig == signal.SIGINT else os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and "rows, groups" not in line]  # its progress
    name = "Ctrl-C (SIGINT)" if sig == signal.SIGINT else "SIGTERM"
    assert lines == [f"cdr-train: stopped by {name}; every file written is whole; rerun the same "
                     "command to train again"], err
    deadline = time.monotonic() + 10
    while _session_processes(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _session_processes(proc.pid) == [], "a worker outlived cdr-train"
    FileLock(str(model / ".lock")).acquire(timeout=0)
    assert not list(model.rglob("*.tmp"))


def _sigint_blocked_at_birth() -> bool:
    """In a worker: is SIGINT in the signal mask it inherited (no initializer touches the mask)."""
    return signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, [])


def test_workers_are_deaf_to_ctrl_c_from_their_first_instruction():
    """A Ctrl-C while a worker still imports used to print that worker's traceback: workers started
    inside a command's ``interruptible`` inherit SIGINT blocked from the launching thread."""
    from joblib.externals.loky import ProcessPoolExecutor

    from cdr.parallel import interruptible

    def birth_mask() -> bool:
        pool = ProcessPoolExecutor(max_workers=1)
        try:
            return pool.submit(_sigint_blocked_at_birth).result()
        finally:
            pool.shutdown(wait=True, kill_workers=True)

    assert birth_mask() is False  # the control: a worker started outside a command hears Ctrl-C
    with interruptible("cdr-test", then="nothing to resume"):
        assert birth_mask() is True
        assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the main process still hears it
    assert birth_mask() is False
