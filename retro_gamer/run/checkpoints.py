"""Checkpoints: plain ``.npz`` archives of arrays (docs/reference.md lists them), read with numpy.load's
``allow_pickle=False``: opening one a classmate sent you can never run code. Any other file is refused."""
import contextlib
import io
import re
from pathlib import Path

import numpy as np

from retro_gamer.errors import CheckpointError
from retro_gamer.run.files import is_temporary

CHECKPOINT_DIR = "checkpoints"
FORMAT = "retro-gamer-numpy checkpoint v1"
MAX_UNPACKED_RATIO, MAX_UNPACKED_SLACK = 8, 64 * 2**20  # above it, a "zip bomb": ours are uncompressed
SHAPE_FIXING_FIELDS = {  # settings that fix the network's shape or meaning: why changing one bars a resume
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
    return Path(run_dir) / CHECKPOINT_DIR / f"replay_{checkpoint_name(episode)}.npz"


def episode_of(path) -> int | None:
    match = re.match(r"ep_(\d+)\.npz$", Path(str(path)).name)
    return int(match.group(1)) if match else None


def list_checkpoints(run_dir) -> list:
    """The run's checkpoints: ``ep_*.npz`` by episode number, then ``final.npz``."""
    # run_dir is a path, or an importlib.resources folder: a policy shipped inside a game's package.
    folder = (Path(run_dir) if isinstance(run_dir, str) else run_dir).joinpath(CHECKPOINT_DIR)
    files = [p for p in (folder.iterdir() if folder.is_dir() else []) if p.is_file()]
    return sorted((p for p in files if episode_of(p) is not None), key=episode_of) + \
        [p for p in files if p.name == "final.npz"]


def latest_checkpoint(run_dir):
    """The newest ep_*.npz, else final.npz, or None."""
    checkpoints = list_checkpoints(run_dir)
    return ([p for p in checkpoints if episode_of(p) is not None] or checkpoints or [None])[-1]


def previous_checkpoint(run_dir, before: Path) -> Path | None:
    """The newest ``ep_*.npz`` before ``before`` that reads correctly (offered when it is broken)."""
    limit = episode_of(before) or float("inf")
    earlier = [p for p in list_checkpoints(run_dir) if episode_of(p) is not None and episode_of(p) < limit]
    for path in reversed(earlier):
        with contextlib.suppress(CheckpointError):
            read_checkpoint(path)
            return path
    return None


def resolve_checkpoint(run_dir, name: str):
    """The file a user means by ``name``: ep_0100, ep_0100.npz, final or a path inside RUN_DIR/checkpoints/
    (links resolved first: nothing outside can be named); in a packaged policy folder, only a plain name."""
    given = Path(name if name.endswith((".npz", ".pt")) else name + ".npz")
    how = f"Name one as ep_0100, ep_0100.npz or final (list them with 'retro-gamer info {run_dir}')."
    available = ", ".join(Path(p.name).stem for p in list_checkpoints(run_dir)) or "none"
    if "\0" in name or not name.strip():
        raise CheckpointError(f"{name!r} is not a checkpoint name. {how}")
    if not isinstance(run_dir, (str, Path)):                            # a packaged policy
        found = [p for p in list_checkpoints(run_dir) if p.name == str(given)]
        if not found:
            raise CheckpointError(f"There is no checkpoint '{name}' in the bundled policy {run_dir} (it "
                                  f"has: {available}). Name one of those, or leave it out for the latest.")
        return found[0]
    folder = (Path(run_dir) / CHECKPOINT_DIR).resolve()
    # A bare name lives in checkpoints/; a path may be relative to here, to the run or to checkpoints/.
    candidates = ([given, Path(run_dir) / given] if len(given.parts) > 1 else []) + [folder / given]
    try:
        resolved = next((c for c in candidates if c.exists()), candidates[-1]).resolve()
    except (OSError, RuntimeError) as error:          # a name too long, a loop of links
        raise CheckpointError(f"Cannot use the checkpoint name {name!r}: {error}.") from None
    if resolved.parent != folder:
        raise CheckpointError(f"'{name}' is not a checkpoint of this run: checkpoints are read only from "
                              f"{folder}/. {how}")
    replay = resolved.name.startswith("replay_")
    if replay or is_temporary(resolved):
        what = "the saved replay memory" if replay else "a temporary file left by an interrupted write"
        raise CheckpointError(f"{resolved.name} is {what}, not a checkpoint. {how}")
    if not resolved.is_file():
        raise CheckpointError(f"There is no checkpoint '{name}' in {folder}/ (available: {available}). "
                              f"'retro-gamer train {run_dir}' writes a checkpoint every 100 episodes.")
    return resolved


def save_arrays(arrays: dict) -> dict[str, np.ndarray]:
    return {"format": np.array(FORMAT), **arrays}


def read_checkpoint(source, name: str | None = None) -> dict[str, np.ndarray]:
    """Every array of a checkpoint (a path, or its bytes); anything else is a CheckpointError."""
    path = None if isinstance(source, bytes) else Path(source)
    label = name or (str(path) if path is not None else "checkpoint")
    run = path.parent.parent if path is not None and path.parent.name == CHECKPOINT_DIR else "RUN_DIR"

    def foreign(what: str) -> CheckpointError:
        return CheckpointError(f"{label} is not a retro-gamer checkpoint: {what}. A checkpoint of ours is "
                               f"an .npz archive written by 'retro-gamer train {run}'; pass one of those.")

    def dangerous(what: str) -> CheckpointError:
        return CheckpointError(f"{label} was refused: {what}. Nothing in this file was run. "
                               "Do not use it; ask its author for a checkpoint written by retro-gamer.")

    def broken(detail: str) -> CheckpointError:
        return CheckpointError(f"Checkpoint {label} is damaged and cannot be read ({detail}), as when a "
                               "copy is cut short. Use an earlier checkpoint (list them with 'retro-gamer "
                               f"info {run}'), or delete this file and resume from the one before "
                               f"('retro-gamer train {run}').")

    pickled = dangerous("it contains a pickled Python object, which could run code when loaded; retro-gamer "
                        "checkpoints hold only numbers and text")
    torch = "it is a PyTorch file, as the published retro-gamer writes, which this edition never unpickles"
    if path is not None and path.suffix == ".pt":
        raise foreign(torch)
    try:
        data = source if path is None else path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"Checkpoint {label} cannot be read: {error.strerror or error}.") from None
    if not data:
        raise broken("the file is empty (0 bytes)")
    if data[:1] == b"\x80":           # how every pickle of protocol 2 or later begins
        raise pickled
    if not data.startswith(b"PK"):    # an .npz is a zip archive
        raise foreign("it is a single NumPy array (.npy)" if data.startswith(b"\x93NUMPY")
                      else "it is not an .npz archive at all")
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:   # reads only the entry list
            unpacked = sum(entry.file_size for entry in archive.zip.infolist())
            if unpacked > MAX_UNPACKED_RATIO * len(data) + MAX_UNPACKED_SLACK:
                raise dangerous(f"its {len(data):,} bytes claim to unpack into {unpacked:,} bytes, which "
                                "would fill the memory; retro-gamer stores checkpoints uncompressed, so it "
                                "did not write this file")
            names = archive.files
            if any(n.startswith("archive/") or n.endswith(".pkl") for n in names):     # torch.save's zip
                raise foreign(torch)
            if "format" not in names:
                raise foreign("it has no 'format' entry")
            arrays = {n: archive[n] for n in names}
    except CheckpointError:
        raise
    except Exception as error:        # bytes from anywhere: whatever the reader trips over is damage
        if isinstance(error, ValueError) and "pickle" in str(error).lower():
            raise pickled from None
        raise broken(str(error) or type(error).__name__) from None
    tag = arrays["format"]
    if not (tag.shape == () and tag.dtype.kind == "U" and str(tag) == FORMAT):
        shown = str(tag)[:60] if tag.dtype.kind == "U" and tag.size == 1 else f"a {tag.dtype} array"
        raise CheckpointError(f"{label} was written in an unknown checkpoint format ({shown!r}); this "
                              f"version of retro-gamer reads '{FORMAT}'. Upgrade retro-gamer or retrain.")
    return arrays


def model_params(checkpoint: dict, prefix: str = "model/") -> dict[str, np.ndarray]:
    return {k[len(prefix):]: v for k, v in checkpoint.items() if k.startswith(prefix)}


def check_compatibility(saved: dict, current: dict, path: Path, run_dir) -> None:
    """CheckpointError when the shape-fixing settings saved in a checkpoint differ from the run's."""
    if changes := [key for key in SHAPE_FIXING_FIELDS if saved.get(key) != current.get(key)]:
        details = "".join(f"  {key}\n    was : {saved.get(key)!r}\n    now : {current.get(key)!r}\n"
                          f"    why : {SHAPE_FIXING_FIELDS[key]}\n\n" for key in changes)
        raise CheckpointError(
            f"Cannot resume from {path.name}: incompatible changes detected in config.toml.\n\n"
            "The following changes require starting fresh. The existing model was\n"
            f"trained on a different problem and its weights cannot be reused:\n\n{details}"
            f"Run 'retro-gamer clean {run_dir}' to remove existing checkpoints and the\n"
            f"training log, then run 'retro-gamer train {run_dir}' to start fresh.")
