"""Every setting, declared once: where it lives in config.toml, its default, the values it takes and the
sentences that explain it. config.toml's checks (run/config.py), create's options (cli/), GameMetadata's
fields and docs/reference.md's tables come from this table or are tested against it (tests/test_docs.py)."""
import copy
import math
from dataclasses import dataclass

from retro_gamer.errors import ConfigError, problem, problem_report, toml_value, unknown_key_problem


@dataclass(frozen=True)
class Setting:
    """One setting. section: "metadata" (the game's description), "preprocessing", "model" or "training".
    kind: one of KINDS. low/high: the bounds of a number (of each number of a list), low excluded when above
    is True. explain: what it does, in the words docs/reference.md, `create --help` and the error messages
    use. A default of None means unset, or, for a required setting, that the description must give it."""
    name: str
    section: str
    default: object
    kind: str
    explain: str
    low: float | None = None
    high: float | None = None
    above: bool = False
    choices: tuple = ()
    required: bool = False
    example: str = ""             # a corrected line's value, for a setting without a default

    @property
    def option(self) -> str | None:
        """Its option of `create`; the description and [preprocessing] are edited in their files."""
        return "--" + self.name.replace("_", "-") if self.section in ("model", "training") else None

    def bounds(self) -> str:
        """'at least 1', 'greater than 0 and at most 1', ... ('' when any value of its kind goes)."""
        parts = [] if self.low is None else [f"{'greater than' if self.above else 'at least'} {self.low}"]
        return " and ".join(parts + ([] if self.high is None else [f"at most {self.high}"]))


