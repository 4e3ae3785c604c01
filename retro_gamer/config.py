"""config.toml: every setting of a training run, in one file the learner can edit.

``retro-gamer create`` writes it, ``train``, ``play``, ``info`` and TrainedPolicy read it::

    [game]           how to import the game: module, path (optional), factory (optional)
    [metadata]       the game's description: actions, reward, character_set, board_size, ...
    [preprocessing]  how a turn becomes an observation: spatial, board, observe_state, egocentric, ...
    [model]          hidden_sizes
    [training]       every other hyperparameter (HYPERPARAMETER_DEFAULTS)

The reference page's spellings are read too: a [hyperparameters] section means
[training], ``n_layers`` + ``layer_size`` mean ``hidden_sizes``, ``lr_decay`` means
``learning_rate_decay``. Reading checks everything and raises one ConfigError that
lists every problem with its fix.
"""
from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from retro_gamer.errors import ConfigError
from retro_gamer.files import atomic_write_text
from retro_gamer.metadata import (
    PREPROCESSING_FIELDS,
    GameMetadata,
    is_function_path,
    is_whole_number,
    problem,
    problem_report,
    read_toml,
    toml_key,
    toml_value,
    unknown_key_problem,
)

CONFIG_NAME = "config.toml"

# [training]: how the agent learns. Defaults from the reference page.
HYPERPARAMETER_DEFAULTS: dict = {
    "learning_rate": 0.001,
    "learning_rate_decay": 0.995,   # per episode in which a training step ran
    "gamma": 0.99,
    "epsilon": 1.0,
    "epsilon_decay": 0.995,         # per episode
    "epsilon_min": 0.05,
    "batch_size": 64,
    "memory_capacity": 10000,
    "prioritize_experiences": False,
    "target_update_freq": 100,      # training steps between target-network refreshes
    "train_every": 4,               # turns per training step
    "training_episodes": 1000,
    "max_turns_per_episode": 2000,
    "exploration_turns": 200,
    "unknown_character_strategy": "ignore",
    "seed": None,                   # unset: a different run each time. TOML has no null, so it is left out.
    "double_dqn": False,            # not in the published package: pick a' with the online network
}

# [model]: the shape of the Q-network's hidden layers.
MODEL_DEFAULTS: dict = {"hidden_sizes": [128, 128]}

# [preprocessing]: how a turn becomes an observation (see GameMetadata).
PREPROCESSING_DEFAULTS: dict = {
    "spatial": False,
    "board": True,
    "observe_state": [],
    "observe_state_sizes": {},
    "egocentric": False,
    "egocentric_player": None,      # the name of the agent to centre on; left out while unset
    "egocentric_radius": 5,
}

# The reference page's spellings: old name -> our name.
SPELLINGS = {"lr_decay": "learning_rate_decay"}
# The reference page's network settings, which hidden_sizes replaces.
LAYER_DEFAULTS = {"n_layers": 2, "layer_size": 128}

STRATEGIES = ("ignore", "extend")
SECTIONS = ("game", "metadata", "preprocessing", "model", "training", "hyperparameters")
GAME_KEYS = ("module", "path", "factory")
HYPERPARAMETER_NAMES = tuple(MODEL_DEFAULTS) + tuple(HYPERPARAMETER_DEFAULTS)

FILE_HEADER = (
    "# A retro-gamer training run. Edit [training] at any time; changing [metadata],\n"
    "# [preprocessing] or [model] makes existing checkpoints unusable (retro-gamer clean).\n\n"
)


def default_hyperparams() -> dict:
    """A fresh copy of every hyperparameter's default, [model] and [training] merged."""
    return copy.deepcopy({**MODEL_DEFAULTS, **HYPERPARAMETER_DEFAULTS})


# ---------------------------------------------------------------------------
# Hyperparameters
# ---------------------------------------------------------------------------

def normalize_hyperparams(hp: dict) -> dict:
    """The same settings with the reference page's spellings turned into ours.

    ``lr_decay`` -> ``learning_rate_decay``; ``n_layers`` and ``layer_size`` ->
    ``hidden_sizes = [layer_size] * n_layers`` (either alone takes the other's
    reference default, 2 layers of 128). Keys set to None count as not given.
    Raises ConfigError when two spellings of one setting disagree.
    """
    normalized, problems = _normalize(hp)
    if problems:
        raise ConfigError(problem_report(problems, "the hyperparameters", "Give each setting once."))
    return normalized


