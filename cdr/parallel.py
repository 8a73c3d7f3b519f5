"""Worker processes: what cdr's joblib (loky) pools share, and how a command stops them.

:func:`interruptible` is the one place where Ctrl-C and SIGTERM are handled: every
command that starts workers or holds an output lock wraps its body in it.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psutil


@contextmanager
def quiet_worker_restarts() -> Iterator[None]:
    """Hide joblib's warning when it replaces a worker whose memory grew, or cancels tasks on an error.

    loky measures each worker after its first task and replaces it once it has grown
    by more than 300 MB (a safeguard against leaks). cdr-extract's workers, which hold
    mediapipe, torch and openSMILE, grow that much from one long video to the next, and
    cdr-train's evaluation workers were seen to as well; the replacement only costs a
    fresh start, and its warning ("A worker stopped while some
    jobs were given to the executor ... memory leak") would alarm users for nothing.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given",
                                category=UserWarning)
        # joblib words it "N tasks have been successfully executed but not used. Additionally, M tasks
        # which were still being processed ... cancelled", or either half alone, as timing has it
        warnings.filterwarnings("ignore", message=r".*\d+ tasks (which were still being processed by the "
                                r"workers have been cancelled|have been successfully executed +but not used)",
                                category=UserWarning)
        yield


def ignore_interrupts() -> None:
    """Worker initializer: leave Ctrl-C to the main process.

    A terminal's Ctrl-C reaches every process of the foreground group; a worker that
    took it would print its own traceback. The main process ends the workers itself
    (:func:`stop_workers`). Pass it as ``parallel_config(backend="loky", initializer=...)``.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def local_workers() -> Iterator[None]:
    """The loky pool of cdr's commands, for every ``joblib.Parallel`` inside: its workers ignore Ctrl-C.

    ``Parallel(n_jobs=...)`` keeps choosing how many; ``n_jobs=1`` still runs in this process.
    """
    from joblib import parallel_config

    with parallel_config(backend="loky", initializer=ignore_interrupts):
        yield


@contextmanager
def workers_deaf_to_ctrl_c() -> Iterator[None]:
    """Start loky workers with SIGINT blocked, so that a terminal's Ctrl-C never reaches one.

    :func:`ignore_interrupts` runs only once a worker has imported what it needs; a Ctrl-C in
    its first second or two used to print the worker's own ``KeyboardInterrupt`` traceback.
    A blocked signal mask is inherited through fork and exec, so the worker is deaf from its
    first instruction: loky's launcher is wrapped to block SIGINT in the launching thread
    around the fork (the main process keeps its own handling). Does nothing where POSIX
    signal masks are missing.
    """
    try:
        from joblib.externals.loky.backend import fork_exec as module
    except ImportError:  # not a POSIX loky
        yield
        return
    launch = module.fork_exec
    if not hasattr(signal, "pthread_sigmask") or getattr(launch, "deaf", False):
        yield
        return

    def deaf(*args, **kwargs):
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return launch(*args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)

    deaf.deaf = True
    module.fork_exec = deaf
    try:
        yield
    finally:
        module.fork_exec = launch


def one_worker():
    """A fresh loky pool of one process that ignores Ctrl-C, for one command's side task.

    Its worker starts at the first ``submit``: make it inside :func:`workers_deaf_to_ctrl_c`.
    ``shutdown(wait=False, kill_workers=True)`` ends it at once, whatever it is doing.
    """
    from joblib.externals.loky import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=1, initializer=ignore_interrupts)


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) or SIGTERM reached a command; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return "Ctrl-C (SIGINT)" if self.signum == signal.SIGINT else signal.Signals(self.signum).name


def stop_workers(grace_s: float = 3.0) -> None:
    """End every process this one started (loky and multiprocessing workers, their children).

    The resource trackers of loky and multiprocessing are left to end with this process.

    Each gets SIGTERM, and SIGKILL after ``grace_s`` seconds if it is still running;
    the call returns once they are gone.
    """
    loky = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(loky, "_executor", None)  # only a pool that exists: never start one
    if executor is not None:
        with suppress(Exception):  # the sweep below ends its workers anyway
            executor.shutdown(wait=False, kill_workers=True)
    # Resource trackers ignore SIGTERM and end with this process; killing one only makes
    # the exit start a new one, which prints tracebacks about resources it never saw.
    trackers = {getattr(getattr(sys.modules.get(m), "_resource_tracker", None), "_pid", None)
                for m in ("joblib.externals.loky.backend.resource_tracker", "multiprocessing.resource_tracker")}
    children = [p for p in psutil.Process().children(recursive=True) if p.pid not in trackers]
    for p in children:
        with suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for p in alive:
        with suppress(psutil.Error):
            p.kill()
    psutil.wait_procs(alive, timeout=grace_s)


@contextmanager
def interruptible(command: str, *, then: str) -> Iterator[None]:
    """Turn Ctrl-C and SIGTERM into a clean exit: workers ended, one line, no traceback.

    Wrap a command's whole body in it, outside any ``output_lock``, so that the lock
    and every temporary file are released on the way out. On SIGINT or SIGTERM the
    body is stopped with :class:`Interrupted` (a ``KeyboardInterrupt``, so that
    ``except Exception`` in a batch does not swallow it), every worker process is
    ended, and ``"<command>: stopped by <signal>; <then>"`` is printed on stderr;
    the process exits with status 128 + the signal's number (130 or 143).

    Parameters
    ----------
    command : str
        The command's name, e.g. ``"cdr-extract"``.
    then : str
        What a rerun does, e.g. ``"finished recordings are kept; rerun the same command to resume"``.

    Notes
    -----
    A terminal's Ctrl-C reaches every process of the foreground group. cdr's pools
    start their workers with SIGINT blocked (:func:`workers_deaf_to_ctrl_c`) and then
    ignored (:func:`ignore_interrupts`), so every worker, even one still starting, leaves
    it to the main process, which ends them all. The handlers are installed
    in the main thread only (elsewhere this does nothing), and the previous ones are
    restored on exit. A second signal during the shutdown is ignored, so the cleanup
    itself is never cut short.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - signal API
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with workers_deaf_to_ctrl_c():
            yield
    except KeyboardInterrupt as exc:
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        warnings.simplefilter("ignore")  # e.g. joblib's "N tasks ... have been cancelled": the line below says it
        stop_workers()
        sig = exc if isinstance(exc, Interrupted) else Interrupted(signal.SIGINT)
        print(f"{command}: stopped by {sig.name}; {then}", file=sys.stderr, flush=True)
        raise SystemExit(128 + sig.signum) from None
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
