"""cdr-extract, cdr-train and cdr-predict work with networking disabled, and none of them tries to connect.

Two ways of taking the network away, each running the three commands as
subprocesses on a rendered interview clip with speech:

* ``socket-guard``: a ``sitecustomize.py`` put first on ``PYTHONPATH`` patches
  Python's socket layer (``connect``, ``connect_ex``, ``sendto``,
  ``create_connection``, ``getaddrinfo``) in every process, worker processes
  included: any address other than a Unix socket is written to a log and
  refused.  The log must stay empty.
* ``network-namespace`` (stronger; skipped where ``unshare`` is not permitted):
  the same guard, inside a fresh network namespace that has no interface up,
  so that code outside Python (FFmpeg, MediaPipe, BLAS) cannot reach anything
  either.  Where ``strace`` works, every ``connect``/``send*`` system call is
  traced too, and none may name an internet address.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import cohort_around
from test_extract import _clip

import cdr
from cdr.extract import feature_names

pytestmark = pytest.mark.slow

REPO = Path(cdr.__file__).resolve().parents[1]
LOG_VAR = "CDR_TEST_NETWORK_LOG"

GUARD = textwrap.dedent(f'''
    """Record and refuse every network connection (installed by tests/test_no_network.py)."""
    import json
    import os
    import socket

    _LOG = os.environ.get("{LOG_VAR}")


    def _refuse(call, address):
        if _LOG:
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({{"pid": os.getpid(), "call": call, "address": repr(address)}}) + "\\n")
        raise OSError(f"network disabled by the test: {{call}}({{address!r}})")


    def _unix_only(name):
        original = getattr(socket.socket, name)

        def method(self, *args):
            if self.family != socket.AF_UNIX:
                _refuse(name, args[-1])
            return original(self, *args)
        return method


    for _name in ("connect", "connect_ex", "sendto"):
        setattr(socket.socket, _name, _unix_only(_name))
    socket.create_connection = lambda address, *a, **k: _refuse("create_connection", address)
    socket.getaddrinfo = lambda host, port, *a, **k: _refuse("getaddrinfo", (host, port))
''')


@pytest.fixture(scope="module")
def guard(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("guard")
    (folder / "sitecustomize.py").write_text(GUARD)
    return folder


@pytest.fixture(scope="module")
def recording(tmp_path_factory, arctic_audio) -> Path:
    """A 3 s face video (head turning, gaze moving) with 4 s of read speech."""
    folder = tmp_path_factory.mktemp("in")
    _clip(folder / "interview.mp4", audio=np.r_[np.zeros(4000, np.float32), arctic_audio[0]], seed=3)
    for p in folder.glob("*.truth.parquet"):
        p.unlink()
    return folder / "interview.mp4"


def _env(guard: Path, log: Path) -> dict[str, str]:
    path = [str(guard), str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path), **{LOG_VAR: str(log)})


def _netns() -> list[str]:
    """The command prefix that runs a program in a new network namespace, or skip."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed; the socket-guard variant still runs")
    errors = []
    for flags in ("-n", "-rn"):  # -n as root, -rn through a user namespace otherwise
        r = subprocess.run(["unshare", flags, "true"], capture_output=True, text=True)
        if r.returncode == 0:
            return ["unshare", flags]
        errors.append(f"unshare {flags}: {r.stderr.strip()}")
    pytest.skip("no new network namespace is permitted here (" + "; ".join(errors) + "); "
                "the socket-guard variant still runs")


def _strace(trace: Path) -> list[str]:
    """The command prefix tracing network system calls into ``trace``; [] where strace cannot run."""
    if shutil.which("strace") is None:
        return []
    base = ["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=connect,sendto,sendmsg,sendmmsg",
            "-A", "-o", str(trace)]  # -A: each command appends
    for extra in (["--seccomp-bpf"], []):  # the filter keeps the traced programs at full speed
        if subprocess.run([*base, *extra, "true"], capture_output=True).returncode == 0:
            return [*base, *extra]
    return []


def _internet_calls(trace: Path) -> list[str]:
    if not trace.exists():
        return []
    return [line for line in trace.read_text().splitlines() if re.search(r"sa_family=AF_INET6?\b", line)]