def _normalize(hp: dict) -> tuple[dict, list[str]]:
    hp = {key: value for key, value in hp.items() if value is not None}
    problems = []
    for old, new in SPELLINGS.items():
        if old in hp:
            value = hp.pop(old)
            if new in hp and hp[new] != value:
                problems.append(_conflict_problem(
                    f"{old} = {toml_value(value)}", f"{new} = {toml_value(hp[new])}", new))
            hp.setdefault(new, value)
    if "n_layers" in hp or "layer_size" in hp:
        given = {name: hp.pop(name, default) for name, default in LAYER_DEFAULTS.items()}
        written = ", ".join(f"{name} = {toml_value(value)}" for name, value in given.items())
        if not all(is_whole_number(value) and value > 0 for value in given.values()):
            problems.append(problem(
                written,
                "n_layers is how many hidden layers the network has and layer_size how many units "
                "each has; both must be positive whole numbers.",
                "n_layers = 2, layer_size = 128   or, equivalently, hidden_sizes = [128, 128]",
            ))
        else:
            sizes = [given["layer_size"]] * given["n_layers"]
            if "hidden_sizes" in hp and hp["hidden_sizes"] != sizes:
                problems.append(_conflict_problem(
                    written, f"hidden_sizes = {toml_value(hp['hidden_sizes'])}", "hidden_sizes"))
            hp.setdefault("hidden_sizes", sizes)
    return hp, problems


def _conflict_problem(one: str, other: str, name: str) -> str:
    return problem(
        f"{one} and {other}",
        f"Both set {name}, to different values, and only one of them can win.",
        f"keep one of the two lines (we write {name}).",
    )


def resolve_hyperparams(overrides: dict | None = None) -> dict:
    """Every hyperparameter: the defaults, updated with ``overrides``, checked.

    Accepts the reference page's spellings. Raises ConfigError listing every problem.
    """
    hp = default_hyperparams()
    given, problems = _normalize(overrides or {})
    hp.update(given)
    problems += hyperparameter_problems(hp)
    if problems:
        raise ConfigError(problem_report(problems, "the hyperparameters", "Correct them and try again."))
    return hp


def validate_hyperparams(hp: dict) -> None:
    """Raise ConfigError listing every problem of the hyperparameters in ``hp``."""
    problems = hyperparameter_problems(hp)
    if problems:
        raise ConfigError(problem_report(problems, "the hyperparameters", "Correct them and try again."))


def hyperparameter_problems(hp: dict, section: str = "the hyperparameters") -> list[str]:
    """Every problem of the (normalized) hyperparameters in ``hp``; absent keys are fine."""
    found = [unknown_key_problem(key, value, HYPERPARAMETER_NAMES, section)
             for key, value in hp.items() if key not in HYPERPARAMETER_NAMES]
    for name, (integer, low, low_ok, high, why) in _NUMBERS.items():
        if name in hp:
            found += _number_problems(name, hp[name], integer, low, low_ok, high, why)
    for name in ("prioritize_experiences", "double_dqn"):
        if name in hp and not isinstance(hp[name], bool):
            found.append(problem(
                f"{name} = {toml_value(hp[name])}",
                f"{name} is a switch: write true or false, without quotes.",
                f"{name} = false",
            ))
    strategy = hp.get("unknown_character_strategy", "ignore")
    if strategy not in STRATEGIES:
        found.append(problem(
            f"unknown_character_strategy = {toml_value(strategy)}",
            'A character missing from character_set can be treated as an empty cell ("ignore") '
            'or given a new input channel of its own ("extend"); there is no other choice.',
            'unknown_character_strategy = "ignore"',
        ))
    if hp.get("seed") is not None and not (is_whole_number(hp["seed"]) and hp["seed"] >= 0):
        found.append(problem(
            f"seed = {toml_value(hp['seed'])}",
            "The seed starts the random number generators, so that a run can be repeated "
            "exactly; it must be a whole number, 0 or more.",
            "seed = 42   or delete the line for a different run each time",
        ))
    sizes = hp.get("hidden_sizes", [1])
    if not (isinstance(sizes, list) and sizes
            and all(is_whole_number(s) and 0 < s <= MAX_LAYER_SIZE for s in sizes)):
        found.append(problem(
            f"hidden_sizes = {toml_value(sizes)}",
            "hidden_sizes lists the hidden layers of the network, one number of units per layer; "
            "it needs at least one layer, and every size must be a positive whole number (at most "
            f"{MAX_LAYER_SIZE}: two layers that wide would already need terabytes of memory).",
            "hidden_sizes = [128, 128]",
        ))
    found += _relation_problems(hp)
    return found