SETTINGS = {s.name: s for s in [
    Setting("actions", "metadata", None, "actions", 'The keys the agent may press: names like `"KEY_RIGHT"` '
            'or `"KEY_SPACE"`, or single characters like `"w"`. A no-op (press nothing) is always added as '
            "the last action, so the network has `len(actions) + 1` outputs.",
            required=True, example='["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]'),
    Setting("reward", "metadata", None, "name", "A key of `game.state` holding a number: the reward of a "
            "turn is how much that number changed during the turn, and the agent learns to make it grow.",
            required=True, example='"score"'),
    Setting("character_set", "metadata", None, "characters", "The characters the board can show, one input "
            "channel each; characters not listed count as empty cells, and a space, which is how an empty "
            "cell looks, is not allowed. Unset: `exploration_turns` random turns are played when training "
            "starts, and the characters seen are used.",
            example='["@", "*", "#"]   or delete the line: training then discovers them'),
    Setting("board_size", "metadata", None, "pair", "`[width, height]`, in cells. Do not write it: `create` "
            "reads it from the game.",
            example="[32, 16]   or delete the line and run 'retro-gamer create' again"),
    Setting("observation_function", "metadata", None, "function", '`"module:function"` naming `f(game)` '
            "that returns a flat list of numbers; it replaces the built-in encoding (board and "
            "`observe_state`) completely.", example='"my_game:observe"'),
    Setting("factory", "metadata", None, "function", '`"module:function"` naming the zero-argument function '
            "that returns a new game, when it is not the module's `create_game`.",
            example='"my_game:create_game"'),
    Setting("spatial", "preprocessing", False, "switch", "`true`: a convolutional network (CNN) reads the "
            "board as a 2-D picture. `false`: a multilayer perceptron (MLP) reads it as one flat list of "
            "numbers."),
    Setting("board", "preprocessing", True, "switch", "`false` leaves the board out; then the agent sees "
            "only `observe_state`, which must not be empty, and `spatial` must be `false`."),
    Setting("observe_state", "preprocessing", [], "keys", "Keys of `game.state` whose values are appended "
            "after the board: numbers, `true`/`false`, or lists of them (flattened). Every key must exist "
            "from the first turn and keep its length."),
    Setting("observe_state_sizes", "preprocessing", {}, "counts", "How many numbers each `observe_state` "
            "key gave when first measured. Written by `create` and `train`; you do not edit it."),
    Setting("egocentric", "preprocessing", False, "switch", "`true` crops the board to a `(2r+1) x (2r+1)` "
            "window centred on one agent. Cells beyond the board's edge are marked in one extra "
            '"off-board" channel, so the agent sees walls.'),
    Setting("egocentric_player", "preprocessing", None, "name", "The `name` of the agent the window "
            "follows. Required when `egocentric = true`.", example='"player"'),
    Setting("egocentric_radius", "preprocessing", 5, "whole", "`r`, in cells: every cell of the window is "
            "an input of the network, and 100 cells a side already covers any terminal board.",
            low=1, high=100),
    Setting("hidden_sizes", "model", [128, 128], "sizes", "The hidden layers of the MLP (for a CNN: of the "
            "head after the convolutions), one width per layer. Bigger networks can learn more, but learn "
            "more slowly.", low=1, high=1_000_000),
    Setting("learning_rate", "training", 0.001, "number", "Adam's step size: how far the weights move in "
            "one learning step. If the loss keeps growing, try ten times smaller.", low=0, above=True),
    Setting("learning_rate_decay", "training", 0.995, "number", "The learning rate is multiplied by this "
            "after every episode in which a learning step ran, so late training makes finer steps; 1 keeps "
            "it fixed.", low=0, above=True, high=1),
    Setting("gamma", "training", 0.99, "number", "The discount: how much a reward one turn later counts "
            "compared with one now. Near 1 the agent plans ahead, near 0 it only wants the next reward.",
            low=0, high=1),
    Setting("epsilon", "training", 1.0, "number", "The probability of a random action at the start of "
            "training.", low=0, high=1),
    Setting("epsilon_decay", "training", 0.995, "number", "Epsilon is multiplied by this after every "
            "episode; closer to 1 explores for longer.", low=0, above=True, high=1),
    Setting("epsilon_min", "training", 0.05, "number", "The floor epsilon never falls below, so the agent "
            "keeps trying new things.", low=0, high=1),
    Setting("batch_size", "training", 64, "whole", "Transitions per learning step, drawn from the replay "
            "memory.", low=1),
    Setting("memory_capacity", "training", 10000, "whole", "Transitions the replay memory holds, the oldest "
            "forgotten first; its room is reserved when training starts.", low=1, high=100_000_000),
    Setting("prioritize_experiences", "training", False, "switch", "Prioritized replay: draw surprising "
            "transitions (large TD error) more often, with importance-sampling weights "
            "(alpha = 0.6, beta = 0.4)."),
    Setting("target_update_freq", "training", 100, "whole", "Learning steps between copies of the online "
            "network into the target network, which computes the TD targets: larger is steadier, but slower "
            "to follow.", low=1),
    Setting("train_every", "training", 4, "whole", "Turns played per learning step. Learning starts once "
            "the memory holds `batch_size` transitions.", low=1),
    Setting("training_episodes", "training", 1000, "whole", "Episodes in all. Raise it and run `train` "
            "again to keep training.", low=1),
    Setting("max_turns_per_episode", "training", 2000, "whole", "An episode is cut after this many turns, "
            "so an agent that never loses cannot play one game forever. A cut episode is not a terminal "
            "transition: its last target still counts the future.", low=1),
    Setting("exploration_turns", "training", 200, "whole", "Random turns played to discover the characters "
            "when `character_set` is unset (0 skips discovery).", low=0),
    Setting("unknown_character_strategy", "training", "ignore", "choice", "A character that is not in "
            '`character_set` is an empty cell (`"ignore"`), or gets a new input channel with zero weights, '
            'so the network keeps what it learned (`"extend"`).', choices=("ignore", "extend")),
    Setting("seed", "training", None, "whole", "A whole number seeds every random choice (the games' "
            "`random`, exploration, replay sampling, initial weights), so a run can be repeated exactly. "
            "Unset: a different run each time.",
            low=0, example="42   or delete the line for a different run each time"),
    Setting("double_dqn", "training", False, "switch", "Double DQN: the online network chooses the next "
            "action, the target network values it, which keeps Q-values from being overestimated. Not in "
            "the published package."),
    Setting("engine", "training", "fast", "choice", '`"fast"`: the fast engine (retro_gamer/fast/). '
            '`"plain"`: the textbook code of retro_gamer/dqn/ alone, slower, the same numbers. Checkpoints '
            "fit both.", choices=("fast", "plain")),
]}