def _run(prefix: list[str], env: dict, module: str, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([*prefix, sys.executable, "-m", module, *args], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, f"{module} failed offline:\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_the_guard_records_and_refuses_connections(guard, tmp_path):
    """The control: without it an empty log could mean the guard was never loaded."""
    log = tmp_path / "network.log"
    probe = textwrap.dedent('''
        import json, socket, urllib.request
        calls = {
            "create_connection": lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
            "connect": lambda: socket.socket().connect(("192.0.2.1", 80)),
            "getaddrinfo": lambda: socket.getaddrinfo("pypi.org", 443),
            "urlopen": lambda: urllib.request.urlopen("http://192.0.2.1/", timeout=1),
        }
        out = {}
        for name, call in calls.items():
            try:
                call()
                out[name] = "connected"
            except OSError as exc:
                out[name] = str(exc)
        a, b = socket.socketpair()  # Unix sockets (used by worker pools) keep working
        a.sendall(b"ok")
        out["unix"] = b.recv(2).decode()
        print(json.dumps(out))
    ''')
    r = subprocess.run([sys.executable, "-c", probe], env=_env(guard, log), capture_output=True,
                       text=True, timeout=60)
    out = json.loads(r.stdout)
    assert out.pop("unix") == "ok"
    assert all("network disabled by the test" in v for v in out.values()), out
    calls = [json.loads(line)["call"] for line in log.read_text().splitlines()]
    assert calls == ["create_connection", "connect", "getaddrinfo", "create_connection"]


@pytest.mark.parametrize("isolation", ["socket-guard", "network-namespace"])
def test_extract_train_predict_work_offline(isolation, guard, recording, tmp_path):
    log, trace = tmp_path / "network.log", tmp_path / "strace.txt"
    env = _env(guard, log)
    prefix: list[str] = []
    if isolation == "network-namespace":
        prefix = _netns() + _strace(trace)
        # the control: inside the namespace nothing answers, and strace (if used) sees the try
        r = subprocess.run([*prefix, sys.executable, "-c",
                            "import socket; socket.socket().connect(('127.0.0.1', 9))"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "Network is unreachable" in r.stderr, r.stderr
        if "strace" in prefix:
            assert len(_internet_calls(trace)) == 1
            trace.unlink()

    out = tmp_path / "out"
    _run(prefix, env, "cdr.cli.extract", str(recording.parent), "-o", str(out), "--quiet")
    table = pd.read_parquet(out / "features.parquet")
    assert list(table.index) == ["interview"] and list(table.columns) == feature_names()
    row = table.loc["interview"]
    assert row["qc.face_ratio"] == 1.0 and row["qc.speech_ratio"] > 0.5
    pupil = row.filter(like="pupil.")
    above_nyquist = pupil.index.str.endswith("_15hz")  # a 25 fps clip shows motion up to 12.5 Hz only
    assert pupil[above_nyquist].isna().all() and pupil[~above_nyquist].notna().all()
    assert row.filter(like="mfcc.").notna().all()

    cohort_around(row, "pupil", tmp_path, table="cohort.parquet")
    model = tmp_path / "model"
    _run(prefix, env, "cdr.cli.train", str(tmp_path / "cohort.parquet"), "--labels",
         str(tmp_path / "labels.csv"), "-o", str(model), "--task", "cdr3", "--groups", "pupil,coupling,pose",
         "--permutations", "0", "--repeats", "2", "--jobs", "2")
    metrics = json.loads((model / "metrics.json").read_text())["cdr3"]
    assert metrics["n"] == 40 and metrics["balanced_accuracy"] >= 0.9   # the planted pupil shift

    r = _run(prefix, env, "cdr.cli.predict", str(recording), "--model", str(model), "--json",
             "--min-duration", "2")
    cdr3 = json.loads(r.stdout)["tasks"]["cdr3"]
    assert cdr3["predicted_cdr"] == "0.5"   # the recording is the CDR 0.5 class's centre
    assert max(cdr3["contributions"], key=lambda g: abs(cdr3["contributions"][g])) == "pupil"

    assert not log.exists() or log.read_text() == "", log.read_text()
    assert _internet_calls(trace) == []
