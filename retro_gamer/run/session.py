"""Who may work on a run, and how a command stops: the one place for locks and stop signals.

**One trainer per run.** ``train`` and ``clean`` hold RUN_DIR/.lock while they change the run's
files, so that two of them never interleave training.log and episodes.csv or remove a
checkpoint being written. The lock is the operating system's (``fcntl.flock``): it goes with
its process however that ends, SIGKILL and power cuts included, so a lock left behind never
blocks the next ``train``. The file keeps the holder's process id and command, for the message
that refuses a second one.

**Stopping.** Ctrl-C (SIGINT) raises KeyboardInterrupt; while training, a plain ``kill``
(SIGTERM) and a closed terminal (SIGHUP) do the same (``stop_signals``), so that the finished
episodes are saved before the process ends. A checkpoint, or the bookkeeping of a finished
episode, runs under ``deferred_stop``: a stop signal then takes effect when it is over, so the
files always agree with each other.
"""
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

from retro_gamer.errors import RetroGamerError

try:
    import fcntl
except ImportError:          # Windows: no flock; a run is then not protected from a second trainer
    fcntl = None

LOCK_FILE = ".lock"
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))
_held: set[Path] = set()     # the locks this process holds: taking one again inside is a no-op


@contextlib.contextmanager
def run_lock(run_dir, doing: str):
    """Hold RUN_DIR/.lock inside the block; RetroGamerError at once if another process holds it.
    ``doing`` says what this process does ('training', 'cleaning'), for that message."""
    path = (Path(run_dir) / LOCK_FILE).resolve()
    if fcntl is None or path in _held:
        yield
        return
    with open(path, "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise RetroGamerError(
                f"{run_dir} is busy: {lock.read().strip() or 'another process holds it'}. Two processes "
                "working on one run would mix up its checkpoints and records, so this one stops here. Wait "
                "for the other to finish, or stop it (Ctrl-C in its terminal, or kill with its process id: "
                "the finished episodes are kept), then run the command again.") from None
        lock.truncate(0)
        lock.write(f"process {os.getpid()} is {doing} it ({' '.join(sys.argv[:3]) or 'python'}, since "
                   f"{time.strftime('%H:%M:%S')})\n")
        lock.flush()
        _held.add(path)
        try:
            yield
        finally:
            _held.discard(path)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _handling(handler, numbers) -> dict:
    """Install ``handler`` for these signals (main thread only); returns the previous handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {number: signal.signal(number, handler) for number in numbers}


@contextlib.contextmanager
def _signals(handler, numbers):
    previous = _handling(handler, numbers)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def stop_signals():
    """Inside the block, SIGTERM and SIGHUP stop like Ctrl-C. A signal the process was told to
    ignore (nohup) stays ignored."""
    return _signals(_interrupt, [n for n in STOP_SIGNALS[1:] if signal.getsignal(n) == signal.SIG_DFL])


@contextlib.contextmanager
def deferred_stop():
    """Let the block finish before a stop signal takes effect (then KeyboardInterrupt). Only
    signals with a Python handler are deferred: one the process ignores stays ignored."""
    received = []
    with _signals(lambda signum, frame: received.append(signum),
                  [n for n in STOP_SIGNALS if callable(signal.getsignal(n))]):
        yield
    if received:
        raise KeyboardInterrupt


def ctrl_c_noticed(noticed: list):
    """While a command runs, a Ctrl-C also goes into ``noticed``: one that lands inside an import
    can come out as an ImportError, and the command line must still report it as a Ctrl-C."""
    def interrupt(signum, frame):
        noticed.append(signum)
        raise KeyboardInterrupt

    ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    return _signals(interrupt, [signal.SIGINT] if ours else [])