# The largest sizes accepted. Larger ones could never fit in memory, so they can only be
# typing mistakes (a few zeros too many), and they are caught here rather than as a crash.
MAX_MEMORY_CAPACITY = 100_000_000
MAX_LAYER_SIZE = 1_000_000

# name: (must be a whole number?, lowest, lowest allowed?, highest allowed or None, why it matters)
_NUMBERS = {
    "learning_rate": (False, 0, False, None,
                      "the learning rate scales every weight update; with zero or less the network "
                      "never learns, or learns backwards."),
    "learning_rate_decay": (False, 0, False, 1,
                            "after each episode the learning rate is multiplied by this; 1 keeps it "
                            "fixed, above 1 it would grow until training blows up."),
    "gamma": (False, 0, True, 1,
              "gamma is the discount: how much a reward one turn later counts compared with one now. "
              "Above 1, rewards far in the future would count more than near ones and Q-values "
              "could grow without bound."),
    "epsilon": (False, 0, True, 1,
                "epsilon is the probability of a random action at the start of training, so it "
                "lies between 0 and 1."),
    "epsilon_decay": (False, 0, False, 1,
                      "after each episode epsilon is multiplied by this, so exploration fades; above "
                      "1 it would grow instead."),
    "epsilon_min": (False, 0, True, 1,
                    "epsilon_min is the probability of a random action that always remains, so it "
                    "lies between 0 and 1."),
    "batch_size": (True, 1, True, None,
                   "each training step learns from this many remembered turns at once."),
    "memory_capacity": (True, 1, True, MAX_MEMORY_CAPACITY,
                        "the replay memory keeps this many recent turns to learn from, and "
                        "reserves room for all of them when training starts."),
    "target_update_freq": (True, 1, True, None,
                           "the target network, which provides the TD targets, is refreshed every "
                           "this many training steps."),
    "train_every": (True, 1, True, None,
                    "one training step runs every this many turns of play."),
    "training_episodes": (True, 1, True, None,
                          "training plays this many games in all."),
    "max_turns_per_episode": (True, 1, True, None,
                              "an episode is cut after this many turns, so an agent that found a "
                              "way never to lose cannot play one game forever."),
    "exploration_turns": (True, 0, True, None,
                          "when character_set is not given, this many random turns are played "
                          "first to discover the characters (0 skips discovery)."),
}


def _number_problems(name, value, integer, low, low_ok, high, why) -> list[str]:
    default = HYPERPARAMETER_DEFAULTS[name]
    if integer:
        right_type = is_whole_number(value)
    else:
        right_type = isinstance(value, (int, float)) and not isinstance(value, bool)
    setting, fix = f"{name} = {toml_value(value)}", f"{name} = {default}"
    if isinstance(value, float) and not math.isfinite(value):
        return [problem(setting, f"{name} must be an ordinary number, not infinity or nan: {why}", fix)]
    if not right_type:
        kind = "a whole number" if integer else "a number"
        if isinstance(value, bool):
            kind += " (true and false are switches, not numbers)"
        elif integer and isinstance(value, float):
            kind += " (it counts things, so it has no fraction)"
        return [problem(setting, f"{name} must be {kind}: {why}", fix)]
    above_low = value >= low if low_ok else value > low
    below_high = high is None or value <= high
    if above_low and below_high:
        return []
    bounds = ("at least" if low_ok else "greater than") + f" {low}"
    if high is not None:
        bounds += f" and at most {high}"
    return [problem(setting, f"{name} must be {bounds}: {why}", fix)]


def _relation_problems(hp: dict) -> list[str]:
    found = []
    epsilon, epsilon_min = hp.get("epsilon"), hp.get("epsilon_min")
    if _is_probability(epsilon) and _is_probability(epsilon_min) and epsilon_min > epsilon:
        found.append(problem(
            f"epsilon_min = {epsilon_min} is above epsilon = {epsilon}",
            "epsilon starts at its value and decays down to epsilon_min, so the floor cannot be "
            "above the starting point.",
            f"epsilon = 1.0 and epsilon_min = {min(epsilon_min, 0.05)}",
        ))
    batch, capacity = hp.get("batch_size"), hp.get("memory_capacity")
    if is_whole_number(batch) and is_whole_number(capacity) and 0 < capacity < batch:
        found.append(problem(
            f"batch_size = {batch} is larger than memory_capacity = {capacity}",
            "Each training step samples batch_size turns from the replay memory, so the memory "
            "must be able to hold at least that many (and preferably many more, so that one "
            "batch holds turns from many different moments).",
            f"memory_capacity = {max(100 * batch, HYPERPARAMETER_DEFAULTS['memory_capacity'])}",
        ))
    return found


