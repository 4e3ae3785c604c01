"""Checkpoints: naming, finding, reading and refusing the ``.npz`` files of a run.

A checkpoint is a plain ``.npz`` archive of arrays, loaded with ``numpy.load(allow_pickle=False)``:
opening one a classmate sent you can never run code. Its keys:

- ``format``                     the string FORMAT, to recognise our files
- ``model/<name>``, ``target/<name>``  the online and target networks' weights (PyTorch's names)
- ``adam/m/<name>``, ``adam/v/<name>``, ``adam/steps``  Adam's two moments and its step count
- ``learning_rate``, ``epsilon``, ``total_steps``, ``train_steps``, ``episode``,
  ``total_training_seconds``     the counters of training
- ``rng/python``, ``rng/numpy``  the random-number states (JSON text), for exact resume
- ``config_snapshot``, ``starting_values``  JSON text: the settings that fix the network's
  shape (checked on resume), and learning_rate and epsilon as config.toml gave them

The replay memory is saved beside the latest checkpoint as ``replay_ep_NNNN.npz``, written
before the checkpoint it belongs to and the previous one removed after, so the latest
checkpoint finds its own memory even after a SIGKILL between the writes. Both engines write
and read the same files.
"""
import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from retro_gamer.errors import CheckpointError
from retro_gamer.run.files import is_temporary

CHECKPOINT_DIR = "checkpoints"
FORMAT = "retro-gamer-numpy checkpoint v1"
_EPISODE_NAME = re.compile(r"^ep_(\d+)\.(?:npz|pt)$")
# A checkpoint is stored uncompressed, so its arrays take about as much room as the file: one
# claiming to unpack into far more ("zip bomb") would only exhaust the memory.
MAX_UNPACKED_RATIO, MAX_UNPACKED_SLACK = 8, 64 * 2**20
# Settings that fix the network's shape or the meaning of its inputs and outputs: a checkpoint
# trained with other values cannot be resumed. Each comes with the reason a user reads.
SHAPE_FIXING_FIELDS = {
    "actions": "the actions the agent can take (changes the output layer size)",
    "reward": "the reward signal: Q-values learned for the old reward mean nothing for the new one",
    "character_set": "the set of board characters (changes input layer size)",
    "board_size": "the board dimensions (changes input layer size)",
    "observation_function": "how observations are computed (changes the input)",
    "spatial": "CNN or MLP (changes the network architecture)",
    "board": "whether the board is part of the observation (changes input layer size)",
    "observe_state": "the game-state values appended to the observation (changes input layer size)",
    "observe_state_sizes": "how many numbers each observe_state key holds (changes input layer size)",
    "egocentric": "whether the board is cropped around the player (changes the input)",
    "egocentric_player": "which agent the egocentric crop follows (changes what the input means)",
    "egocentric_radius": "the size of the egocentric crop (changes input layer size)",
    "hidden_sizes": "the hidden layer sizes (changes the network's shape)",
}


def checkpoint_name(episode: int) -> str:
    """'ep_0100' for episode 100 (four digits at least, so that names sort by episode)."""
    return f"ep_{episode:04d}"


def replay_path(run_dir, episode: int) -> Path:
    """Where the replay memory saved with checkpoint ep_NNNN lives."""
    return Path(run_dir) / CHECKPOINT_DIR / f"replay_{checkpoint_name(episode)}.npz"


def is_replay(path) -> bool:
    """True for a saved replay memory (replay_ep_NNNN.npz, or an older run's replay_memory.npz)."""
    return Path(str(path)).name.startswith("replay_")


def episode_of(path) -> int | None:
    """The episode number in an ``ep_NNNN.npz`` name, or None for other files."""
    match = _EPISODE_NAME.match(Path(str(path)).name)
    return int(match.group(1)) if match else None


def _files(run_dir, suffix: str) -> list:
    """The files of RUN_DIR/checkpoints/ ending in ``suffix``; run_dir is a path or an
    importlib.resources folder (a policy shipped inside a game's package)."""
    folder = (Path(run_dir) if isinstance(run_dir, str) else run_dir).joinpath(CHECKPOINT_DIR)
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.name.endswith(suffix) and p.is_file()]


def list_checkpoints(run_dir) -> list:
    """The run's checkpoints: ``ep_*.npz`` by episode number, then ``final.npz``."""
    files = _files(run_dir, ".npz")
    return sorted((p for p in files if episode_of(p) is not None), key=episode_of) + \
        [p for p in files if p.name == "final.npz"]


def published_checkpoints(run_dir) -> list:
    """The ``.pt`` checkpoints of the published PyTorch retro-gamer in the run's folder."""
    return sorted(_files(run_dir, ".pt"), key=lambda p: p.name)