SECTIONS = ("game", "metadata", "preprocessing", "model", "training")
DESCRIPTION = tuple(name for name, s in SETTINGS.items() if s.section == "metadata")
MINIMAL_DESCRIPTION = ('[tool.retro-gamer]\nactions = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]\n'
                       'reward = "score"')
PREPROCESSING = tuple(name for name, s in SETTINGS.items() if s.section == "preprocessing")
HYPERPARAMETERS = tuple(name for name, s in SETTINGS.items() if s.section in ("model", "training"))
# The published package's spellings; n_layers and layer_size mean hidden_sizes = [layer_size] * n_layers.
OLD_SECTIONS = {"hyperparameters": "training"}
OLD_NAMES = {"lr_decay": "learning_rate_decay"}
LAYER_DEFAULTS = {"n_layers": 2, "layer_size": 128}
ALL_SPELLINGS = HYPERPARAMETERS + tuple(OLD_NAMES) + tuple(LAYER_DEFAULTS)  # what [training] may hold


def defaults(names=HYPERPARAMETERS) -> dict:
    """A fresh copy of the defaults of these settings."""
    return {name: copy.deepcopy(SETTINGS[name].default) for name in names}


def is_whole_number(value) -> bool:
    """An int, but not a bool: bool is a subclass of int, yet `batch_size = true` is a mistake."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_function_path(value) -> bool:
    """True for a "module:function" string such as "my_game:create_game"."""
    module, _, function = value.partition(":") if isinstance(value, str) else ("", "", "")
    return all(part.isidentifier() for part in module.split(".")) and function.isidentifier()


# kind: (does a value fit?, what a value must be). Lists of names must also not repeat a name.
KINDS = {
    "number": (lambda v: (is_whole_number(v) or isinstance(v, float)) and math.isfinite(v), "a number"),
    "whole": (is_whole_number, "a whole number"),
    "switch": (lambda v: isinstance(v, bool), "true or false, without quotes"),
    "name": (lambda v: isinstance(v, str) and v != "", "a text in quotes"),
    "function": (is_function_path, 'written "module:function"'),
    "sizes": (lambda v: isinstance(v, list) and v != [] and all(map(is_whole_number, v)),
              "a list of whole numbers, one per hidden layer"),
    "keys": (lambda v: isinstance(v, list) and all(isinstance(k, str) and k for k in v),
             "a list of names in quotes"),
    "actions": (lambda v: isinstance(v, list) and v != [] and all(
        isinstance(k, str) and (k.startswith("KEY_") or len(k) == 1) for k in v),
                'a non-empty list of keys the game can receive: special keys named like "KEY_RIGHT", or '
                'single characters such as "w"'),
    "characters": (lambda v: isinstance(v, list) and all(isinstance(c, str) and len(c) == 1 and c != " "
                                                          for c in v),
                   "a list of single characters, not a space"),
    "pair": (lambda v: isinstance(v, (list, tuple)) and len(v) == 2
             and all(is_whole_number(n) and n > 0 for n in v), "two whole numbers above 0"),
    "counts": (lambda v: isinstance(v, dict) and all(is_whole_number(n) and n > 0 for n in v.values()),
               "a table of whole numbers above 0"),
}


def value_problems(name: str, value) -> list[str]:
    """What is wrong with ``value`` for the setting ``name`` ([] when it is fine)."""
    s = SETTINGS[name]
    fits, wanted = KINDS.get(s.kind, (lambda v: v in s.choices, " or ".join(map(toml_value, s.choices))))
    example = s.example or toml_value(s.default)
    if value is None:
        return [] if not s.required else [problem(
            f"{name} is missing", f"The game's description must give {name}. {s.explain.replace('`', '')}",
            f"add a line such as: {name} = {example}\nA minimal description is:\n{MINIMAL_DESCRIPTION}")]
    numbers = value if isinstance(value, list) else [value]
    if fits(value) and (s.low is None or all(n > s.low if s.above else n >= s.low for n in numbers)) \
            and (s.high is None or all(n <= s.high for n in numbers)):
        if not isinstance(value, list) or s.kind == "sizes" or len(set(value)) == len(value):
            return []
        repeated = toml_value(sorted({v for v in value if value.count(v) > 1}))
        return [problem(f"{name} = {toml_value(value)}",
                        f"{repeated} is listed more than once: one is enough. " + s.explain.replace("`", ""),
                        f"{name} = {toml_value(list(dict.fromkeys(value)))}")]
    bounds = f", {'each ' * (s.kind == 'sizes')}{s.bounds()}" if s.bounds() else ""
    if isinstance(value, bool) and s.kind in ("number", "whole", "sizes"):
        bounds += " (true and false are switches, not numbers)"
    elif isinstance(value, float) and s.kind == "whole":
        bounds += " (it counts things, so it has no fraction)"
    why = f"{name} must be {wanted}{bounds}. {s.explain.replace('`', '')}"
    return [problem(f"{name} = {toml_value(value)}", why, f"{name} = {example}")]


def normalize(given: dict) -> tuple[dict, list[str]]:
    """The published package's spellings made ours, None dropped -> (settings, problems: e.g. conflicts)."""
    found, hp = [], {key: value for key, value in given.items() if value is not None}
    for old, new in OLD_NAMES.items():
        if (value := hp.pop(old, None)) is not None:
            found += _adopt(hp, f"{old} = {toml_value(value)}", new, value)
    if "n_layers" in hp or "layer_size" in hp:
        layers = {name: hp.pop(name, default) for name, default in LAYER_DEFAULTS.items()}
        written = ", ".join(f"{name} = {toml_value(value)}" for name, value in layers.items())
        if not all(is_whole_number(v) and v > 0 for v in layers.values()):
            found.append(problem(written, "n_layers is how many hidden layers the network has and layer_size "
                                 "how many units each has; both must be whole numbers above 0.",
                                 "n_layers = 2, layer_size = 128   or, the same, hidden_sizes = [128, 128]"))
        else:
            found += _adopt(hp, written, "hidden_sizes", [layers["layer_size"]] * layers["n_layers"])
    return hp, found


