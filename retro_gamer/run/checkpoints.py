"""Checkpoints: finding, naming, reading and writing the ``.npz`` files of a run.

A checkpoint is a plain ``.npz`` archive of numeric arrays, loaded with
``numpy.load(allow_pickle=False)``: opening a checkpoint a classmate sent you can never
run code. It holds (keys):

- ``format``                      the string FORMAT, to recognise our files
- ``model/<name>``                the online Q-network's weights (names as PyTorch's state_dict)
- ``target/<name>``               the target network's weights
- ``adam/m/<name>``, ``adam/v/<name>``, ``adam/steps``  Adam's two moments and its step count
- ``learning_rate``, ``epsilon``, ``total_steps``, ``train_steps``, ``episode``,
  ``total_training_seconds``      the counters of training
- ``rng/python``, ``rng/numpy``   the random-number states (JSON text), for exact resume
- ``config_snapshot``             JSON text of the settings that fix the network's shape

The replay memory is saved beside the latest checkpoint, in ``replay_ep_NNNN.npz`` (written
before the checkpoint it belongs to; the previous one is removed after it), so that the
latest checkpoint always finds its own memory, even after a SIGKILL between the two writes.
Both engines write and read the same files.
"""
from __future__ import annotations

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
_EPISODE_NAME = re.compile(r"^ep_(\d+)\.npz$")


def checkpoint_name(episode: int) -> str:
    """'ep_0100' for episode 100 (at least four digits, so names sort by episode)."""
    return f"ep_{episode:04d}"


def replay_path(run_dir, episode: int) -> Path:
    """Where the replay memory saved with checkpoint ep_NNNN lives."""
    return Path(run_dir) / CHECKPOINT_DIR / f"replay_{checkpoint_name(episode)}.npz"


def is_replay(path) -> bool:
    """True for a saved replay memory (replay_ep_NNNN.npz, or an older run's replay_memory.npz)."""
    return Path(path).name.startswith("replay_")


def episode_of(path: str | Path) -> int | None:
    """The episode number in an ``ep_NNNN.npz`` name, or None for other files."""
    match = _EPISODE_NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's checkpoints: ``ep_*.npz`` by episode number, then ``final.npz``."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    episodes = sorted(
        (p for p in folder.iterdir() if episode_of(p) is not None and p.is_file()),
        key=episode_of,
    )
    final = folder / "final.npz"
    return episodes + ([final] if final.is_file() else [])


def published_checkpoints(run_dir: str | Path) -> list[Path]:
    """The ``.pt`` checkpoints of the published PyTorch retro-gamer in the run's folder."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix == ".pt" and p.is_file())


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The ``ep_*.npz`` with the highest episode number (``final.npz`` if there is none).

    A run that holds only the published package's ``.pt`` checkpoints gives its newest
    ``.pt`` file, so that whoever loads it learns why it cannot be used (read_checkpoint
    refuses it with what to do) instead of silently starting from nothing.
    """
    checkpoints = list_checkpoints(run_dir)
    if not checkpoints:
        published = published_checkpoints(run_dir)
        by_episode = sorted(published, key=lambda p: (episode_of(p.with_suffix(".npz")) or -1, p.name))
        return by_episode[-1] if by_episode else None
    episodes = [p for p in checkpoints if episode_of(p) is not None]
    return (episodes or checkpoints)[-1]


def previous_checkpoint(run_dir: str | Path, before: Path) -> Path | None:
    """The newest ``ep_*.npz`` before ``before`` that reads correctly (to offer when
    ``before`` is broken), or None."""
    candidates = [p for p in list_checkpoints(run_dir) if episode_of(p) is not None]
    older = [p for p in candidates if episode_of(p) < (episode_of(before) or 10**9)]
    for path in reversed(older):
        try:
            read_checkpoint(path)
        except CheckpointError:
            continue
        return path
    return None