def _is_probability(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


# ---------------------------------------------------------------------------
# Reading and writing config.toml
# ---------------------------------------------------------------------------

@dataclass
class RunConfig:
    """A run's config.toml, read and checked.

    game: the [game] section {module, path?, factory?}.
    metadata: the game's description with [preprocessing] applied to it.
    preprocessing: [preprocessing] with every default filled in.
    hyperparams: [model] and [training] merged, every default filled in.
    raw: the file's tables exactly as parsed.
    """

    path: Path
    game: dict
    metadata: GameMetadata
    preprocessing: dict
    hyperparams: dict
    raw: dict = field(default_factory=dict)


def config_path(run_dir) -> Path:
    """The config.toml of a run folder (a path to the file itself is accepted too)."""
    path = Path(run_dir)
    return path if path.name == CONFIG_NAME else path / CONFIG_NAME


def read_config(run_dir) -> RunConfig:
    """Read and check ``run_dir``/config.toml; raise one ConfigError listing every problem."""
    path = config_path(run_dir)
    if not path.is_file():
        raise ConfigError(
            f"There is no {path}. A training run starts with a config.toml, written by:\n"
            f"    retro-gamer create --game retro.examples.snake --output {path.parent}"
        )
    raw = read_toml(path)
    problems = []
    for section, value in raw.items():
        if section not in SECTIONS:
            close = difflib.get_close_matches(section, SECTIONS, n=1, cutoff=0.6)
            problems.append(problem(
                f"[{toml_key(section)}]",
                f"config.toml has no section called [{toml_key(section)}], so none of its settings would be used.",
                f"did you mean [{close[0]}]?" if close else "the sections are: " + ", ".join(f"[{s}]" for s in SECTIONS[:-1]),
            ))
        elif not isinstance(value, dict):
            problems.append(problem(
                f"{toml_key(section)} = {toml_value(value)}",
                f"{section} must be a section, [{section}].",
                f"write [{section}] on a line of its own, then its settings below it",
            ))
    table = {name: raw.get(name) if isinstance(raw.get(name), dict) else {} for name in SECTIONS}
    game, game_problems = _read_game_section(table["game"])
    metadata, metadata_problems = GameMetadata.parse(table["metadata"], "[metadata]")
    problems += game_problems + metadata_problems
    for key, value in table["preprocessing"].items():
        if key not in PREPROCESSING_FIELDS:
            continue   # reported by apply_preprocessing below
        described = table["metadata"].get(key, value)
        if type(described) is not type(value) or described != value:
            problems.append(problem(
                f"{key} = {toml_value(described)} in [metadata] and "
                f"{key} = {toml_value(value)} in [preprocessing]",
                f"{key} is set twice, to different values, and only one of them can win.",
                f"keep {key} in [preprocessing] only",
            ))
    problems += metadata.apply_preprocessing(table["preprocessing"], "[preprocessing]")
    if isinstance(metadata.board_size, list):
        metadata.board_size = tuple(metadata.board_size)
    problems += metadata.problems()
    hyperparams, hyperparameter_problems_ = _read_hyperparams(table)
    problems += hyperparameter_problems_
    if problems:
        raise ConfigError(problem_report(problems, str(path), f"Correct {path} and run the command again."))
    if metadata.observation_function is None:
        # Worked out again from the measured sizes (or measured from the game when unknown),
        # so that an edited observe_state can never leave a stale size behind.
        sizes = metadata.observe_state_sizes
        measured = set(metadata.observe_state) <= set(sizes)
        metadata.extras_size = sum(sizes[k] for k in metadata.observe_state) if measured else 0
    return RunConfig(path, game, metadata, metadata.preprocessing_dict(), hyperparams, raw)


def _read_game_section(section: dict) -> tuple[dict, list[str]]:
    # A run made with the Python API (DQNTrainer) may have no [game]; TrainedPolicy
    # does not need one, and loading the game then says what to add.
    problems = [unknown_key_problem(key, value, GAME_KEYS, "[game]")
                for key, value in section.items() if key not in GAME_KEYS]
    module = section.get("module")
    module_ok = isinstance(module, str) and all(part.isidentifier() for part in module.split("."))
    if section and not module_ok:
        problems.append(problem(
            f"module = {toml_value(module)}",
            "[game] must name the Python module of the game, so that training can create new games.",
            'module = "retro.examples.snake"   (or run retro-gamer create again)',
        ))
    if "path" in section and not (isinstance(section["path"], str) and section["path"]):
        problems.append(problem(
            f"path = {toml_value(section['path'])}",
            "path is the folder that holds the game's module; it is added to Python's import path.",
            'path = "/home/me/games"   or delete the line for an installed game',
        ))
    if "factory" in section and not is_function_path(section["factory"]):
        problems.append(problem(
            f"factory = {toml_value(section['factory'])}",
            'factory names the function that creates a game, as "module:function".',
            'factory = "my_game:create_game"',
        ))
    game = {key: section[key] for key in GAME_KEYS if key in section}
    return game, problems


def _read_hyperparams(table: dict) -> tuple[dict, list[str]]:
    known = HYPERPARAMETER_NAMES + tuple(SPELLINGS) + tuple(LAYER_DEFAULTS)
    problems = []
    given = {}
    for section in ("model", "training", "hyperparameters"):
        for key, value in table[section].items():
            if key not in known:
                problems.append(unknown_key_problem(key, value, known, f"[{section}]"))
            elif key in given and (given[key] != value or isinstance(given[key], bool) != isinstance(value, bool)):
                # (true == 1 in Python: without the second test, epsilon = true in one section
                # and epsilon = 1.0 in another would pass unnoticed.)
                problems.append(problem(
                    f"{key} = {toml_value(value)} in [{section}]",
                    f"{key} is also set, to {toml_value(given[key])}, in another section; "
                    "only one of them can win.",
                    f"keep {key} in [training] only ([model] for hidden_sizes)",
                ))
            else:
                given[key] = value
    normalized, problems_ = _normalize(given)
    problems += problems_
    hyperparams = default_hyperparams()
    hyperparams.update(normalized)
    problems += hyperparameter_problems(hyperparams)
    return hyperparams, problems


def new_config(game_section: dict, metadata: GameMetadata, hyperparams: dict | None = None) -> dict:
    """The tables of a new config.toml, as ``create`` writes it.

    ``hyperparams`` may hold just the settings that differ from the defaults; every
    hyperparameter is written, so the learner sees them all and can edit them.
    """
    hp = resolve_hyperparams(hyperparams)
    return {
        "game": {key: value for key, value in game_section.items() if value is not None},
        "metadata": metadata.to_dict(),
        "preprocessing": metadata.preprocessing_dict(),
        "model": {name: hp[name] for name in MODEL_DEFAULTS},
        "training": {name: hp[name] for name in HYPERPARAMETER_DEFAULTS if hp[name] is not None},
    }


def save_trainer_config(run_dir, metadata: GameMetadata, hyperparams: dict,
                        game_section: dict | None = None) -> Path:
    """Rewrite config.toml with what training settled: discovered characters, measured sizes.

    The [game] section is kept from the existing file (or taken from ``game_section``);
    a run started from the Python API without one is written without [game].
    """
    path = config_path(run_dir)
    if game_section is None and path.is_file():
        game_section = read_toml(path).get("game")
    config = new_config(game_section or {}, metadata, hyperparams)
    if not config["game"]:
        del config["game"]
    return write_config(run_dir, config)


def write_config(run_dir, config: RunConfig | dict) -> Path:
    """Write ``run_dir``/config.toml atomically; return its path.

    ``config`` is a RunConfig (its metadata and hyperparameters are written, e.g.
    after training discovered the character set) or a dict of tables from new_config.
    """
    if isinstance(config, RunConfig):
        config = new_config(config.game, config.metadata, config.hyperparams)
    path = config_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, FILE_HEADER + config_text(config))
    return path


def config_text(config: dict) -> str:
    """config.toml's text: one line per setting, lists kept on their line.

    tomli_w writes each value (it knows TOML's quoting rules), but it spreads every
    list over one line per item; a config a learner edits by hand reads better with
    ``actions = ["KEY_RIGHT", "KEY_UP"]`` on one line.
    """
    sections = []
    for name, table in config.items():
        lines = [f"[{name}]"] + [f"{_toml_key(key)} = {_toml_inline(value)}" for key, value in table.items()]
        sections.append("\n".join(lines) + "\n")
    return "\n".join(sections)


def _toml_inline(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_inline(item) for item in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(key)} = {_toml_inline(item)}" for key, item in value.items())
        return "{ " + items + " }" if items else "{}"
    return tomli_w.dumps({"value": value}).strip()[len("value = "):]


def _toml_key(key: str) -> str:
    return tomli_w.dumps({key: 0}).strip()[: -len(" = 0")]
