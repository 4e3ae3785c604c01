"""Faults on purpose: broken and booby-trapped files, names that try to escape the run,
full disks and games that crash. Each test drives the command line as a learner would
(in-process through main) and checks three things: the message names the file or the
game and says what to do, no traceback is printed, and nothing already saved is lost.

The signal campaign (Ctrl-C and kills during training) is in test_fault_signals.py and
the config.toml fuzzing in test_config_fuzz.py.
"""
import errno
import hashlib
import io
import os
import pickle
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from retro_gamer.run import checkpoints as ckpt
from retro_gamer.cli import main
from retro_gamer.errors import CheckpointError, GameError
from retro_gamer.game.description import GameMetadata
from retro_gamer.run.trainer import DQNTrainer

GAMES = Path(__file__).parent / "games"
PYPROJECT = '''\
[project]
name = "reach"
version = "0.1"

[tool.retro-gamer]
actions = ["KEY_LEFT", "KEY_RIGHT"]
reward = "score"
character_set = [">", "@"]
'''
TINY = ["--hidden-sizes", "8", "--memory-capacity", "200", "--batch-size", "8", "--seed", "1"]


@pytest.fixture(scope="module")
def game_dir(tmp_path_factory):
    """The reach game (tests/games/reach.py) in a folder of its own, with its description."""
    folder = tmp_path_factory.mktemp("reach_game")
    # A name of its own: tests/games/reach.py may already be imported, with another description.
    shutil.copy(GAMES / "reach.py", folder / "fault_reach.py")
    (folder / "pyproject.toml").write_text(PYPROJECT)
    return folder


@pytest.fixture(scope="module")
def trained_run(game_dir, tmp_path_factory):
    """A run trained for 300 episodes: ep_0100, ep_0200, ep_0300 and final (copy it to change it)."""
    run = tmp_path_factory.mktemp("runs") / "reach"
    assert main(["create", "--game", str(game_dir / "fault_reach.py"), "--output", str(run),
                 "--training-episodes", "300", *TINY]) == 0
    assert main(["train", str(run)]) == 0
    return run