def resolve_checkpoint(run_dir: str | Path, name: str) -> Path:
    """The file a user means by ``name``: ``ep_0100``, ``ep_0100.npz``, ``final`` or a
    path to a file inside ``RUN_DIR/checkpoints/``. Nothing outside that folder can be named.

    Symbolic links are resolved before the check, so a link cannot lead outside either;
    temporary files of interrupted writes and the saved replay memory are refused.
    """
    folder = (Path(run_dir) / CHECKPOINT_DIR).resolve()
    if "\0" in name or not name.strip():
        raise CheckpointError(
            f"{name!r} is not a checkpoint name. Name one as ep_0100, ep_0100.npz or final "
            f"(list them with 'retro-gamer info {run_dir}')."
        )
    given = Path(name if name.endswith((".npz", ".pt")) else name + ".npz")
    # A bare name lives in the checkpoints folder; a path may be relative to the current
    # folder, to the run directory, or to the checkpoints folder.
    candidates = [folder / given]
    if given.is_absolute() or len(given.parts) > 1:
        candidates = [given, Path(run_dir) / given, folder / given]
    fallback = candidates[-1]
    if given.suffix == ".npz":
        # The published package's file of the same name, to explain why it cannot be read.
        candidates += [c.with_suffix(".pt") for c in candidates]
    try:
        existing = [c for c in candidates if c.exists()] or [fallback]
        resolved = existing[0].resolve()
    except (OSError, RuntimeError) as error:  # a name too long, a loop of links
        raise CheckpointError(f"Cannot use the checkpoint name {name!r}: {error}.") from None
    if resolved.parent != folder:
        raise CheckpointError(
            f"'{name}' is not a checkpoint of this run: checkpoints are read only from "
            f"{folder}/. Name one as ep_0100, ep_0100.npz or final "
            f"(list them with 'retro-gamer info {run_dir}')."
        )
    if is_replay(resolved) or is_temporary(resolved):
        what = ("the saved replay memory" if is_replay(resolved)
                else "a temporary file left by an interrupted write")
        raise CheckpointError(
            f"{resolved.name} is {what}, not a checkpoint. "
            f"Name a checkpoint such as ep_0100 or final."
        )
    if not resolved.is_file():
        available = ", ".join(p.stem for p in list_checkpoints(run_dir)) or "none yet"
        raise CheckpointError(
            f"There is no checkpoint '{name}' in {folder}/ (available: {available}). "
            f"Checkpoints are written every 100 episodes by 'retro-gamer train {run_dir}'."
        )
    return resolved


def save_arrays(arrays: dict) -> dict[str, np.ndarray]:
    """Checkpoint arrays with the format tag added (JSON values stay text)."""
    return {"format": np.array(FORMAT), **arrays}


def read_checkpoint(source: str | Path | bytes, name: str | None = None) -> dict[str, np.ndarray]:
    """Load every array of a checkpoint, refusing anything that is not one of ours.

    ``source`` is a path or the file's bytes (a policy shipped inside a package).
    Raises CheckpointError with what is wrong and what to do.
    """
    label = name or str(source if not isinstance(source, bytes) else "checkpoint")
    run = _run_of(source)
    if not isinstance(source, bytes):
        path = Path(source)
        if path.suffix == ".pt":
            raise CheckpointError(_published_message(label, run))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"Checkpoint {label} does not exist.") from None
        except OSError as error:
            raise CheckpointError(f"Checkpoint {label} cannot be read: {error.strerror or error}.") from None
    else:
        data = source
    _check_container(data, label, run)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            names = archive.files
            if any(n.startswith("archive/") or n.endswith(".pkl") for n in names) or (
                "format" not in names and any("data.pkl" in n for n in names)
            ):
                raise CheckpointError(_published_message(label, run))
            if "format" not in names:
                raise CheckpointError(
                    f"{label} is not a retro-gamer (NumPy edition) checkpoint: it has no 'format' "
                    f"entry. Train a run with 'retro-gamer train RUN_DIR' to make checkpoints, or "
                    f"pass a different file."
                )
            arrays = {n: archive[n] for n in names}
    except CheckpointError:
        raise
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise CheckpointError(_pickle_message(label)) from None
        raise CheckpointError(_broken_message(label, run, str(error))) from None
    except Exception as error:
        # The bytes come from anywhere: whatever they make the reader trip over (a bad
        # zip entry, a cut-off array, a header asking for terabytes) means the same thing.
        raise CheckpointError(_broken_message(label, run, str(error) or type(error).__name__)) from None
    tag = arrays["format"]
    if not (tag.shape == () and tag.dtype.kind == "U" and str(tag) == FORMAT):
        shown = str(tag)[:60] if tag.dtype.kind == "U" and tag.size == 1 else f"a {tag.dtype} array"
        raise CheckpointError(
            f"{label} was written in an unknown checkpoint format ({shown!r}); "
            f"this version of retro-gamer reads '{FORMAT}'. Upgrade retro-gamer or retrain."
        )
    return arrays


