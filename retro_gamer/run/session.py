"""Who may work on a run, and how a command stops: the one place for locks and stop signals."""
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
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))
_held: set[Path] = set()     # the locks this process holds: taking one again inside is a no-op


@contextlib.contextmanager
def run_lock(run_dir, doing: str):
    """Hold RUN_DIR/.lock inside the block, so that two processes never interleave a run's records or remove
    a checkpoint being written; RetroGamerError at once if another holds it (``doing`` is written in the file
    for that message). fcntl.flock's lock ends with its process, SIGKILL included: none is left behind."""
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
        lock.truncate(0)         # then name the holder, for the message above in a second process
        print(f"process {os.getpid()} is {doing} it ({' '.join(sys.argv[:3]) or 'python'}, since "
              f"{time.strftime('%H:%M:%S')})", file=lock, flush=True)
        _held.add(path)
        try:
            yield
        finally:
            _held.discard(path)      # closing the file then releases the lock


@contextlib.contextmanager
def _signals(handler, numbers):
    """``handler`` handles these signals in the block (Python sets handlers in the main thread only)."""
    main = threading.current_thread() is threading.main_thread()
    previous = {number: signal.signal(number, handler) for number in numbers if main}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def stop_signals():
    """Inside the block, SIGTERM (a plain ``kill``) and SIGHUP (a closed terminal) stop like Ctrl-C, so
    that training saves its finished episodes. One the process was told to ignore (nohup) stays so."""
    unhandled = [number for number in STOP_SIGNALS[1:] if signal.getsignal(number) == signal.SIG_DFL]
    return _signals(signal.default_int_handler, unhandled)


@contextlib.contextmanager
def deferred_stop():
    """A stop signal waits for the block's end (a checkpoint, an episode's bookkeeping), so files agree."""
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
