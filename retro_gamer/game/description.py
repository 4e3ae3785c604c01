"""GameMetadata: what the learner needs to know about a game.

A game's [tool.retro-gamer] (the keys the agent may press, the score it should raise, the characters
of its board; ``create`` copies it into config.toml) and the run's [preprocessing] together fix the
shape of the network's input and output. settings.py declares every field; the checks here relate them."""
import copy
import importlib.util
import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from retro_gamer.errors import (ConfigError, GameError, problem, problem_report, toml_value,
                                unknown_key_problem)
from retro_gamer.settings import DESCRIPTION as DESCRIPTION_FIELDS
from retro_gamer.settings import MINIMAL_DESCRIPTION, PREPROCESSING, SETTINGS, is_whole_number, value_problems

MEASURED_FIELDS = ("extras_size",)
ARROW_KEYS = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]

# For the example games that ship without [tool.retro-gamer], so that `create --game` works on them.
BUILTIN_DESCRIPTIONS: dict[str, dict] = {"retro.examples.snake": {
    "actions": ARROW_KEYS,
    "reward": "reward",  # snake's shaped reward: +50 an apple, +1 closer to it, -1 farther, -10 dying
    "character_set": ["@", "*", ">", "<", "^", "v"],
    "observe_state": ["apple_dx", "apple_dy"],  # the apple's direction, kept up to date by the game
    "spatial": False,
    # The board as the head sees it: snake is learnt best so (docs/choosing-what-the-agent-sees.md).
    "egocentric": True, "egocentric_player": "Snake head", "egocentric_radius": 8,
}}


def _default(name: str):
    """The field default of a [preprocessing] setting (a fresh copy each time for a list or table)."""
    value = SETTINGS[name].default
    return field(default_factory=lambda: copy.deepcopy(value)) if isinstance(value, (list, dict)) else value