def _adopt(hp: dict, written: str, name: str, value) -> list[str]:
    """Set hp[name] from an old spelling, ``written``; a different value already set is a conflict."""
    if name in hp and hp[name] != value:
        return [problem(f"{written} and {name} = {toml_value(hp[name])}", f"Both set {name}, to different "
                        "values, and only one can win.", f"keep one of the two lines (we write {name}).")]
    hp.setdefault(name, value)
    return []


def hyperparameter_problems(hp: dict, where: str = "the hyperparameters") -> list[str]:
    """Every problem of [model] and [training] settings in ``hp`` (normalized; absent keys are fine)."""
    found = [unknown_key_problem(key, value, ALL_SPELLINGS, where) for key, value in hp.items()
             if key not in ALL_SPELLINGS]
    bad = {key for key, value in hp.items() if key in HYPERPARAMETERS and value_problems(key, value)}
    found += [p for key in bad for p in value_problems(key, hp[key])]
    # The relations between settings, once each of them is fine on its own.
    epsilon, floor = hp.get("epsilon", 1.0), hp.get("epsilon_min", 0.0)
    if not {"epsilon", "epsilon_min"} & bad and floor > epsilon:
        found.append(problem(f"epsilon_min = {floor} is above epsilon = {epsilon}", "epsilon starts at its "
                             "value and decays down to epsilon_min, so the floor cannot be above the "
                             "starting point.", f"epsilon = 1.0 and epsilon_min = {min(floor, 0.05)}"))
    batch, capacity = hp.get("batch_size", 1), hp.get("memory_capacity", 10**9)
    if not {"batch_size", "memory_capacity"} & bad and capacity < batch:
        found.append(problem(f"batch_size = {batch} is larger than memory_capacity = {capacity}",
                             "Each learning step draws batch_size transitions from the replay memory, so it "
                             "must hold at least that many, and better many more: a batch should mix turns "
                             "from many different moments.", f"memory_capacity = {max(100 * batch, 10000)}"))
    return found


def resolve_hyperparams(given: dict | None = None) -> dict:
    """All [model] and [training] settings: defaults updated with ``given``; a ConfigError lists problems."""
    hp, found = normalize(given or {})
    hp = {**defaults(), **hp}
    if found := found + hyperparameter_problems(hp):
        raise ConfigError(problem_report(found, "the hyperparameters", "Correct them and try again."))
    return hp