@pytest.fixture
def run(trained_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    return copy


def set_episodes(run, episodes):
    config = run / "config.toml"
    text = config.read_text()
    old = next(line for line in text.splitlines() if line.startswith("training_episodes = "))
    config.write_text(text.replace(old, f"training_episodes = {episodes}"))


def fingerprints(run):
    """sha256 of every checkpoint file, to prove that none was changed."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((run / "checkpoints").glob("*.npz")) if path.is_file()}


def temporaries(run):
    return sorted(path.name for path in [*run.glob(".tmp-*"), *run.glob("checkpoints/.tmp-*")])


def every_checkpoint_loads(run):
    for path in ckpt.list_checkpoints(run):
        ckpt.read_checkpoint(path)
    return True


def fails_clearly(argv, capsys, *expected):
    """Run the command: it must fail with one 'Error:' message holding every expected text."""
    status = main([str(word) for word in argv])
    captured = capsys.readouterr()
    assert status == 1, (status, captured.out[-2000:], captured.err[-2000:])
    assert captured.err.startswith("Error: "), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert "something unexpected" not in captured.err, captured.err
    for text in expected:
        assert text in captured.err, (text, captured.err)
    return captured.err


# --------------------------------------------------------------------------- 2. broken files

def cut_to(size):
    return lambda data: data[:size]


def flip_middle_byte(data):
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


DAMAGE = {
    "zero bytes": lambda data: b"",
    "first 10 bytes": cut_to(10),
    "first half": lambda data: data[:len(data) // 2],
    "all but the last byte": lambda data: data[:-1],
    "a flipped byte": flip_middle_byte,
    "zeroed start": lambda data: bytes(512) + data[512:],
    "text": lambda data: b"this is not a checkpoint\n" * 10,
    "single .npy array": lambda data: npy_bytes(np.arange(10)),
}


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_broken_latest_checkpoint_names_the_file_and_offers_the_previous_good_one(run, capsys, damage):
    set_episodes(run, 400)
    latest = run / "checkpoints" / "ep_0300.npz"
    latest.write_bytes(DAMAGE[damage](latest.read_bytes()))
    before = fingerprints(run)
    fails_clearly(["train", run], capsys, "ep_0300.npz", "--resume ep_0200", str(latest))
    assert fingerprints(run) == before


def test_broken_checkpoints_are_skipped_until_a_good_one(run, capsys):
    set_episodes(run, 400)
    for name in ("ep_0300.npz", "ep_0200.npz"):
        (run / "checkpoints" / name).write_bytes(b"PK\x03\x04 cut short")
    fails_clearly(["train", run], capsys, "ep_0300.npz is damaged", "--resume ep_0100")
    # Taking the offer resumes from episode 100, and the broken files are written anew.
    assert main(["train", str(run), "--resume", "ep_0100"]) == 0
    assert "Resuming from ep_0100.npz: episode 101 of 400." in capsys.readouterr().out
    assert every_checkpoint_loads(run)
    rows = (run / "episodes.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, 401))


@pytest.mark.parametrize("damage", ["zero bytes", "first half", "a flipped byte"])
def test_naming_a_broken_checkpoint_is_a_clear_error_everywhere(run, capsys, damage):
    path = run / "checkpoints" / "ep_0200.npz"
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    fails_clearly(["train", run, "--resume", "ep_0200"], capsys, "ep_0200.npz", "--resume ep_0100")
    fails_clearly(["eval", run, "--checkpoint", "ep_0200", "--episodes", "1"], capsys, "ep_0200.npz")


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def torch_style_zip():
    """What torch.save writes: a zip holding archive/data.pkl (a pickle) and tensor data."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"epsilon": 0.5}))
        archive.writestr("archive/data/0", bytes(16))
    return buffer.getvalue()


FOREIGN = {
    "no format entry": (npz_bytes(weights=np.zeros(3)), "has no 'format' entry"),
    "another format version": (npz_bytes(format=np.array("retro-gamer-numpy checkpoint v9")),
                               "unknown checkpoint format"),
    "a numeric format entry": (npz_bytes(format=np.arange(5)), "unknown checkpoint format"),
    "a torch checkpoint renamed .npz": (torch_style_zip(), "PyTorch file, as the published retro-gamer writes"),
    "missing weights": (npz_bytes(format=np.array(ckpt.FORMAT)), "incomplete"),
}


@pytest.mark.parametrize("kind", FOREIGN)
def test_a_checkpoint_of_another_format_says_so(run, capsys, kind):
    data, says = FOREIGN[kind]
    set_episodes(run, 500)
    (run / "checkpoints" / "ep_0400.npz").write_bytes(data)
    fails_clearly(["train", run], capsys, "ep_0400.npz", says)
    fails_clearly(["eval", run, "--checkpoint", "ep_0400", "--episodes", "1"], capsys)


BROKEN_TOML = {
    "a string without quotes": ("reward = score", "reward = score"),
    "a list without its bracket": ('actions = ["KEY_LEFT", "KEY_RIGHT"', "actions"),
    "a key written twice": ("seed = 1\nseed = 2", "seed"),
    "a section without its bracket": ("[training\nseed = 1", "[training"),
}


@pytest.mark.parametrize("kind", BROKEN_TOML)
def test_a_config_with_a_syntax_error_names_the_file_and_the_line(run, capsys, kind):
    line, _ = BROKEN_TOML[kind]
    config = run / "config.toml"
    config.write_text(config.read_text() + "\n[extra]\n" + line + "\n")
    for command in (["train", run], ["info", run], ["eval", run, "--episodes", "1"]):
        message = fails_clearly(command, capsys, str(config), "is not valid TOML", "line")
        assert "Open the file at that line" in message


@pytest.mark.parametrize("content, says", [
    (b"\xff\xfe[game]\n", "not UTF-8"),
    (b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n", "too deeply"),
    (b"", "actions is missing"),
    (b"[game]\n", "reward is missing"),
])
def test_a_config_that_cannot_be_read_is_a_clear_error(run, capsys, content, says):
    (run / "config.toml").write_bytes(content)
    fails_clearly(["train", run], capsys, says)


@pytest.mark.parametrize("damage", [b"\xff\xfe\x00 not text", b"", b"episode\x00,total\n1,2\x00",
                                    b"no newline at the end"])
def test_damaged_training_records_never_stop_training(run, capsys, damage):
    rows_before = (run / "episodes.csv").read_text().splitlines()
    for name in ("training.log", "episodes.csv"):
        with open(run / name, "ab") as records:
            records.write(damage)
    set_episodes(run, 320)
    assert main(["train", str(run)]) == 0
    rows = (run / "episodes.csv").read_text().splitlines()
    assert rows[:len(rows_before)] == rows_before  # what could be read is kept
    assert rows[-1].startswith("320,")
    assert main(["plot", str(run)]) == 0 and main(["info", str(run)]) == 0
    assert "Traceback" not in capsys.readouterr().err


def published_run(folder, game_dir):
    """A run folder as the published PyTorch retro-gamer leaves it: its config.toml and .pt files."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "config.toml").write_text(f'''\
[game]
module = "fault_reach"
path = "{game_dir}"

[metadata]
actions = ["KEY_LEFT", "KEY_RIGHT"]
reward = "score"
board_size = [7, 1]
character_set = [">", "@"]

[preprocessing]
spatial = false

[model]
hidden_sizes = [8]

[training]
learning_rate = 0.0001
learning_rate_decay = 0.9999
gamma = 0.99
epsilon_decay = 0.9997
epsilon_min = 0.05
batch_size = 8
memory_capacity = 200
target_update_freq = 500
training_episodes = 120
max_turns_per_episode = 2000
exploration_turns = 200
train_every = 4
prioritize_experiences = true
unknown_character_strategy = "ignore"
''')
    for name in ("ep_0100.pt", "ep_0200.pt", "final.pt"):
        (folder / "checkpoints" / name).write_bytes(torch_style_zip())
    return folder


def test_a_run_of_the_published_package_is_retrained_from_its_config_and_its_pt_files_refused(
        game_dir, tmp_path, capsys):
    run = published_run(tmp_path / "published", game_dir)
    fails_clearly(["eval", run, "--checkpoint", "ep_0100.pt"], capsys, "ep_0100.pt", "PyTorch file",
                  "published retro-gamer", "never unpickles")
    # Its config.toml (with the published spellings) is read; its .pt files are not checkpoints of ours.
    assert main(["train", str(run)]) == 0
    assert [path.name for path in ckpt.list_checkpoints(run)] == ["ep_0100.npz", "ep_0120.npz", "final.npz"]
    assert main(["clean", str(run), "--yes"]) == 0
    assert not list((run / "checkpoints").glob("*.pt"))


# --------------------------------------------------------------------------- 3. untrusted checkpoints

class Trap:
    """Unpickling a Trap creates a file: if the marker appears, a checkpoint ran code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (Path(self.marker),)


def booby_trapped_npz(marker, **arrays):
    trap = np.empty(1, dtype=object)
    trap[0] = Trap(marker)
    return npz_bytes(format=np.array(ckpt.FORMAT), trap=trap, **arrays)


def test_the_trap_works_when_pickles_are_allowed(tmp_path):
    """Proves the traps below are armed: loading one with pickles allowed springs it."""
    marker = tmp_path / "ran"
    with np.load(io.BytesIO(booby_trapped_npz(marker)), allow_pickle=True) as archive:
        archive["trap"]
    assert marker.exists()


TRAPS = {
    "an object array in a checkpoint": lambda marker, good: booby_trapped_npz(marker, **good),
    "a bare pickle named .npz": lambda marker, good: pickle.dumps(Trap(marker)),
    "a pickle inside a .npy entry": lambda marker, good: zip_with("trap.npy", npy_pickle(marker)),
}


def npy_pickle(marker):
    trap = np.empty(1, dtype=object)
    trap[0] = Trap(marker)
    buffer = io.BytesIO()
    np.save(buffer, trap, allow_pickle=True)
    return buffer.getvalue()


def zip_with(name, data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
        archive.writestr("format.npy", npy_bytes(np.array(ckpt.FORMAT)))
    return buffer.getvalue()


@pytest.mark.parametrize("trap", TRAPS)
def test_a_booby_trapped_checkpoint_is_refused_and_nothing_in_it_runs(run, tmp_path, capsys, trap):
    marker = tmp_path / "the_trap_ran"
    good = dict(ckpt.read_checkpoint(run / "checkpoints" / "ep_0300.npz"))
    del good["format"]
    set_episodes(run, 500)
    (run / "checkpoints" / "ep_0400.npz").write_bytes(TRAPS[trap](marker, good))
    fails_clearly(["train", run], capsys, "ep_0400.npz")
    fails_clearly(["train", run, "--resume", "ep_0400"], capsys, "ep_0400.npz")
    fails_clearly(["eval", run, "--checkpoint", "ep_0400", "--episodes", "1"], capsys, "ep_0400.npz")
    with pytest.raises(CheckpointError, match="ep_0400.npz"):
        from retro_gamer.policy import TrainedPolicy
        TrainedPolicy(run, "ep_0400")
    assert not marker.exists()


def test_a_booby_trapped_replay_memory_is_never_opened_as_pickle(run, tmp_path, capsys):
    marker = tmp_path / "the_trap_ran"
    (run / "checkpoints" / "replay_ep_0300.npz").write_bytes(booby_trapped_npz(marker, episode=np.array(300)))
    set_episodes(run, 320)
    assert main(["train", str(run)]) == 0  # the replay memory is only needed for an exact resume
    assert "(replay_ep_0300.npz) cannot be used" in capsys.readouterr().out    # and it says so
    assert not marker.exists()
    assert every_checkpoint_loads(run)


def test_a_replay_memory_with_impossible_values_is_set_aside(run, capsys):
    path = run / "checkpoints" / "replay_ep_0300.npz"
    saved = dict(ckpt.read_checkpoint(path))
    saved["memory/actions"] = np.full_like(saved["memory/actions"], 99)  # there are 3 actions
    path.write_bytes(npz_bytes(**saved))
    set_episodes(run, 320)
    assert main(["train", str(run)]) == 0
    assert "actions or board codes this network does not have" in capsys.readouterr().out


def test_a_zip_bomb_is_refused_before_it_is_unpacked(run, capsys):
    path = run / "checkpoints" / "ep_0400.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("format.npy", npy_bytes(np.array(ckpt.FORMAT)))
        with archive.open("bomb.npy", "w", force_zip64=True) as entry:
            entry.write(npy_header((100 * 2**20,)))
            zeros = bytes(2**20)
            for _ in range(100):
                entry.write(zeros)
    assert path.stat().st_size < 2 * 2**20
    set_episodes(run, 500)
    fails_clearly(["train", run], capsys, "ep_0400.npz", "would fill the memory")


def npy_header(shape):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return np.lib.format.magic(1, 0) + buffer.getvalue()


def test_an_array_header_asking_for_terabytes_is_refused(run, capsys):
    entry = npy_header((2**40,)) + bytes(64)
    (run / "checkpoints" / "ep_0400.npz").write_bytes(zip_with("weights.npy", entry))
    set_episodes(run, 500)
    fails_clearly(["train", run], capsys, "ep_0400.npz", "damaged")


def other_run_checkpoint(tmp_path, run):
    other = tmp_path / "other"
    shutil.copytree(run, other)
    return other / "checkpoints" / "ep_0100.npz"


ESCAPES = {
    "parent folder": lambda run, outside: "../config.toml",
    "two levels up": lambda run, outside: "../../" + outside.parent.parent.name + "/checkpoints/ep_0100",
    "absolute path outside": lambda run, outside: str(outside),
    "absolute system file": lambda run, outside: "/etc/passwd",
    "through the checkpoints folder": lambda run, outside: "checkpoints/../../other/checkpoints/ep_0100.npz",
    "the replay memory": lambda run, outside: "replay_ep_0300",
    "a temporary file": lambda run, outside: ".tmp-ep_0400.npz.abc123",
    "a link leading out": lambda run, outside: "linked",
    "a folder": lambda run, outside: "subfolder",
    "an empty name": lambda run, outside: "",
    "a very long name": lambda run, outside: "x" * 5000,
    "a name with a NUL": lambda run, outside: "ep_0100\x00../../etc/passwd",
    "a home folder": lambda run, outside: "~/ep_0100",
}


@pytest.mark.parametrize("escape", ESCAPES)
def test_checkpoint_names_cannot_reach_outside_the_run(run, tmp_path, monkeypatch, capsys, escape):
    outside = other_run_checkpoint(tmp_path, run)
    folder = run / "checkpoints"
    (folder / "linked.npz").symlink_to(outside)
    (folder / ".tmp-ep_0400.npz.abc123").write_bytes((folder / "ep_0300.npz").read_bytes())
    (folder / "subfolder.npz").mkdir()
    name = ESCAPES[escape](run, outside)
    before = fingerprints(run)
    monkeypatch.chdir(tmp_path)  # relative names are tried from here, from the run and from checkpoints/
    fails_clearly(["train", run, "--resume", name], capsys)
    fails_clearly(["eval", run, "--checkpoint", name, "--episodes", "1"], capsys)
    with pytest.raises(CheckpointError):
        ckpt.resolve_checkpoint(run, name)
    assert fingerprints(run) == before


def test_a_link_that_stays_inside_the_run_is_followed(run):
    (run / "checkpoints" / "best.npz").symlink_to(run / "checkpoints" / "ep_0200.npz")
    assert ckpt.resolve_checkpoint(run, "best") == (run / "checkpoints" / "ep_0200.npz").resolve()


def test_temporary_files_of_killed_writes_are_removed_and_never_loaded(run, capsys):
    folder = run / "checkpoints"
    # What a kill during a write leaves: a complete-looking temporary file of a later episode.
    (folder / ".tmp-ep_0400.npz.k1ll3d").write_bytes((folder / "ep_0300.npz").read_bytes()[:5000])
    (run / ".tmp-training.log.x9").write_text("half a line")
    set_episodes(run, 320)
    assert main(["train", str(run)]) == 0
    assert "Resuming from ep_0300.npz" in capsys.readouterr().out
    assert temporaries(run) == []


def test_clean_removes_only_the_files_it_listed(run, monkeypatch, capsys):
    late = run / "checkpoints" / "ep_0999.npz"

    def answer_while_training_writes_a_checkpoint(question):
        late.write_bytes(b"written after the list was shown")
        return "y"

    monkeypatch.setattr("builtins.input", answer_while_training_writes_a_checkpoint)
    assert main(["clean", str(run)]) == 0
    listed = capsys.readouterr().out
    assert "ep_0999.npz" not in listed
    assert late.read_bytes() == b"written after the list was shown"
    assert sorted(path.name for path in (run / "checkpoints").iterdir()) == ["ep_0999.npz"]


def test_clean_never_follows_links_out_of_the_run(run, tmp_path, capsys):
    outside = tmp_path / "precious"
    outside.mkdir()
    for name in ("ep_0500.npz", "training.log", "episodes.csv", ".tmp-x"):
        (outside / name).write_text("not yours")
    (run / "training.log").unlink()
    (run / "training.log").symlink_to(outside / "training.log")
    (run / "episodes.csv").unlink()
    (run / "episodes.csv").symlink_to(outside / "episodes.csv")
    (run / "checkpoints" / "ep_0500.npz").symlink_to(outside / "ep_0500.npz")
    (run / "checkpoints" / ".tmp-x").symlink_to(outside / ".tmp-x")
    (run / "checkpoints" / "into_outside.npz").symlink_to(outside, target_is_directory=True)
    assert main(["clean", str(run), "--yes"]) == 0
    assert sorted(path.name for path in outside.iterdir()) == sorted([".tmp-x", "episodes.csv", "ep_0500.npz",
                                                                      "training.log"])
    assert all(path.read_text() == "not yours" for path in outside.iterdir())
    assert sorted(path.name for path in run.rglob("*")) == [".lock", "checkpoints", "config.toml"]


# --------------------------------------------------------------------------- 5. a full disk

def fill_the_disk_while_writing(monkeypatch, file_name, after=0):
    """Make the write of ``file_name`` fail with ENOSPC, as a full disk does, on its
    (after+1)-th write. The failure comes from fsync, once the bytes are in the temporary file."""
    real_fsync = os.fsync
    writes = []

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if Path(target).name.startswith(f".tmp-{file_name}."):
            writes.append(target)
            if len(writes) > after:
                raise OSError(errno.ENOSPC, "No space left on device", target)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see which file is written")
@pytest.mark.parametrize("file_name, after", [
    ("ep_0400.npz", 0),
    ("ep_0350.npz", 0),           # the last checkpoint of the run...
    ("final.npz", 0),             # ...and final.npz, written right after it
    ("replay_ep_0350.npz", 0),
    ("episodes.csv", 0),
    ("training.log", 0),          # the session's first line
    ("training.log", 1),          # the line of the first checkpoint
    ("config.toml", 0),           # written when training starts
])
def test_a_full_disk_stops_training_clearly_and_keeps_every_checkpoint(run, monkeypatch, capsys,
                                                                       file_name, after):
    set_episodes(run, 450 if file_name == "ep_0400.npz" else 350)
    before = fingerprints(run)
    with monkeypatch.context() as patch:
        fill_the_disk_while_writing(patch, file_name, after)
        message = fails_clearly(["train", run], capsys, "The disk is full", "free some space", file_name)
    assert "Traceback" not in message
    assert temporaries(run) == []
    kept = fingerprints(run)
    assert all(kept[name] == before[name] for name in ("ep_0100.npz", "ep_0200.npz", "ep_0300.npz"))
    assert every_checkpoint_loads(run)
    # With space again, the same command goes on from the last checkpoint that was saved.
    assert main(["train", str(run)]) == 0
    assert every_checkpoint_loads(run)
    rows = (run / "episodes.csv").read_text().splitlines()[1:]
    last = 450 if file_name == "ep_0400.npz" else 350
    assert [int(row.split(",")[0]) for row in rows] == list(range(1, last + 1))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see which file is written")
def test_a_full_disk_message_says_which_checkpoint_is_the_latest_intact(run, monkeypatch, capsys):
    set_episodes(run, 450)
    with monkeypatch.context() as patch:
        fill_the_disk_while_writing(patch, "ep_0400.npz")
        message = fails_clearly(["train", run], capsys)
    assert "Training stopped after episode 400" in message
    assert "Episodes 1-300 are kept in checkpoint ep_0300.npz" in message
    assert f"retro-gamer train {run}" in message


def test_every_other_write_error_is_a_clear_message_too(run, monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(run / "checkpoints" / "x"))

    set_episodes(run, 350)
    monkeypatch.setattr("tempfile.mkstemp", refuse)
    fails_clearly(["train", run], capsys, "Permission denied", "permissions")
    assert every_checkpoint_loads(run)


# --------------------------------------------------------------------------- 6. games that misbehave

FAULTY_GAME = '''\
"""The reach game, which misbehaves in one way once the file BREAK exists beside it."""
from pathlib import Path

import reach

BREAK = Path(__file__).with_name("BREAK")


class Saboteur:
    name = "saboteur"
    character = "s"
    display = False
    position = (0, 0)

    def __init__(self, fault):
        self.fault = fault

    def play_turn(self, game):
        if game.turn_number < 2:
            return
        if self.fault == "raise":
            raise ZeroDivisionError("the saboteur divided by zero")
        if self.fault == "lose the key":
            game.state.pop("where", None)
        if self.fault == "text reward":
            game.state["score"] = "lots"


def create_game():
    game = reach.create_game()
    game.state["where"] = 0
    if BREAK.exists():
        fault = BREAK.read_text()
        if fault == "factory":
            raise RuntimeError("the level file is missing")
        game.add_agent(Saboteur(fault))
    return game
'''


@pytest.fixture
def faulty_game(tmp_path, monkeypatch):
    """The folder of a game that breaks in the way written into its BREAK file."""
    folder = tmp_path / "faulty"
    folder.mkdir()
    shutil.copy(GAMES / "reach.py", folder / "reach.py")
    (folder / "faulty_reach.py").write_text(FAULTY_GAME)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "faulty_reach", raising=False)
    import faulty_reach
    return folder, faulty_reach


FAULTS = {
    "raise": ("ZeroDivisionError", "the saboteur divided by zero", "faulty_reach.py"),
    "lose the key": ("'where'",),
    "text reward": ("'score'", "'lots'"),
    "factory": ("RuntimeError", "the level file is missing", "faulty_reach.py"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_game_that_breaks_at_episode_250_keeps_episodes_1_to_249(faulty_game, tmp_path, fault):
    folder, module = faulty_game
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"],
                            observe_state=["where"])
    run = tmp_path / "run"

    def new_trainer():
        return DQNTrainer(module.create_game, metadata, run, hidden_sizes=[8], batch_size=8,
                          memory_capacity=200, seed=1, training_episodes=400)

    def break_after_episode_249(stats):
        if stats["episode"] == 249:
            module.BREAK.write_text(fault)

    with pytest.raises(GameError) as stopped:
        new_trainer().train(on_episode=break_after_episode_249)
    message = str(stopped.value)
    for text in FAULTS[fault]:
        assert text in message, (text, message)
    assert "Episodes 1-249 are kept in checkpoint ep_0249.npz" in message
    assert f"retro-gamer train {run}" in message
    assert [path.name for path in ckpt.list_checkpoints(run)] == ["ep_0100.npz", "ep_0200.npz", "ep_0249.npz"]
    assert every_checkpoint_loads(run)
    assert len((run / "episodes.csv").read_text().splitlines()) == 1 + 249

    module.BREAK.unlink()  # the game is fixed: training goes on from episode 250
    trainer = new_trainer()
    assert trainer.resume().name == "ep_0249.npz"
    assert trainer.episode == 249


def test_a_game_that_breaks_before_any_episode_finished_says_nothing_was_lost(faulty_game, tmp_path):
    folder, module = faulty_game
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    trainer = DQNTrainer(module.create_game, metadata, tmp_path / "run", hidden_sizes=[8], batch_size=8,
                         memory_capacity=200, seed=1, training_episodes=5)
    module.BREAK.write_text("raise")
    with pytest.raises(GameError, match="No checkpoint had been saved yet, so training starts again from episode 1"):
        trainer.train()
    assert ckpt.list_checkpoints(tmp_path / "run") == []


def test_a_game_that_breaks_under_the_command_line_points_at_the_game(faulty_game, tmp_path, capsys):
    folder, module = faulty_game
    run = tmp_path / "run"
    (folder / "pyproject.toml").write_text(PYPROJECT)
    assert main(["create", "--game", str(folder / "faulty_reach.py"), "--output", str(run),
                 "--training-episodes", "150", *TINY]) == 0
    assert main(["train", str(run)]) == 0
    set_episodes(run, 300)
    module.BREAK.write_text("raise")
    fails_clearly(["train", run], capsys, "faulty_reach.py", "ZeroDivisionError",
                  "Episodes 1-150 are kept in checkpoint ep_0150.npz")
    assert every_checkpoint_loads(run)


# --------------------------------------------------------------------------- other ways training stops

def test_an_error_in_a_callback_still_keeps_the_finished_episodes(tmp_path):
    sys.path.insert(0, str(GAMES))
    try:
        import reach
    finally:
        sys.path.remove(str(GAMES))
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    trainer = DQNTrainer(reach.create_game, metadata, tmp_path, hidden_sizes=[8], batch_size=8,
                         memory_capacity=200, seed=1, training_episodes=300)

    def broken_callback(stats):
        if stats["episode"] == 150:
            raise ValueError("the learner's own callback failed")

    with pytest.raises(ValueError, match="own callback"):
        trainer.train(on_episode=broken_callback)
    assert [path.name for path in ckpt.list_checkpoints(tmp_path)] == ["ep_0100.npz", "ep_0150.npz"]
    assert every_checkpoint_loads(tmp_path)


def test_a_reader_that_stops_reading_the_progress_loses_nothing(run, tmp_path):
    """retro-gamer train RUN | head -1: the pipe closes, training stops quietly, work is kept."""
    set_episodes(run, 100000)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    child = subprocess.Popen([sys.executable, "-c", "import sys; from retro_gamer.cli import main; "
                              "sys.exit(main())", "train", str(run)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    child.stdout.readline()
    child.stdout.close()  # like head, once it has its line
    status = child.wait(timeout=60)
    err = child.stderr.read().decode()
    assert status in (0, 1), err
    assert "Traceback" not in err and "unexpected" not in err, err
    assert ckpt.episode_of(ckpt.latest_checkpoint(run)) >= 300
    assert every_checkpoint_loads(run)
    assert temporaries(run) == []


def test_signals_the_process_ignores_stay_ignored():
    """Under nohup (SIGHUP ignored) or a shell's background job (SIGINT ignored), training
    must not start reacting to them, not even while a checkpoint is written."""
    from retro_gamer.run import session

    saved = {number: signal.getsignal(number) for number in session.STOP_SIGNALS}
    try:
        for number in session.STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        with session.stop_signals(), session.deferred_stop():
            assert all(signal.getsignal(number) == signal.SIG_IGN for number in session.STOP_SIGNALS)
        assert all(signal.getsignal(number) == signal.SIG_IGN for number in session.STOP_SIGNALS)
        for number in session.STOP_SIGNALS:
            signal.signal(number, signal.SIG_DFL)
        with session.stop_signals():
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for number, handler in saved.items():
            signal.signal(number, handler)
