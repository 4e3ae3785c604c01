"""GameMetadata: what the learner needs to know about a game.

A game describes itself in the ``[tool.retro-gamer]`` section of its project's
pyproject.toml: which keys the agent may press (``actions``), which number in
``game.state`` is the score to maximise (``reward``), and optionally which characters
to look for on the board. ``retro-gamer create`` copies that description into the run's
config.toml, where ``[preprocessing]`` adds how observations are built (CNN or MLP, an
egocentric crop, extra state values). One GameMetadata holds both, because together
they fix the shape of the network's input and output.

Every check here collects *all* problems before raising, and each problem says what
is wrong, why it matters and how to fix it: a learner fixes a config in one go instead
of one traceback at a time.
"""
from __future__ import annotations

import copy
import difflib
import importlib.util
import json
import re
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from retro_gamer.errors import ConfigError, GameError

# The three kinds of field, by where they live in config.toml.
DESCRIPTION_FIELDS = ("actions", "reward", "character_set", "board_size", "observation_function", "factory")
PREPROCESSING_FIELDS = (
    "spatial", "board", "observe_state", "observe_state_sizes",
    "egocentric", "egocentric_player", "egocentric_radius",
)
MEASURED_FIELDS = ("extras_size",)

ARROW_KEYS = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]
MAX_EGOCENTRIC_RADIUS = 100

# Descriptions for the example games that ship with retro-games without a
# [tool.retro-gamer] section, so that `retro-gamer create --game retro.examples.snake`
# works on a fresh install. nav and beast ship their own sections and are read from them.
BUILTIN_DESCRIPTIONS: dict[str, dict] = {
    "retro.examples.snake": {
        "actions": ARROW_KEYS,
        # snake's shaped reward: +50 for an apple, +1 closer to it, -1 farther, -10 for dying.
        "reward": "reward",
        "character_set": ["@", "*", ">", "<", "^", "v"],
        # The apple's direction as fractions of the board, which the game keeps up to date.
        "observe_state": ["apple_dx", "apple_dy"],
        "spatial": False,
    },
}

MINIMAL_SECTION_EXAMPLE = (
    "[tool.retro-gamer]\n"
    'actions = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]\n'
    'reward = "score"'
)


# ---------------------------------------------------------------------------
# How problems are reported (shared with config.py)
# ---------------------------------------------------------------------------

def toml_value(value) -> str:
    """``value`` written the way it would appear in a TOML file, for error messages."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return printable(json.dumps(value, ensure_ascii=False))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted (for error messages)."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def printable(text: str) -> str:
    """``text`` with invisible and control characters shown as escapes: a config or a game
    from someone else must not be able to hide text in, or take over, the learner's terminal."""
    return "".join(c if c.isprintable() or c == "\n" else f"\\u{ord(c):04x}" for c in text)


def problem(setting: str, why: str, fix: str) -> str:
    """One entry of an error report: the setting as written, why it is wrong, the fix."""
    why = textwrap.fill(why, width=84, initial_indent="   ", subsequent_indent="   ")
    fix = "\n".join("   " + line for line in ("Fix: " + fix).splitlines())
    return f"{setting}\n{why}\n{fix}"


def problem_report(problems: list[str], where: str, then: str) -> str:
    """All problems of one file or section as a single numbered message."""
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    entries = [f"{number}. " + text.replace("\n", "\n ") for number, text in enumerate(problems, 1)]
    return f"Found {count} in {where}:\n\n" + "\n\n".join(entries) + f"\n\n{then}"


def unknown_key_problem(key: str, value, known, section: str) -> str:
    """A key nobody reads: most often a typo, so suggest the closest real name."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if close:
        fix = f"did you mean {close[0]}? Write: {close[0]} = {toml_value(value)}"
    else:
        fix = "remove it; the keys this section understands are: " + ", ".join(known)
    return problem(
        f"{toml_key(key)} = {toml_value(value)}",
        f"{section} has no setting called {toml_key(key)}. A misspelt setting would be silently "
        "ignored and the default used instead, so it stops here.",
        fix,
    )


def is_whole_number(value) -> bool:
    """An int, but not a bool: bool is a subclass of int, yet `batch_size = true` is a mistake."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_function_path(value) -> bool:
    """True for a "module:function" string such as "my_game:create_game"."""
    if not isinstance(value, str) or value.count(":") != 1:
        return False
    module, function = value.split(":")
    return all(part.isidentifier() for part in module.split(".")) and function.isidentifier()