# How much larger than the file its arrays may claim to be. Checkpoints are stored
# uncompressed, so their arrays take about as much room as the file; a small file that
# unpacks into gigabytes ("zip bomb") would only exhaust the memory.
MAX_UNPACKED_RATIO = 8
MAX_UNPACKED_SLACK = 64 * 2**20


def _check_container(data: bytes, label: str, run: str) -> None:
    """Refuse what is not a sound .npz archive before NumPy reads any of it."""
    if not data:
        raise CheckpointError(_broken_message(label, run, "the file is empty (0 bytes)"))
    if data.startswith(b"\x93NUMPY"):
        raise CheckpointError(
            f"{label} is a single NumPy array (.npy), not a checkpoint. A retro-gamer checkpoint "
            f"is an .npz archive written by 'retro-gamer train'."
        )
    if data[:1] == b"\x80":  # how every pickle of protocol 2 or later begins
        raise CheckpointError(_pickle_message(label))
    if not data.startswith(b"PK"):
        raise CheckpointError(
            f"{label} is not a checkpoint: it is not an .npz archive at all. A retro-gamer "
            f"checkpoint is written by 'retro-gamer train'; pass one of those."
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except Exception as error:
        raise CheckpointError(_broken_message(label, run, str(error) or type(error).__name__)) from None
    if unpacked > MAX_UNPACKED_RATIO * len(data) + MAX_UNPACKED_SLACK:
        raise CheckpointError(
            f"{label} was refused: its {len(data):,} bytes claim to unpack into {unpacked:,} bytes, "
            f"which would fill the memory. retro-gamer stores checkpoints uncompressed, so this "
            f"file was not written by retro-gamer. Do not use it."
        )


def model_params(checkpoint: dict[str, np.ndarray], prefix: str = "model/") -> dict[str, np.ndarray]:
    """The network weights stored under ``prefix`` ('model/' or 'target/')."""
    return {k[len(prefix):]: v for k, v in checkpoint.items() if k.startswith(prefix)}


def json_entry(checkpoint: dict[str, np.ndarray], key: str):
    """Decode a JSON text entry (``config_snapshot``, ``rng/python``, ...)."""
    return json.loads(str(checkpoint[key]))


def _run_of(source) -> str:
    """The run folder of a checkpoint path, for the commands a message suggests."""
    if isinstance(source, bytes) or Path(source).parent.name != CHECKPOINT_DIR:
        return "RUN_DIR"
    return str(Path(source).parent.parent)


def _broken_message(label: str, run: str, detail: str) -> str:
    return (
        f"Checkpoint {label} is damaged and cannot be read ({detail}). This happens when a "
        f"copy was cut short. Use an earlier checkpoint (list them with 'retro-gamer info "
        f"{run}'), or delete this file and run 'retro-gamer train {run}' to resume from "
        f"the previous one."
    )


def _pickle_message(label: str) -> str:
    return (
        f"{label} was refused: it contains a pickled Python object, which could run "
        f"code when loaded. retro-gamer checkpoints hold only numbers and text, and nothing "
        f"in this file was run. Do not use it; ask its author for a checkpoint written by retro-gamer."
    )


def _published_message(label: str, run: str) -> str:
    return (
        f"{label} looks like a checkpoint of the published PyTorch retro-gamer (.pt). "
        f"This NumPy edition reads only its own .npz checkpoints, and never unpickles files. "
        f"Keep config.toml, remove the .pt files with 'retro-gamer clean {run}', and "
        f"train again with 'retro-gamer train {run}'."
    )