def latest_checkpoint(run_dir):
    """The ``ep_*.npz`` with the highest episode number (``final.npz`` if there is none), or None.
    A run holding only the published package's ``.pt`` files gives one of those, so that
    whoever loads it learns why it cannot be used instead of silently starting afresh."""
    checkpoints = list_checkpoints(run_dir) or published_checkpoints(run_dir)
    episodes = [p for p in checkpoints if episode_of(p) is not None]
    return (episodes or checkpoints or [None])[-1]


def previous_checkpoint(run_dir, before: Path) -> Path | None:
    """The newest ``ep_*.npz`` before ``before`` that reads correctly (offered when it is broken)."""
    limit = episode_of(before) or float("inf")
    earlier = [p for p in list_checkpoints(run_dir) if episode_of(p) is not None and episode_of(p) < limit]
    for path in reversed(earlier):
        try:
            read_checkpoint(path)
            return path
        except CheckpointError:
            continue
    return None


def resolve_checkpoint(run_dir, name: str):
    """The file a user means by ``name``: ``ep_0100``, ``ep_0100.npz``, ``final`` or a path to a
    file inside RUN_DIR/checkpoints/ (links resolved first: nothing outside can be named).
    Temporary files and saved replay memories are refused. In a packaged policy folder
    only the plain names are accepted."""
    given = Path(name if name.endswith((".npz", ".pt")) else name + ".npz")
    listing = f"list them with 'retro-gamer info {run_dir}'"
    if "\0" in name or not name.strip():
        raise CheckpointError(f"{name!r} is not a checkpoint name. Name one as ep_0100, ep_0100.npz or final "
                              f"({listing}).")
    if not isinstance(run_dir, (str, Path)):                            # a packaged policy
        found = [p for p in _files(run_dir, given.suffix) if str(given) == p.name and not is_replay(p)]
        if not found:
            names = ", ".join(Path(p.name).stem for p in list_checkpoints(run_dir)) or "none"
            raise CheckpointError(f"There is no checkpoint '{name}' in the bundled policy {run_dir} (it has: "
                                  f"{names}). Name one of those, or leave the checkpoint out for the latest.")
        return found[0]
    folder = (Path(run_dir) / CHECKPOINT_DIR).resolve()
    # A bare name lives in checkpoints/; a path may be relative to here, to the run or to checkpoints/.
    candidates = [given, Path(run_dir) / given, folder / given] if len(given.parts) > 1 else [folder / given]
    fallback = candidates[-1]
    if given.suffix == ".npz":        # the published package's file of that name, to explain it
        candidates += [c.with_suffix(".pt") for c in candidates]
    try:
        resolved = next((c for c in candidates if c.exists()), fallback).resolve()
    except (OSError, RuntimeError) as error:          # a name too long, a loop of links
        raise CheckpointError(f"Cannot use the checkpoint name {name!r}: {error}.") from None
    if resolved.parent != folder:
        raise CheckpointError(f"'{name}' is not a checkpoint of this run: checkpoints are read only from "
                              f"{folder}/. Name one as ep_0100, ep_0100.npz or final ({listing}).")
    if is_replay(resolved) or is_temporary(resolved):
        what = ("the saved replay memory" if is_replay(resolved)
                else "a temporary file left by an interrupted write")
        raise CheckpointError(f"{resolved.name} is {what}, not a checkpoint. Name a checkpoint such as "
                              "ep_0100 or final.")
    if not resolved.is_file():
        available = ", ".join(p.stem for p in list_checkpoints(run_dir)) or "none yet"
        raise CheckpointError(f"There is no checkpoint '{name}' in {folder}/ (available: {available}). "
                              f"Checkpoints are written every 100 episodes by 'retro-gamer train {run_dir}'.")
    return resolved


def save_arrays(arrays: dict) -> dict[str, np.ndarray]:
    """Checkpoint arrays with the format tag added."""
    return {"format": np.array(FORMAT), **arrays}


