"""Who may work on a run, and how a training session stops: the one place for both.

**One trainer per run.** ``train`` and ``clean`` hold RUN_DIR/.lock while they change the
run's files, so that two of them never interleave training.log and episodes.csv or delete
a checkpoint being written. The lock is the operating system's (``fcntl.flock``): it is
released when its process ends in any way, SIGKILL and power cuts included, so a lock
left behind never blocks the next ``train``. The file keeps the holder's process id and
command, for the message that refuses a second one.

**Stopping.** Ctrl-C (SIGINT) raises KeyboardInterrupt in Python; while training, a plain
``kill`` (SIGTERM) and a closed terminal (SIGHUP) do the same (``stop_signals``), so that
the finished episodes are saved before the process ends. A checkpoint, or the
bookkeeping of a finished episode, runs under ``deferred_stop``: a stop signal arriving
then takes effect when it is over, so the files always agree with each other.
"""
from __future__ import annotations

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
except ImportError:     # Windows: no flock; a run is then not protected from a second trainer
    fcntl = None

LOCK_FILE = ".lock"
_held: set[Path] = set()      # the locks this process holds: taking one again inside is a no-op
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


class RunBusy(RetroGamerError):
    """Another process is training (or cleaning) this run."""


@contextlib.contextmanager
def run_lock(run_dir, doing: str):
    """Hold RUN_DIR/.lock inside the block; RunBusy at once if another process holds it.
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
            holder = lock.read().strip() or "another process"
            raise RunBusy(
                f"{run_dir} is busy: {holder}. Two processes working on one run would mix up its "
                f"checkpoints and records, so this one stops here. Wait for the other to finish, or stop "
                f"it (Ctrl-C in its terminal, or kill with its process id: the finished episodes are "
                f"kept), then run the command again.") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"process {os.getpid()} is {doing} it ({' '.join(sys.argv[:3]) or 'python'}, "
                   f"since {time.strftime('%H:%M:%S')})\n")
        lock.flush()
        _held.add(path)
        try:
            yield
        finally:
            _held.discard(path)
            fcntl.flock(lock, fcntl.LOCK_UN)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def stop_signals():
    """Inside the block, SIGTERM and SIGHUP stop like Ctrl-C (KeyboardInterrupt). A signal the
    process was told to ignore (nohup) stays ignored; outside the main thread nothing changes."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = {}
    if _in_main_thread():
        previous = {number: signal.signal(number, interrupt) for number in STOP_SIGNALS[1:]
                    if signal.getsignal(number) == signal.SIG_DFL}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def deferred_stop():
    """Let the block finish before a stop signal takes effect (then KeyboardInterrupt).
    Only signals with a Python handler are deferred: one the process ignores stays ignored."""
    if not _in_main_thread():
        yield
        return
    received = []
    previous = {number: signal.signal(number, lambda signum, frame: received.append(signum))
                for number in STOP_SIGNALS if callable(signal.getsignal(number))}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt


@contextlib.contextmanager
def ctrl_c_noticed(noticed: list):
    """While a command runs, Ctrl-C still raises KeyboardInterrupt, and is also noted in
    ``noticed``: a Ctrl-C that lands inside an import can come out as an ImportError, and the
    command line must still report it as a Ctrl-C."""
    def interrupt(signum, frame):
        noticed.append(signum)
        raise KeyboardInterrupt

    ours = _in_main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    previous = signal.signal(signal.SIGINT, interrupt) if ours else None
    try:
        yield
    finally:
        if ours:
            signal.signal(signal.SIGINT, previous)