# ---------------------------------------------------------------------------
# GameMetadata
# ---------------------------------------------------------------------------

@dataclass
class GameMetadata:
    """Describes a game to the learner.

    Game description ([tool.retro-gamer] / [metadata]): actions, reward, character_set,
    board_size, observation_function, factory.
    Preprocessing ([preprocessing]): spatial, board, observe_state, observe_state_sizes,
    egocentric, egocentric_player, egocentric_radius.
    Measured: extras_size, the length of everything after the board in an observation
    (the flattened observe_state values, or the whole output of observation_function).
    It is filled in when the first game is observed.
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

    # -- reading ---------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: dict, where: str = "the game description") -> "GameMetadata":
        """Build and validate metadata from a [tool.retro-gamer] or [metadata] table.

        Preprocessing keys are accepted too (a game may suggest ``observe_state`` or
        ``spatial``), and so is ``extras_size``, which the published package wrote into
        config.toml. Raises ConfigError listing every problem, naming ``where``.
        """
        metadata, problems = cls.parse(d, where)
        problems += metadata.problems()
        if problems:
            raise ConfigError(problem_report(problems, where, f"Correct {where} and try again."))
        return metadata

    @classmethod
    def parse(cls, d: dict, where: str = "the game description") -> tuple["GameMetadata", list[str]]:
        """(metadata, problems with the keys of ``d``), without checking the values yet.

        A missing ``actions`` or ``reward`` is left as None for ``problems()`` to report.
        config.py uses this to apply [preprocessing] before checking, and then reports
        the problems of every section of config.toml at once.
        """
        known = DESCRIPTION_FIELDS + PREPROCESSING_FIELDS + MEASURED_FIELDS
        problems = [unknown_key_problem(key, value, known, where)
                    for key, value in d.items() if key not in known]
        # Copies, so that growing a character set never changes the table it came from.
        values = {key: copy.deepcopy(value) for key, value in d.items() if key in known}
        values.setdefault("actions", None)
        values.setdefault("reward", None)
        if isinstance(values.get("board_size"), list):
            values["board_size"] = tuple(values["board_size"])
        for key in ("actions", "character_set", "observe_state"):
            if isinstance(values.get(key), tuple):
                values[key] = list(values[key])
        return cls(**values), problems

    @classmethod
    def from_pyproject(cls, module_name: str) -> "GameMetadata":
        """Read the description of the game in module ``module_name``.

        The [tool.retro-gamer] section is looked for in the first pyproject.toml found
        walking up from the module's source file (the search stops at site-packages, so
        an installed game never picks up an unrelated project's file). Example games of
        retro-games that ship without a section get retro-gamer's built-in description.
        """
        source = module_source_file(module_name)
        pyproject = find_pyproject(source)
        section = None
        if pyproject is not None:
            section = read_toml(pyproject).get("tool", {}).get("retro-gamer")
        if section is not None:
            return cls.from_dict(section, where=f"[tool.retro-gamer] in {pyproject}")
        builtin = builtin_description(module_name, source)
        if builtin is not None:
            return cls.from_dict(builtin, where=f"retro-gamer's built-in description of {module_name}")
        if pyproject is None:
            found = (f"No pyproject.toml was found in {source.parent} or the folders above it "
                     "(the search stops at site-packages).")
            fix = f"create {source.parent / 'pyproject.toml'} containing:"
        else:
            found = f"{pyproject} has no [tool.retro-gamer] section."
            fix = f"add this section to {pyproject}:"
        raise ConfigError(
            f"Cannot find the description of the game {module_name!r}.\n{found}\n"
            "retro-gamer needs it to know which keys the agent may press and which value of\n"
            "game.state is the reward it should learn to increase.\n\n"
            f"To fix it, {fix}\n\n{MINIMAL_SECTION_EXAMPLE}\n\n"
            "List the keys your game responds to, and name a number in game.state that goes\n"
            "up when the player does well."
        )

    # -- writing ---------------------------------------------------------------

    def to_dict(self) -> dict:
        """The [metadata] section of config.toml (preprocessing has its own section).

        TOML has no null, so unset fields are left out. ``extras_size`` is written only
        for an observation_function, the one case where it cannot be worked out again
        from [preprocessing].
        """
        d = {"actions": list(self.actions), "reward": self.reward}
        if self.character_set is not None:
            d["character_set"] = list(self.character_set)
        if self.board_size is not None:
            d["board_size"] = list(self.board_size)
        if self.observation_function is not None:
            d["observation_function"] = self.observation_function
            if self.extras_size:
                d["extras_size"] = self.extras_size
        if self.factory is not None:
            d["factory"] = self.factory
        return d

    def apply_preprocessing(self, settings: dict, section: str = "[preprocessing]") -> list[str]:
        """Set the [preprocessing] settings onto this description; return a problem per
        unknown key (the values are checked by problems())."""
        found = []
        for key, value in settings.items():
            if key in PREPROCESSING_FIELDS:
                setattr(self, key, list(value) if isinstance(value, tuple) else value)
            else:
                found.append(unknown_key_problem(key, value, PREPROCESSING_FIELDS, section))
        return found

    def preprocessing_dict(self) -> dict:
        """The [preprocessing] section of config.toml (unset egocentric_player left out)."""
        d = {name: getattr(self, name) for name in PREPROCESSING_FIELDS}
        d["observe_state"] = list(self.observe_state)
        d["observe_state_sizes"] = {
            key: size for key, size in self.observe_state_sizes.items() if key in self.observe_state}
        if d["egocentric_player"] is None:
            del d["egocentric_player"]
        return d

    # -- checking --------------------------------------------------------------

    def validate(self) -> None:
        """Raise ConfigError listing every problem of this description, or return."""
        problems = self.problems()
        if problems:
            raise ConfigError(problem_report(problems, "the game description", "Correct it and try again."))

    def problems(self) -> list[str]:
        """Every problem of this description, each a short lesson (see ``problem``)."""
        found = _description_problems(self) + _preprocessing_problems(self)
        if not (is_whole_number(self.extras_size) and self.extras_size >= 0):
            found.append(problem(
                f"extras_size = {toml_value(self.extras_size)}",
                "extras_size is the measured length of the observation after the board; "
                "it is a count, so it must be a whole number, 0 or more.",
                "delete the line; it is measured again from the game.",
            ))
        return found


_REQUIRED_WHY = {
    "actions": "which keys the agent may press: the network has one output per action, plus a no-op.",
    "reward": "which number in game.state is the score: its change over a turn is the reward "
              "the agent learns to increase.",
}


def _missing_problem(name: str, example: str) -> str:
    return problem(
        f"{name} is missing",
        f"The description must say {_REQUIRED_WHY[name]}",
        f"add a line such as: {name} = {example}\nA minimal description is:\n" + MINIMAL_SECTION_EXAMPLE,
    )


def _actions_problems(actions) -> list[str]:
    if actions is None:
        return [_missing_problem("actions", toml_value(ARROW_KEYS))]
    if not isinstance(actions, list) or not actions or not all(isinstance(a, str) and a for a in actions):
        return [problem(
            f"actions = {toml_value(actions)}",
            "actions must be a non-empty list of key names. Each one becomes an output of the "
            "network, the agent's estimate of how good pressing that key is.",
            f"actions = {toml_value(ARROW_KEYS)}",
        )]
    found = []
    odd = [a for a in actions if not (a.startswith("KEY_") or len(a) == 1)]
    if odd:
        found.append(problem(
            f"actions = {toml_value(actions)}",
            f"{toml_value(odd)} cannot be pressed: a key is either a special key named like "
            '"KEY_RIGHT" or "KEY_SPACE", or a single character such as "w". The game would '
            "never see the keystroke, so the agent would waste an output on it.",
            'actions = ["KEY_LEFT", "KEY_RIGHT", " "]   (arrow keys and the space bar, for example)',
        ))
    repeated = sorted({a for a in actions if actions.count(a) > 1})
    if repeated:
        found.append(problem(
            f"actions = {toml_value(actions)}",
            f"{toml_value(repeated)} is listed more than once; two outputs for the same key "
            "would split what the agent learns about it.",
            f"actions = {toml_value(list(dict.fromkeys(actions)))}",
        ))
    return found


def _reward_problems(reward) -> list[str]:
    if reward is None:
        return [_missing_problem("reward", '"score"')]
    if not isinstance(reward, str) or not reward:
        return [problem(
            f"reward = {toml_value(reward)}",
            "reward must name a number in game.state. The reward of a turn is how much that "
            "number changed, and the agent learns to make it grow.",
            'reward = "score"',
        )]
    return []


def _description_problems(m: GameMetadata) -> list[str]:
    found = _actions_problems(m.actions) + _reward_problems(m.reward)
    if m.character_set is not None:
        chars = m.character_set
        if not isinstance(chars, list) or not all(isinstance(c, str) and len(c) == 1 for c in chars):
            bad = chars
            if isinstance(chars, list):
                bad = [c for c in chars if not (isinstance(c, str) and len(c) == 1)]
            found.append(problem(
                f"character_set = {toml_value(chars)}",
                f"Every entry must be one character (found {toml_value(bad)}): each character of the "
                "board gets its own input channel, one 0/1 value per cell.",
                'character_set = ["@", "*", "#"]   or delete the line: training then discovers them',
            ))
        elif not chars and m.board is not False and m.observation_function is None:
            found.append(problem(
                "character_set = []",
                "The board is encoded as one channel per listed character, so with none listed "
                "every cell would look empty and the agent would see nothing of the board.",
                'character_set = ["@", "*", "#"]   or delete the line: training then discovers them',
            ))
        else:
            if " " in chars:
                found.append(problem(
                    f"character_set = {toml_value(chars)}",
                    'A space is how retro-games draws an empty cell; empty cells are already all '
                    "zeros, so a channel for it would only repeat what the others say.",
                    f"character_set = {toml_value([c for c in chars if c != ' '])}",
                ))
            repeated = sorted({c for c in chars if chars.count(c) > 1})
            if repeated:
                found.append(problem(
                    f"character_set = {toml_value(chars)}",
                    f"{toml_value(repeated)} appears more than once; a character can own only one channel.",
                    f"character_set = {toml_value(list(dict.fromkeys(chars)))}",
                ))
    if m.board_size is not None:
        size = m.board_size
        pair = isinstance(size, (tuple, list)) and len(size) == 2
        if not (pair and all(is_whole_number(s) and s > 0 for s in size)):
            found.append(problem(
                f"board_size = {toml_value(size)}",
                "board_size is [width, height] in cells, two positive whole numbers. It is read "
                "from the game itself, so it should not need editing.",
                "board_size = [32, 16]   or delete the line and run 'retro-gamer create' again",
            ))
    for name, example, role in (
        ("observation_function", "my_game:observe", "f(game) that returns the numbers the agent sees"),
        ("factory", "my_game:create_game", "a function with no arguments that returns a new Game"),
    ):
        value = getattr(m, name)
        if value is not None and not is_function_path(value):
            found.append(problem(
                f"{name} = {toml_value(value)}",
                f"{name} names {role}, written as \"module:function\" so that it can be imported.",
                f'{name} = "{example}"',
            ))
    return found


def _preprocessing_problems(m: GameMetadata) -> list[str]:
    found = []
    for name in ("spatial", "board", "egocentric"):
        if not isinstance(getattr(m, name), bool):
            found.append(problem(
                f"{name} = {toml_value(getattr(m, name))}",
                f"{name} is a switch: TOML writes it as true or false, without quotes.",
                f"{name} = {'true' if name == 'board' else 'false'}",
            ))
    keys = m.observe_state
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        found.append(problem(
            f"observe_state = {toml_value(keys)}",
            "observe_state lists keys of game.state whose values are added to what the agent sees.",
            'observe_state = ["lives", "level"]   or   observe_state = []',
        ))
        keys = []
    else:
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            found.append(problem(
                f"observe_state = {toml_value(keys)}",
                f"{toml_value(repeated)} is listed more than once; the agent would see the same value twice.",
                f"observe_state = {toml_value(list(dict.fromkeys(keys)))}",
            ))
        if isinstance(m.reward, str) and m.reward in keys:
            found.append(problem(
                f"observe_state = {toml_value(keys)}",
                f"'{m.reward}' is the reward key. The running score says how well the episode went "
                "so far, not what to do next, and the agent would learn to read the score instead "
                "of the game.",
                f"observe_state = {toml_value([k for k in keys if k != m.reward])}",
            ))
    sizes = m.observe_state_sizes
    if not (isinstance(sizes, dict) and all(is_whole_number(v) and v > 0 for v in sizes.values())):
        found.append(problem(
            f"observe_state_sizes = {toml_value(sizes)}",
            "observe_state_sizes records how many numbers each observe_state key gave when it "
            "was first measured (1 for a number, the length for a list).",
            "delete the line; it is measured again from the game.",
        ))
    board = m.board is not False
    if not board and not keys and m.observation_function is None:
        found.append(problem(
            "board = false, observe_state = []",
            "Without the board and without observe_state the agent would see nothing at all.",
            'keep board = true, or list what to observe: observe_state = ["player_x", "player_y"]',
        ))
    if m.spatial is True and (not board or m.observation_function is not None):
        reason = "board = false" if not board else "observation_function replaces the board"
        found.append(problem(
            f"spatial = true with {reason}",
            "spatial = true builds a convolutional network, which slides its filters over a 2-D "
            "board; without the board there is nothing to slide over.",
            "spatial = false   (a multilayer perceptron reads a flat list of numbers)",
        ))
    if m.observation_function is not None and keys:
        found.append(problem(
            f"observation_function = {toml_value(m.observation_function)} "
            f"with observe_state = {toml_value(keys)}",
            "An observation_function builds the whole observation itself, so observe_state would "
            "be ignored. These are two different ways to say what the agent sees; choose one.",
            "observe_state = []   and let the observation_function include those values",
        ))
    player = m.egocentric_player
    if player is not None and not (isinstance(player, str) and player) and m.egocentric is not True:
        found.append(problem(
            f"egocentric_player = {toml_value(player)}",
            "egocentric_player is the name of the agent an egocentric view is centred on, a text.",
            'egocentric_player = "player"   or delete the line',
        ))
    if m.egocentric is True:
        if not isinstance(m.egocentric_player, str) or not m.egocentric_player:
            found.append(problem(
                f"egocentric = true, egocentric_player = {toml_value(m.egocentric_player)}",
                "An egocentric view is centred on one agent, found by its name; without a name "
                "there is no centre.",
                'egocentric_player = "player"   (the name attribute of the agent to follow)',
            ))
        if not board or m.observation_function is not None:
            found.append(problem(
                "egocentric = true without the built-in board",
                "The egocentric view is a crop of the board, so it needs board = true and no "
                "observation_function.",
                "egocentric = false",
            ))
    radius = m.egocentric_radius
    if not (is_whole_number(radius) and 0 < radius <= MAX_EGOCENTRIC_RADIUS):
        found.append(problem(
            f"egocentric_radius = {toml_value(radius)}",
            "The egocentric window is (2r+1) x (2r+1) cells around the agent, so r must be a "
            f"whole number of cells, at least 1 and at most {MAX_EGOCENTRIC_RADIUS} (a window of "
            f"{2 * MAX_EGOCENTRIC_RADIUS + 1} cells a side already covers any terminal board from "
            "anywhere on it, and every cell of the window is an input of the network).",
            "egocentric_radius = 5",
        ))
    return found


# ---------------------------------------------------------------------------
# Finding a game's description
# ---------------------------------------------------------------------------

def module_source_file(module_name: str) -> Path:
    """The source file of ``module_name``, found without running the module itself."""
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError) as error:
        spec, reason = None, str(error)
    else:
        reason = "no such module"
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        raise GameError(
            f"Cannot find the game module {module_name!r} ({reason}).\n"
            "retro-gamer reads the game's description from the pyproject.toml next to its source.\n"
            "Check the spelling, run the command from the folder that contains the game, or\n"
            "name the file directly, for example: --game path/to/my_game.py"
        )
    return Path(spec.origin).resolve()


def find_pyproject(source: Path) -> Path | None:
    """The nearest pyproject.toml at or above the folder of ``source``, or None.

    The walk stops at site-packages: above it lie the Python installation and, perhaps,
    some unrelated project that happens to contain the virtual environment.
    """
    for folder in source.parents:
        if folder.name in ("site-packages", "dist-packages"):
            return None
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def read_toml(path: Path) -> dict:
    """Parse a TOML file; a syntax error becomes a ConfigError naming file and line."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(
            f"{path} is not valid TOML: {error}.\n"
            "Open the file at that line: the usual causes are a string without quotes\n"
            '(write reward = "score", not reward = score), a list without its closing\n'
            "bracket, or the same key written twice."
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path} is not text that TOML can read: byte {error.start} is not UTF-8.\n"
            "The file may be damaged, or saved in another encoding: save it again as UTF-8\n"
            "(or write a new one with 'retro-gamer create')."
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{path} nests lists or tables too deeply to be read. A config.toml needs only\n"
            "flat lists such as actions = [\"KEY_LEFT\", \"KEY_RIGHT\"]: remove the extra brackets."
        ) from None


def builtin_description(module_name: str, source: Path | None = None) -> dict | None:
    """retro-gamer's own description of a known example game, or None.

    Matched by module name, or by source file so that ``--game path/to/snake.py``
    finds it too.
    """
    if module_name in BUILTIN_DESCRIPTIONS:
        return BUILTIN_DESCRIPTIONS[module_name]
    if source is not None:
        for name, description in BUILTIN_DESCRIPTIONS.items():
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin and Path(spec.origin).resolve() == source:
                return description
    return None
