"""Using a trained agent: TrainedPolicy picks actions, PolicyInput presses them.

``TrainedPolicy("runs/snake/")`` reads the run's config.toml, rebuilds the Q-network
and loads a checkpoint; ``get_action(game)`` then looks at any live game and returns the
key with the highest Q-value. This is the greedy policy: no exploration, the agent does
what it believes is best. ``PolicyInput(policy, game)`` is a retro-games input source,
so a policy can replace the keyboard of an unchanged game::

    game.play(input_source=PolicyInput(TrainedPolicy("runs/snake/"), game))

A game may ship its own trained agent: pass an ``importlib.resources`` folder as
``run_dir`` (``files("my_game") / "policy"``); only config.toml and the checkpoints are
read from it, through the resources API, so it works from a wheel or a zip too.

Speed: a game may ask several agents for an action every turn, so ``get_action`` reads
the board as one byte per cell (ObservationEncoder.codes, visiting only the occupied
cells), and the network's first layer adds up the weight columns of those few occupied
cells instead of multiplying a mostly-zero one-hot vector (``forward_codes``). The
buffers for the board are made once and reused every call.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from blessed.keyboard import Keystroke

from retro_gamer.errors import CheckpointError, ConfigError, GameError
from retro_gamer.run import checkpoints


class TrainedPolicy:
    """The greedy policy of a trained Q-network.

    run_dir: a run folder (str or Path) or an importlib.resources Traversable.
    checkpoint: 'ep_0100', 'ep_0100.npz', 'final', or a file inside RUN_DIR/checkpoints/;
    None loads the latest.

    Attributes: ``config`` (the run's RunConfig), ``metadata``, ``network``,
    ``action_keys`` (the actions, then None for the no-op) and ``checkpoint_name``.
    """

    def __init__(self, run_dir, checkpoint: str | None = None):
        from retro_gamer.game.observation import ObservationEncoder
        from retro_gamer.run.config import engine_module

        root = _as_folder(run_dir)
        self.config = _read_config(root)
        self.metadata = self.config.metadata
        hp = self.config.hyperparams
        self.network, _ = engine_module(hp["engine"]).build_network(self.metadata, hp)
        self.checkpoint_name, data = _load_checkpoint(root, run_dir, checkpoint)
        try:
            self.network.load_params(checkpoints.model_params(data))
        except (KeyError, ValueError) as error:
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(
                f"Checkpoint {self.checkpoint_name} does not fit the network that config.toml "
                f"describes ({error}). config.toml was probably changed after training (actions, "
                f"characters, observe_state, hidden_sizes...). Put the old settings back, or train "
                f"again with these ones."
            ) from None
        # The no-op is the network's last output: pressing nothing is also a choice.
        self.action_keys: list[str | None] = list(self.metadata.actions) + [None]
        self.encoder = ObservationEncoder(self.metadata)
        # The network's input is made for one board size (unless it sees an egocentric crop).
        self._board_size = (tuple(self.metadata.board_size)
                            if self.metadata.uses_board and not self.metadata.egocentric else None)
        # One observation's buffers, made once: get_action may run for many agents a turn.
        self._codes = np.zeros(self.encoder.n_cells, dtype=np.uint8)
        self._extras = np.zeros(self.metadata.extras_size, dtype=np.float32)

    def q_values(self, game) -> np.ndarray:
        """The network's Q-value of every action for the game as it stands: (n_actions,).

        The last one is the no-op. Reading it changes nothing in the game.
        """
        if self._board_size is not None and tuple(game.board_size) != self._board_size:
            raise GameError(
                f"This policy was trained on a {self._board_size[0]}x{self._board_size[1]} board, "
                f"but the game it is asked to play has a {game.board_size[0]}x{game.board_size[1]} "
                f"board. Its network reads one input per cell, so it can only play the board size "
                f"it was trained on: train a run on this game (retro-gamer create ...).")
        if self.encoder.board_length:
            self.encoder.codes(game, out=self._codes)
        self.encoder.extras(game, out=self._extras)
        return self.network.forward_codes(self._codes[None], self._extras[None])[0]

    def get_action(self, game) -> str | None:
        """The key with the highest Q-value this turn, or None for the no-op."""
        return self.action_keys[int(self.q_values(game).argmax())]


class PolicyInput:
    """A retro-games input source driven by a TrainedPolicy instead of the keyboard.

    Each turn the game calls ``collect()``; it returns the set of keys "pressed":
    the policy's choice, or nothing for the no-op. Every agent of the game that reads
    the keyboard receives it, exactly as if a player had pressed the key.
    """

    def __init__(self, policy: TrainedPolicy, game):
        self.policy = policy
        self.game = game
        # One Keystroke per action, made once (retro-games' ProgrammaticInput makes the same).
        self._keystrokes = {key: _keystroke(key) for key in policy.action_keys if key is not None}

    def collect(self) -> set:
        key = self.policy.get_action(self.game)
        return set() if key is None else {self._keystrokes[key]}


def _keystroke(key: str) -> Keystroke:
    """'KEY_RIGHT' -> the keystroke of the right arrow; 'a' -> the keystroke of 'a'."""
    if key.startswith("KEY_"):
        return Keystroke(ucs="", code=None, name=key)
    return Keystroke(ucs=key, code=None, name=None)


# ---------------------------------------------------------------------- finding the files

def _as_folder(run_dir):
    """A path for str / PathLike run folders; any other Traversable is used as it is."""
    if isinstance(run_dir, (str, os.PathLike)):
        return Path(run_dir)
    if all(hasattr(run_dir, name) for name in ("joinpath", "iterdir", "read_bytes", "is_file")):
        return run_dir
    raise TypeError(
        f"TrainedPolicy needs the run folder as a path or an importlib.resources folder, "
        f"not {type(run_dir).__name__}."
    )


def _read_config(root):
    from retro_gamer.run.config import CONFIG_NAME, read_config

    if isinstance(root, Path):
        return read_config(root)
    entry = root.joinpath(CONFIG_NAME)
    if not entry.is_file():
        raise ConfigError(
            f"The bundled policy folder {root} has no {CONFIG_NAME}. Copy the whole training run "
            f"folder (config.toml and checkpoints/) into the package."
        )
    # read_config reads files from disk; a packaged folder may live inside a zip, so its
    # config.toml is copied to a temporary folder first.
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / CONFIG_NAME).write_bytes(entry.read_bytes())
        return read_config(folder)


def _load_checkpoint(root, run_dir, name: str | None) -> tuple[str, dict]:
    """(checkpoint name, its arrays). Path folders use checkpoints.py's rules; a packaged
    folder accepts the plain names only (ep_0100, ep_0100.npz, final)."""
    if isinstance(root, Path):
        if name is None:
            path = checkpoints.latest_checkpoint(root)
            if path is None:
                raise CheckpointError(_no_checkpoint_message(run_dir))
        else:
            path = checkpoints.resolve_checkpoint(root, str(name))
        return path.stem, checkpoints.read_checkpoint(path, path.name)

    folder = root.joinpath(checkpoints.CHECKPOINT_DIR)
    available = {entry.name: entry for entry in folder.iterdir()} if folder.is_dir() else {}
    if name is None:
        episodes = [n for n in available if checkpoints.episode_of(n) is not None]
        if episodes:
            file_name = max(episodes, key=checkpoints.episode_of)
        elif "final.npz" in available:
            file_name = "final.npz"
        else:
            raise CheckpointError(_no_checkpoint_message(run_dir))
    else:
        file_name = name if name.endswith(".npz") else f"{name}.npz"
        if file_name not in available or checkpoints.is_replay(file_name):
            names = ", ".join(sorted(Path(n).stem for n in available if n.endswith(".npz")
                                     and not checkpoints.is_replay(n))) or "none"
            raise CheckpointError(
                f"There is no checkpoint '{name}' in the bundled policy {folder} "
                f"(it has: {names}). Name one of those, or leave the checkpoint out for the latest."
            )
    data = available[file_name].read_bytes()
    return Path(file_name).stem, checkpoints.read_checkpoint(data, file_name)


def _no_checkpoint_message(run_dir) -> str:
    return (
        f"The run {run_dir} has no checkpoint yet, so there is no trained network to load. "
        f"Train it first with 'retro-gamer train {run_dir}': a checkpoint is saved every 100 "
        f"episodes, and Ctrl-C saves one too."
    )
