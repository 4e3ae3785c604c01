"""Stopping `retro-gamer train` at random moments, many times in a row on one run.

One run of the reach game is trained by a chain of `retro-gamer train` processes, each
stopped by Ctrl-C (SIGINT), a double Ctrl-C, a plain `kill` (SIGTERM) or a kill that
cannot be caught (SIGKILL), at a moment drawn from a seeded random generator. Some
moments are chosen to land inside a checkpoint write: the child process is started
with a hook (below, in this file, never in the package) that announces each write of a
checkpoint and holds it open for a while before the final rename.

After every stop: every checkpoint on disk loads, no temporary file is left after a
catchable signal, no finished episode that a checkpoint held is lost, and the next
`train` resumes from the latest checkpoint (removing what a SIGKILL left behind).
"""
import os
import queue
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from retro_gamer.run import checkpoints as ckpt
from retro_gamer.cli import main

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# The same small game project as the other fault tests.
from test_faults import GAMES, PYPROJECT, TINY  # noqa: E402

ROUNDS = 20
SEED = int(os.environ.get("FAULT_SEED", "20260521"))  # another seed, another campaign
EXIT_TIMEOUT = 30  # seconds a stopped `train` may take to exit before it counts as hung

# The child process: the command line, plus (when HOLD_WRITES is set) a hook that holds
# every checkpoint write open just before its final rename, and says so on stderr.
CHILD = '''\
import os, sys, time
if os.environ.get("HOLD_WRITES"):
    real_replace = os.replace
    def held_replace(source, target, *args, **kwargs):
        name = os.path.basename(str(target))
        if name.startswith("ep_") and os.path.basename(str(source)).startswith(".tmp-"):
            sys.stderr.write(f"WRITING {name}\\n")
            sys.stderr.flush()
            time.sleep(float(os.environ["HOLD_WRITES"]))
        return real_replace(source, target, *args, **kwargs)
    os.replace = held_replace
from retro_gamer.cli import main
sys.stderr.write("READY\\n")
sys.stderr.flush()
sys.exit(main())
'''
HOLD_SECONDS = 0.8  # long, so that a signal sent soon after the announcement lands inside