@dataclass
class GameMetadata:
    """A game's description ([tool.retro-gamer], [metadata]) and its [preprocessing] settings."""

    actions: list[str]
    reward: str
    character_set: list[str] | None = None
    board_size: tuple[int, int] | None = None
    observation_function: str | None = None
    factory: str | None = None
    spatial: bool = _default("spatial")
    board: bool = _default("board")
    observe_state: list[str] = _default("observe_state")
    observe_state_sizes: dict[str, int] = _default("observe_state_sizes")
    egocentric: bool = _default("egocentric")
    egocentric_player: str | None = _default("egocentric_player")
    egocentric_radius: int = _default("egocentric_radius")
    extras_size: int = 0  # the length of the observation after the board, measured on the first game

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
        """(C, H, W) of the one-hot board, or None without one: a channel per character (plus the
        off-board channel of an egocentric crop) over the board or its (2r+1) x (2r+1) crop."""
        if not self.uses_board:
            return None
        channels = len(self.character_set or [])
        if self.egocentric:
            side = 2 * self.egocentric_radius + 1
            return channels + 1, side, side
        return channels, *self.board_size[::-1]

    @property
    def obs_size(self) -> int:
        """Length of the flat observation: C*H*W board values, then the extras."""
        shape = self.board_shape
        return (shape[0] * shape[1] * shape[2] if shape else 0) + self.extras_size

    @classmethod
    def from_dict(cls, d: dict, where: str = "the game description") -> "GameMetadata":
        """Read and check a [tool.retro-gamer] or [metadata] table; one ConfigError lists every problem."""
        metadata, key_problems = cls.parse(d, where)
        if found := key_problems + metadata.problems():
            raise ConfigError(problem_report(found, where, f"Correct {where} and try again."))
        return metadata

    @classmethod
    def parse(cls, d: dict, where: str = "the game description") -> tuple["GameMetadata", list[str]]:
        """(metadata, problems with the keys of ``d``), the values not checked yet."""
        metadata, known = cls(None, None), DESCRIPTION_FIELDS + PREPROCESSING + MEASURED_FIELDS
        # Copies, so that growing a character set never changes the table it came from.
        return metadata, metadata.set(copy.deepcopy(d), where, known)

    def set(self, values: dict, where: str = "[preprocessing]", known: tuple = PREPROCESSING) -> list[str]:
        """Set the fields named in ``known`` from TOML values (lists for tuples, a tuple for board_size);
        returns a problem per other key (the values are checked by problems())."""
        for key, value in values.items():
            value = list(value) if isinstance(value, tuple) else value
            if key in known:
                setattr(self, key, tuple(value) if key == "board_size" and isinstance(value, list) else value)
        return [unknown_key_problem(k, v, known, where) for k, v in values.items() if k not in known]

    @classmethod
    def from_pyproject(cls, module_name: str) -> "GameMetadata":
        """[tool.retro-gamer] of the pyproject.toml above ``module_name``'s source, or a built-in one."""
        source = module_source_file(module_name)
        # The nearest pyproject.toml above the source, but none from site-packages up (other projects').
        ours = itertools.takewhile(lambda f: f.name not in ("site-packages", "dist-packages"), source.parents)
        pyproject = next((f / "pyproject.toml" for f in ours if (f / "pyproject.toml").is_file()), None)
        section = read_toml(pyproject).get("tool", {}).get("retro-gamer") if pyproject else None
        if section is not None:
            return cls.from_dict(section, where=f"[tool.retro-gamer] in {pyproject}")
        for name, builtin in BUILTIN_DESCRIPTIONS.items():  # by name, or by file: --game path/to/snake.py
            if name == module_name or module_source_file(name) == source:
                return cls.from_dict(builtin, where=f"retro-gamer's built-in description of {module_name}")
        found, fix = f"{pyproject} has no [tool.retro-gamer] section.", f"add this section to {pyproject}:"
        if pyproject is None:
            found = (f"No pyproject.toml was found in {source.parent} or the folders above it "
                     "(the search stops at site-packages).")
            fix = f"create {source.parent / 'pyproject.toml'} containing:"
        raise ConfigError(
            f"Cannot find the description of the game {module_name!r}.\n{found}\nretro-gamer needs it to "
            "know which keys the agent may press and which value of\ngame.state is the reward it should "
            f"learn to increase.\n\nTo fix it, {fix}\n\n{MINIMAL_DESCRIPTION}\n\nList the keys your game "
            "responds to, and name a number in game.state that goes\nup when the player does well.")

    def to_dict(self) -> dict:
        """The [metadata] section of config.toml: the set description fields (TOML has no null),
        and extras_size for an observation_function, the one case it cannot be worked out."""
        d = {name: getattr(self, name) for name in DESCRIPTION_FIELDS if getattr(self, name) is not None}
        d.update({key: list(d[key]) for key in ("actions", "character_set", "board_size") if key in d})
        if self.observation_function is not None and self.extras_size:
            d["extras_size"] = self.extras_size
        return d

    def preprocessing_dict(self) -> dict:
        """The [preprocessing] section of config.toml (an unset egocentric_player left out)."""
        d = {n: copy.deepcopy(v) for n in PREPROCESSING if (v := getattr(self, n)) is not None}
        d["observe_state_sizes"] = {key: size for key, size in self.observe_state_sizes.items()
                                    if key in self.observe_state}
        return d

    def validate(self) -> None:
        """Raise ConfigError listing every problem of this description, or return."""
        if found := self.problems():
            raise ConfigError(problem_report(found, "the game description", "Correct it and try again."))

    def problems(self) -> list[str]:
        """Every problem, each a lesson with its fix: the values (settings.py), then the fields' relations."""
        found = [p for n in DESCRIPTION_FIELDS + PREPROCESSING for p in value_problems(n, getattr(self, n))]
        if not (is_whole_number(self.extras_size) and self.extras_size >= 0):
            found.append(problem(f"extras_size = {toml_value(self.extras_size)}", "extras_size is the "
                                 "measured length of the observation after the board, a count: a whole "
                                 "number, 0 or more.", "delete the line; it is measured again."))
        board, reward = self.board is not False, self.reward
        keys = self.observe_state if isinstance(self.observe_state, list) else []
        if self.character_set == [] and board and self.observation_function is None:
            found.append(problem(
                "character_set = []", "The board is encoded as one channel per listed character, so with "
                "none listed every cell would look empty and the agent would see nothing of the board.",
                f"character_set = {SETTINGS['character_set'].example}"))
        if isinstance(reward, str) and reward in keys:
            found.append(problem(
                f"observe_state = {toml_value(keys)}", f"'{reward}' is the reward key. The running score "
                "says how well the episode went so far, not what to do next, and the agent would learn to "
                "read the score instead of the game.",
                f"observe_state = {toml_value([k for k in keys if k != reward])}"))
        if not board and not keys and self.observation_function is None:
            found.append(problem("board = false, observe_state = []", "Without the board and without "
                                 "observe_state the agent would see nothing at all.",
                                 'keep board = true, or list what to observe: observe_state = ["x", "y"]'))
        if self.spatial is True and not self.uses_board:
            found.append(problem(
                f"spatial = true with {'board = false' if not board else 'an observation_function'}",
                "spatial = true builds a convolutional network, which slides its filters over a 2-D board; "
                "without the board there is nothing to slide over.",
                "spatial = false   (a multilayer perceptron reads a flat list of numbers)"))
        if self.observation_function is not None and keys:
            found.append(problem(
                f"observation_function = {toml_value(self.observation_function)} with observe_state = "
                f"{toml_value(keys)}", "An observation_function builds the whole observation itself, so "
                "observe_state would be ignored. These are two different ways to say what the agent "
                "sees; choose one.", "observe_state = []   and let the function include those values"))
        if self.egocentric is True and not self.egocentric_player:
            found.append(problem(
                f"egocentric = true, egocentric_player = {toml_value(self.egocentric_player)}", "An "
                "egocentric view is centred on one agent, found by its name; without a name there is no "
                "centre.", 'egocentric_player = "player"   (the name of the agent to follow)'))
        if self.egocentric is True and not self.uses_board:
            found.append(problem("egocentric = true without the built-in board", "The egocentric view is "
                                 "a crop of the board, so it needs board = true and no "
                                 "observation_function.", "egocentric = false"))
        return found