def read_checkpoint(source, name: str | None = None) -> dict[str, np.ndarray]:
    """Every array of a checkpoint (a path, or its bytes), refusing anything that is not one of
    ours with a CheckpointError that says what it is and what to do."""
    label = name or (str(source) if not isinstance(source, bytes) else "checkpoint")
    run = str(Path(source).parent.parent) if not isinstance(source, bytes) and \
        Path(source).parent.name == CHECKPOINT_DIR else "RUN_DIR"
    published = (f"{label} looks like a checkpoint of the published PyTorch retro-gamer (.pt). This NumPy "
                 "edition reads only its own .npz checkpoints, and never unpickles files. Keep config.toml, "
                 f"remove the .pt files with 'retro-gamer clean {run}', and train again with 'retro-gamer "
                 f"train {run}'.")
    pickled = (f"{label} was refused: it contains a pickled Python object, which could run code when loaded. "
               "retro-gamer checkpoints hold only numbers and text, and nothing in this file was run. Do "
               "not use it; ask its author for a checkpoint written by retro-gamer.")

    def broken(detail: str) -> CheckpointError:
        return CheckpointError(f"Checkpoint {label} is damaged and cannot be read ({detail}). This happens "
                               "when a copy was cut short. Use an earlier checkpoint (list them with "
                               f"'retro-gamer info {run}'), or delete this file and run 'retro-gamer train "
                               f"{run}' to resume from the previous one.")

    if isinstance(source, bytes):
        data = source
    elif Path(source).suffix == ".pt":
        raise CheckpointError(published)
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as error:
            raise CheckpointError(f"Checkpoint {label} cannot be read: {error.strerror or error}.") from None
    if not data:
        raise broken("the file is empty (0 bytes)")
    if data.startswith(b"\x93NUMPY"):
        raise CheckpointError(f"{label} is a single NumPy array (.npy), not a checkpoint. A retro-gamer "
                              "checkpoint is an .npz archive written by 'retro-gamer train'.")
    if data[:1] == b"\x80":           # how every pickle of protocol 2 or later begins
        raise CheckpointError(pickled)
    if not data.startswith(b"PK"):
        raise CheckpointError(f"{label} is not a checkpoint: it is not an .npz archive at all. A retro-gamer "
                              "checkpoint is written by 'retro-gamer train'; pass one of those.")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
        if unpacked > MAX_UNPACKED_RATIO * len(data) + MAX_UNPACKED_SLACK:
            raise CheckpointError(f"{label} was refused: its {len(data):,} bytes claim to unpack into "
                                  f"{unpacked:,} bytes, which would fill the memory. retro-gamer stores "
                                  "checkpoints uncompressed, so this file was not written by retro-gamer. "
                                  "Do not use it.")
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = archive.files
            if any(n.startswith("archive/") or n.endswith(".pkl") for n in names) or \
                    ("format" not in names and any("data.pkl" in n for n in names)):
                raise CheckpointError(published)
            if "format" not in names:
                raise CheckpointError(f"{label} is not a retro-gamer (NumPy edition) checkpoint: it has no "
                                      "'format' entry. Train a run with 'retro-gamer train RUN_DIR' to make "
                                      "checkpoints, or pass a different file.")
            arrays = {n: archive[n] for n in names}
    except CheckpointError:
        raise
    except Exception as error:
        # The bytes come from anywhere: whatever they make the reader trip over (a bad zip entry,
        # a cut-off array, a header asking for terabytes) means the same thing.
        if isinstance(error, ValueError) and "pickle" in str(error).lower():
            raise CheckpointError(pickled) from None
        raise broken(str(error) or type(error).__name__) from None
    tag = arrays["format"]
    if not (tag.shape == () and tag.dtype.kind == "U" and str(tag) == FORMAT):
        shown = str(tag)[:60] if tag.dtype.kind == "U" and tag.size == 1 else f"a {tag.dtype} array"
        raise CheckpointError(f"{label} was written in an unknown checkpoint format ({shown!r}); this "
                              f"version of retro-gamer reads '{FORMAT}'. Upgrade retro-gamer or retrain.")
    return arrays


def model_params(checkpoint: dict, prefix: str = "model/") -> dict[str, np.ndarray]:
    """The arrays stored under ``prefix`` ('model/', 'target/', 'adam/m/', 'memory/', ...)."""
    return {k[len(prefix):]: v for k, v in checkpoint.items() if k.startswith(prefix)}


def json_entry(checkpoint: dict, key: str):
    """A JSON text entry (``config_snapshot``, ``rng/python``, ...), decoded."""
    return json.loads(str(checkpoint[key]))


def check_compatibility(saved: dict, current: dict, path: Path, run_dir) -> None:
    """CheckpointError when the shape-fixing settings saved in a checkpoint differ from the run's:
    per setting what it was, what it is now and why that matters, then how to start afresh."""
    changes = [key for key in SHAPE_FIXING_FIELDS if saved.get(key) != current.get(key)]
    if not changes:
        return
    lines = [f"Cannot resume from {path.name}: incompatible changes detected in config.toml.", "",
             "The following changes require starting fresh. The existing model was",
             "trained on a different problem and its weights cannot be reused:", ""]
    for key in changes:
        lines += [f"  {key}", f"    was : {saved.get(key)!r}", f"    now : {current.get(key)!r}",
                  f"    why : {SHAPE_FIXING_FIELDS[key]}", ""]
    lines += [f"Run 'retro-gamer clean {run_dir}' to remove existing checkpoints and the",
              f"training log, then run 'retro-gamer train {run_dir}' to start fresh."]
    raise CheckpointError("\n".join(lines))
