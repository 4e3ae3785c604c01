"""GameMetadata: what the learner needs to know about a game.

SKELETON written by the lead so the learning core can be built against it; the games
issue owns this file and completes it (from_pyproject, validate, built-in descriptions).
The field names and properties below are a contract used by network.py, replay.py,
trainer.py and policy.py: keep them.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GameMetadata:
    """Describes a game to the learner.

    Game description ([tool.retro-gamer] / [metadata]): actions, reward, character_set,
    board_size, observation_function, factory.
    Preprocessing ([preprocessing]): spatial, board, observe_state, observe_state_sizes,
    egocentric, egocentric_player, egocentric_radius.
    Measured: extras_size, the length of everything after the board in an observation.
    """

    actions: list[str]
    reward: str
    character_set: list[str] | None = None
    board_size: tuple[int, int] | None = None
    observation_function: str | None = None
    factory: str | None = None
    spatial: bool = False
    board: bool = True
    observe_state: list[str] = field(default_factory=list)
    observe_state_sizes: dict[str, int] = field(default_factory=dict)
    egocentric: bool = False
    egocentric_player: str | None = None
    egocentric_radius: int = 5
    extras_size: int = 0

    @property
    def n_actions(self) -> int:
        """Outputs of the Q-network: one per action plus the no-op, which is last."""
        return len(self.actions) + 1

    @property
    def uses_board(self) -> bool:
        """True when the observation starts with the one-hot board."""
        return self.board and self.observation_function is None

    @property
    def board_shape(self) -> tuple[int, int, int] | None:
        """(C, H, W) of the one-hot board the network sees, or None without a board.

        C is one channel per character, plus the "off-board" channel when the board is
        cropped egocentrically; H x W is the board, or the (2r+1) x (2r+1) crop.
        """
        if not self.uses_board:
            return None
        channels = len(self.character_set or [])
        if self.egocentric:
            side = 2 * self.egocentric_radius + 1
            return channels + 1, side, side
        width, height = self.board_size
        return channels, height, width

    @property
    def obs_size(self) -> int:
        """Length of the flat observation vector: C*H*W board values, then the extras."""
        shape = self.board_shape
        board_length = shape[0] * shape[1] * shape[2] if shape else 0
        return board_length + self.extras_size

    @classmethod
    def from_dict(cls, d: dict) -> "GameMetadata":
        d = dict(d)
        if "board_size" in d and d["board_size"] is not None:
            d["board_size"] = tuple(d["board_size"])
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})