def module_source_file(module_name: str) -> Path:
    """The source file of ``module_name``, found without running the module."""
    try:
        spec, reason = importlib.util.find_spec(module_name), "no such module"
    except (ImportError, ValueError) as error:
        spec, reason = None, str(error)
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        raise GameError(f"Cannot find the game module {module_name!r} ({reason}).\nretro-gamer reads the "
                        "game's description from the pyproject.toml next to its source.\nCheck the spelling, "
                        "run the command from the folder that contains the game, or\nname the file directly, "
                        "for example: --game path/to/my_game.py")
    return Path(spec.origin).resolve()


def read_toml(path: Path) -> dict:
    """Parse a TOML file; what cannot be read becomes a ConfigError naming the file and the fix."""
    try:
        return tomllib.loads(path.read_bytes().decode())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}.\nOpen the file at that line: the usual causes "
                          'are a string without quotes\n(write reward = "score", not reward = score), a list '
                          "without its closing\nbracket, or the same key written twice.") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not text that TOML can read: byte {error.start} is not UTF-8.\nThe "
                          "file may be damaged, or saved in another encoding: save it again as UTF-8\n(or "
                          "write a new one with 'retro-gamer create').") from None
    except RecursionError:
        raise ConfigError(f'{path} nests lists or tables too deeply to be read. A config.toml needs '
                          'only\nflat lists such as actions = ["KEY_LEFT", "KEY_RIGHT"]: remove the extra '
                          'brackets.') from None
