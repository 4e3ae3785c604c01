"""config.toml: every setting of a training run, in one file the learner edits (``create`` writes it)."""
import difflib
import importlib
from dataclasses import dataclass, field
from pathlib import Path

from retro_gamer.errors import ConfigError, problem, problem_report, toml_key, toml_value, unknown_key_problem
from retro_gamer.game.description import GameMetadata, read_toml
from retro_gamer.run.files import atomic_write_text
from retro_gamer.settings import (ALL_SPELLINGS, HYPERPARAMETERS, OLD_SECTIONS, SECTIONS, SETTINGS, defaults,
                                  hyperparameter_problems, is_function_path, normalize, resolve_hyperparams)

CONFIG_NAME = "config.toml"
GAME_SETTINGS = {  # [game]'s settings (the others: retro_gamer/settings.py): is a value right, why, the fix
    "module": (lambda value: isinstance(value, str) and all(map(str.isidentifier, value.split("."))),
               "[game] must name the Python module of the game, so that training can create new games.",
               'module = "retro.examples.snake"   (or run retro-gamer create again)'),
    "path": (lambda value: isinstance(value, str) and value != "",
             "path is the folder that holds the game's module; it is added to Python's import path.",
             'path = "/home/me/games"   or delete the line for an installed game'),
    "factory": (is_function_path, 'factory names the function that creates a game, as "module:function".',
                'factory = "my_game:create_game"'),
}
GAME_KEYS = tuple(GAME_SETTINGS)
FILE_HEADER = ("# A retro-gamer training run. Edit [training] at any time; changing [metadata],\n"
               "# [preprocessing] or [model] makes existing checkpoints unusable (retro-gamer clean).\n\n")


@dataclass
class RunConfig:
    """A run's config.toml, read and checked (``raw``: its tables exactly as parsed)."""
    path: Path
    game: dict
    metadata: GameMetadata
    hyperparams: dict
    raw: dict = field(default_factory=dict)


def engine_module(name: str):
    """build_network, Adam and clip_grad_norm: from retro_gamer.fast, or retro_gamer.dqn for "plain"."""
    return importlib.import_module("retro_gamer.fast" if name == "fast" else "retro_gamer.dqn")


def read_config(run_dir) -> RunConfig:
    """Read and check ``run_dir``/config.toml (or that file itself): one ConfigError lists every problem.
    The published package's spellings are read too ([hyperparameters], n_layers, layer_size, lr_decay)."""
    folder = run_dir if hasattr(run_dir, "joinpath") else Path(run_dir)   # or an importlib.resources folder
    path = folder if folder.name == CONFIG_NAME else folder / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(f"There is no {path}. A training run starts with a config.toml, written by:\n"
                          f"    retro-gamer create --game retro.examples.snake --output {path.parent}")
    raw = read_toml(path)
    found, tables = [], {name: {} for name in SECTIONS}
    for name, value in raw.items():
        section = OLD_SECTIONS.get(name, name)
        if section not in SECTIONS:
            close = difflib.get_close_matches(name, SECTIONS, n=1, cutoff=0.6)
            found.append(problem(
                f"[{toml_key(name)}]",
                f"config.toml has no section called [{toml_key(name)}]: none of its settings would be used.",
                f"did you mean [{close[0]}]?" if close else f"the sections are: [{'], ['.join(SECTIONS)}]"))
        elif not isinstance(value, dict):
            found.append(problem(f"{toml_key(name)} = {toml_value(value)}",
                                 f"{name} must be a section, [{name}].",
                                 f"write [{name}] on a line of its own, then its settings below it"))
        elif section in ("model", "training"):        # one table for both: a setting in each is reported
            found += [unknown_key_problem(key, v, ALL_SPELLINGS, f"[{name}]") for key, v in value.items()
                      if key not in ALL_SPELLINGS]
            found += _merge(tables["training"], {k: v for k, v in value.items() if k in ALL_SPELLINGS}, name)
        else:
            found += _merge(tables[section], value, name)
    game = tables["game"]          # only GAME_KEYS once it passes: another key is a problem
    found += [unknown_key_problem(key, value, GAME_KEYS, "[game]") for key, value in game.items()
              if key not in GAME_KEYS]
    # A run made with the Python API (DQNTrainer) may have no [game]; one that has it needs a module.
    for key, (right, why, fix) in GAME_SETTINGS.items():
        if (key in game or (key == "module" and game)) and not right(game.get(key)):
            found.append(problem(f"{key} = {toml_value(game.get(key))}", why, fix))
    metadata, metadata_problems = GameMetadata.parse(tables["metadata"], "[metadata]")
    found += metadata_problems + _merge(dict(tables["metadata"]), tables["preprocessing"], "preprocessing")
    found += metadata.set(tables["preprocessing"]) + metadata.problems()
    given, spelling_problems = normalize(tables["training"])
    hyperparams = {**defaults(), **given}
    found += spelling_problems + hyperparameter_problems(hyperparams, "[training]")
    if found:
        raise ConfigError(problem_report(found, str(path), f"Correct {path} and run the command again."))
    if metadata.observation_function is None:
        # Worked out again (0: measured from the game), so that an edited observe_state leaves no stale size.
        sizes, keys = metadata.observe_state_sizes, metadata.observe_state
        metadata.extras_size = sum(sizes[k] for k in keys) if set(keys) <= set(sizes) else 0
    return RunConfig(path, game, metadata, hyperparams, raw)


def _merge(table: dict, section: dict, name: str) -> list[str]:
    """Add section [name]'s keys into ``table``; a key already there with another value is a problem."""
    found = []
    for key, value in section.items():
        # true == 1 in Python: epsilon = true in one section and 1.0 in another must still differ.
        if key in table and (table[key] != value or isinstance(table[key], bool) != isinstance(value, bool)):
            home = SETTINGS[key].section if key in SETTINGS else name
            found.append(problem(f"{key} = {toml_value(value)} in [{name}]", f"{key} is also set, to "
                                 f"{toml_value(table[key])}, in another section; only one of them can win.",
                                 f"keep {key} in [{home}] only"))
        table[key] = value
    return found


def new_config(game_section: dict, metadata: GameMetadata, hyperparams: dict | None = None) -> dict:
    """config.toml's tables, every setting shown to the learner (``hyperparams``: changes, any spelling)."""
    hp = resolve_hyperparams(hyperparams)
    game = {key: value for key, value in game_section.items() if value is not None}
    tables = {"game": game} if game else {}
    tables.update(metadata=metadata.to_dict(), preprocessing=metadata.preprocessing_dict())
    for section in ("model", "training"):
        tables[section] = {name: hp[name] for name in HYPERPARAMETERS
                           if SETTINGS[name].section == section and hp[name] is not None}
    return tables


def write_config(run_dir, config: dict) -> Path:
    """Write ``run_dir``/config.toml atomically from new_config's tables, a line per setting, each value
    as toml_value shows it in messages: lists and tables stay on one line, as a learner editing expects."""
    path = Path(run_dir) / CONFIG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    sections = [f"[{name}]\n" + "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in table.items())
                for name, table in config.items()]
    atomic_write_text(path, FILE_HEADER + "\n".join(sections))
    return path


def save_trainer_config(run_dir, metadata: GameMetadata, hyperparams: dict) -> Path:
    """Rewrite config.toml with what training settled (new characters, measured sizes), keeping [game]."""
    path = Path(run_dir) / CONFIG_NAME
    game = read_toml(path).get("game", {}) if path.is_file() else {}
    return write_config(run_dir, new_config(game if isinstance(game, dict) else {}, metadata, hyperparams))

