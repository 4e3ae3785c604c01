"""Using a trained agent: TrainedPolicy picks actions (the greedy policy: the key with the highest
Q-value, no exploration), PolicyInput presses them, so a policy replaces the keyboard of a game::

    game.play(input_source=PolicyInput(TrainedPolicy("runs/snake/"), game))

A game may ship its own trained agent as an ``importlib.resources`` folder (``files("my_game") /
"policy"``): it is read through the resources API, so it works from a wheel or a zip too.
"""
import os
from pathlib import Path

import numpy as np
from blessed.keyboard import Keystroke

from retro_gamer.errors import CheckpointError, ConfigError, GameError
from retro_gamer.game.observation import ObservationEncoder
from retro_gamer.run import checkpoints
from retro_gamer.run.config import CONFIG_NAME, engine_module, read_config


class TrainedPolicy:
    """The greedy policy of a trained Q-network.

    run_dir: a run folder (str or Path) or an importlib.resources Traversable; checkpoint:
    'ep_0100', 'ep_0100.npz', 'final', or a file inside RUN_DIR/checkpoints/ (None: the latest).
    Attributes: ``config`` (the run's RunConfig), ``metadata``, ``network``, ``action_keys``
    (the actions, then None for the no-op) and ``checkpoint_name``.
    """

    def __init__(self, run_dir, checkpoint: str | None = None):
        root = Path(run_dir) if isinstance(run_dir, (str, os.PathLike)) else run_dir
        if not isinstance(root, Path):      # a packaged folder, read through the resources API
            if not all(hasattr(root, name) for name in ("joinpath", "iterdir", "read_bytes", "is_file")):
                raise TypeError(f"TrainedPolicy needs the run folder as a path or an importlib.resources "
                                f"folder, not {type(run_dir).__name__}.")
            if not root.joinpath(CONFIG_NAME).is_file():
                raise ConfigError(f"The bundled policy folder {root} has no {CONFIG_NAME}. Copy the whole "
                                  "training run folder (config.toml and checkpoints/) into the package.")
        self.config = read_config(root)
        self.metadata, hp = self.config.metadata, self.config.hyperparams
        self.network, _ = engine_module(hp["engine"]).build_network(self.metadata, hp)
        entry = checkpoints.latest_checkpoint(root) if checkpoint is None \
            else checkpoints.resolve_checkpoint(root, str(checkpoint))
        if entry is None:
            raise CheckpointError(f"The run {run_dir} has no checkpoint yet, so there is no trained network "
                                  f"to load. Train it first with 'retro-gamer train {run_dir}': a checkpoint "
                                  "is saved every 100 episodes, and Ctrl-C saves one too.")
        self.checkpoint_name = Path(entry.name).stem
        data = checkpoints.read_checkpoint(entry if isinstance(entry, Path) else entry.read_bytes(),
                                           entry.name)
        try:
            self.network.load_params(checkpoints.model_params(data))
        except ValueError as error:
            raise CheckpointError(f"Checkpoint {self.checkpoint_name} does not fit the network that "
                                  f"config.toml describes ({error}). config.toml was probably changed after "
                                  "training (actions, characters, observe_state, hidden_sizes...). Put the "
                                  "old settings back, or train again with these ones.") from None
        self.action_keys: list[str | None] = list(self.metadata.actions) + [None]   # the no-op is last
        self.encoder = ObservationEncoder(self.metadata)
        # One input per cell: the network plays the board size it learned on (a crop has a size of its own).
        m = self.metadata
        self._board_size = tuple(m.board_size) if m.uses_board and not m.egocentric else None
        self._codes = np.zeros((1, self.encoder.n_cells), np.uint8)
        self._extras = np.zeros((1, m.extras_size), np.float32)

    def q_values(self, game) -> np.ndarray:
        """The Q-value of every action for the game as it stands, (n_actions,), the no-op last.
        Reading them changes nothing in the game."""
        if self._board_size is not None and tuple(game.board_size) != self._board_size:
            raise GameError(f"This policy was trained on a {self._board_size[0]}x{self._board_size[1]} "
                            "board, but the game it is asked to play has a "
                            f"{game.board_size[0]}x{game.board_size[1]} board. Its network reads one input "
                            "per cell, so it can only play the board size it was trained on: train a run on "
                            "this game (retro-gamer create ...).")
        if self.encoder.board_length:
            self.encoder.codes(game, out=self._codes[0])
        self.encoder.extras(game, out=self._extras[0])
        return self.network.forward_codes(self._codes, self._extras)[0]

    def get_action(self, game) -> str | None:
        """The key with the highest Q-value this turn, or None for the no-op."""
        return self.action_keys[int(self.q_values(game).argmax())]

    def explain(self, game) -> dict:
        """Why this move: {"action": key or None, "q_values": {key or None: float}, "influence":
        {(x, y): float}}. A cell's influence is how much the chosen action's Q-value falls when the
        network is shown that cell empty (occlusion): positive, the cell argues for the move;
        negative, against it. Every occupied cell the agent sees, in one batched forward pass."""
        q, m = self.q_values(game), self.metadata
        best, codes = int(q.argmax()), self._codes[0]
        # The occupied cells: not the empty ones, nor the off-board wall of a crop (its last code).
        cells = np.flatnonzero((codes > 0) & (codes < self.encoder.n_channels + (not m.egocentric)))
        occluded = np.repeat(self._codes, len(cells), axis=0)           # (cells, H*W): one board a cell
        occluded[np.arange(len(cells)), cells] = 0
        extras = np.repeat(self._extras, len(cells), axis=0)
        drop = q[best] - self.network.forward_codes(occluded, extras)[:, best] if len(cells) else []
        width, left, top = game.board_size[0], 0, 0   # cell k is (k % width, k // width) from the top left
        if m.egocentric:          # of the board, or of a crop: r cells up and left of the player
            x, y = game.agents_by_name[m.egocentric_player].position
            width, left, top = 2 * m.egocentric_radius + 1, x - m.egocentric_radius, y - m.egocentric_radius
        places = [(left + int(k) % width, top + int(k) // width) for k in cells]
        return {"action": self.action_keys[best],
                "q_values": {key: float(value) for key, value in zip(self.action_keys, q)},
                "influence": {place: float(value) for place, value in zip(places, drop)}}


class PolicyInput:
    """A retro-games input source driven by a TrainedPolicy instead of the keyboard.

    Each turn the game calls ``collect()``; it returns the keys "pressed": the policy's
    choice, or none for the no-op. Every agent of the game that reads the keyboard receives
    it, exactly as if a player had pressed the key.
    """

    def __init__(self, policy: TrainedPolicy, game):
        self.policy, self.game = policy, game
        # One keystroke per action, made once, as retro-games' ProgrammaticInput makes them.
        self._keystrokes = {key: Keystroke(ucs="", code=None, name=key) if key.startswith("KEY_")
                            else Keystroke(ucs=key, code=None, name=None)
                            for key in policy.action_keys if key is not None}

    def collect(self) -> set:
        key = self.policy.get_action(self.game)
        return set() if key is None else {self._keystrokes[key]}