class Child:
    """A `retro-gamer train` process whose stderr lines can be awaited."""

    def __init__(self, run, hold_writes=False):
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
        env.pop("HOLD_WRITES", None)
        if hold_writes:
            env["HOLD_WRITES"] = str(HOLD_SECONDS)
        self.process = subprocess.Popen([sys.executable, "-c", CHILD, "train", str(run)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.err = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stderr:
            self.err.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, prefix, timeout=30):
        """The next stderr line starting with ``prefix``; None if the process ended first."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None or line.startswith(prefix):
                return line

    def finish(self):
        """(exit status, stdout, stderr) once the process ends, or a failure if it hangs."""
        result = {}

        def collect():
            out = self.process.stdout.read()
            self.process.wait()
            self.reader.join()
            result["value"] = (self.process.returncode, out, "".join(self.err).replace("READY\n", ""))

        # Read in a thread: a hung child must fail the test, not block it forever.
        worker = threading.Thread(target=collect, daemon=True)
        worker.start()
        worker.join(EXIT_TIMEOUT)
        if "value" not in result:
            self.process.kill()
            pytest.fail(f"train did not exit within {EXIT_TIMEOUT}s of being stopped: it hung")
        return result["value"]


def checkpoint_state(run):
    """(episode of the latest ep_ checkpoint or 0, every checkpoint's name) after checking each loads."""
    names = []
    for path in ckpt.list_checkpoints(run):
        data = ckpt.read_checkpoint(path)  # raises if any checkpoint on disk is broken
        if ckpt.episode_of(path) is not None:
            assert int(data["episode"]) == ckpt.episode_of(path), path
        names.append(path.name)
    episodes = [ckpt.episode_of(name) for name in names if ckpt.episode_of(name) is not None]
    return max(episodes, default=0), names


def temporaries(run):
    return sorted(path.name for path in [*run.glob(".tmp-*"), *run.glob("checkpoints/.tmp-*")])


def episode_rows(run):
    path = run / "episodes.csv"
    if not path.exists():
        return []
    return [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:]]


PLANS = [  # (signal(s), where the moment is drawn), cycled through in a seeded random order
    ("SIGINT", "anywhere"),
    ("SIGKILL", "anywhere"),
    ("SIGINT", "inside a checkpoint write"),
    ("SIGKILL", "inside a checkpoint write"),
    ("SIGINT SIGINT", "anywhere"),
    ("SIGTERM", "anywhere"),
    ("SIGINT SIGINT", "inside a checkpoint write"),
    ("SIGTERM", "inside a checkpoint write"),
]


def test_train_stopped_at_random_moments_many_times_loses_nothing(tmp_path):
    game = tmp_path / "game"
    game.mkdir()
    shutil.copy(GAMES / "reach.py", game / "signal_reach.py")  # a name of its own
    (game / "pyproject.toml").write_text(PYPROJECT)
    run = tmp_path / "run"
    assert main(["create", "--game", str(game / "signal_reach.py"), "--output", str(run),
                 "--training-episodes", "1000000", *TINY]) == 0

    rng = random.Random(SEED)
    plans = [PLANS[i % len(PLANS)] for i in range(ROUNDS)]
    rng.shuffle(plans)
    latest, left_by_kill, killed_inside = 0, set(), 0
    for number, (signals, where) in enumerate(plans, 1):
        inside = where == "inside a checkpoint write"
        child = Child(run, hold_writes=inside)
        assert child.wait_for("READY"), child.finish()
        if inside:
            # A checkpoint write is announced, then held open for HOLD_SECONDS before its rename.
            writing = child.wait_for("WRITING")
            assert writing, child.finish()
            held = run / "checkpoints" / writing.split()[1]
            time.sleep(rng.uniform(0.0, 0.3))
        else:
            time.sleep(rng.uniform(0.0, 1.2))
        for name in signals.split():
            child.process.send_signal(getattr(signal, name))
            time.sleep(rng.uniform(0.0, 0.05))
        status, out, err = child.finish()
        story = f"round {number}: {signals} {where}\nstdout: {out[-1500:]}\nstderr: {err[-1500:]}"

        # The stopped process: a clear exit, never a traceback. (A second Ctrl-C that comes
        # once the command has said it stopped reaches Python's own exit, which may print
        # "Exception ignored ... KeyboardInterrupt" while it waits for helper threads.)
        exit_noise = (signals == "SIGINT SIGINT" and "Stopped" in out
                      and err.lstrip().startswith("Exception ignored") and err.count("Traceback") == 1)
        assert ("Traceback" not in err or exit_noise) and "unexpected" not in err, story
        if signals == "SIGKILL":
            assert status == -signal.SIGKILL, story
        elif signals == "SIGINT SIGINT":
            # A second Ctrl-C after the command has finished ends Python itself by SIGINT,
            # which a shell reports as 130 too.
            assert status in (130, -signal.SIGINT), story
        else:
            assert status == 130, story
        # What a SIGKILL left behind is gone once the next train has started, and a
        # catchable signal leaves no temporary file of its own.
        temps = set(temporaries(run))
        if "Resuming from" in out or "Press Ctrl-C" in out:
            assert not left_by_kill & temps, story
        if signals != "SIGKILL":
            assert temps <= left_by_kill, story
        left_by_kill = temps
        # The latest checkpoint the previous round left was the one this round resumed from.
        if latest and "Resuming from" in out:
            assert f"Resuming from {ckpt.checkpoint_name(latest)}.npz" in out, story

        # Every checkpoint loads, and no checkpoint that existed was lost.
        now, names = checkpoint_state(run)
        assert now >= latest, story
        kept = re.search(r"Episodes 1-(\d+) are kept in checkpoint (ep_\d+\.npz)", out)
        if kept:
            assert int(kept.group(1)) == now and kept.group(2) in names, story
        if inside:
            # Stopped inside the write: a catchable signal waits for it to finish; a SIGKILL
            # leaves its temporary file, and the checkpoint as it was before (here: none).
            if signals == "SIGKILL":
                assert not held.exists(), story
                assert any(name.startswith(f".tmp-{held.name}.") for name in temps), story
                killed_inside += 1
            else:
                assert held.name in names, story
        # episodes.csv holds each finished episode once, in order, at least up to the checkpoint.
        rows = episode_rows(run)
        assert rows == list(range(1, len(rows) + 1)), story
        assert len(rows) >= now, story
        latest = now

    assert latest >= 100, "the campaign should have trained for a while"
    assert killed_inside >= 1, "some SIGKILL should have landed inside a checkpoint write"

    # Finally, a train that is left alone: it resumes from the last good checkpoint, removes
    # what the kills left, and finishes with every episode accounted for exactly once.
    config = run / "config.toml"
    config.write_text(config.read_text().replace("training_episodes = 1000000",
                                                 f"training_episodes = {latest + 30}"))
    child = Child(run)
    status, out, err = child.finish()
    assert status == 0, err
    assert f"Resuming from {ckpt.checkpoint_name(latest)}.npz" in out
    assert temporaries(run) == []
    final_episode, names = checkpoint_state(run)
    assert final_episode == latest + 30 and "final.npz" in names
    assert episode_rows(run) == list(range(1, latest + 31))
