"""config.toml: defaults, writing and reading back, old spellings, and every error."""
import sys
import tomllib
from pathlib import Path

import pytest

from retro_gamer.errors import ConfigError, GameError
from retro_gamer.game.description import GameMetadata
from retro_gamer.game.environment import metadata_for_game
from retro_gamer.game.loading import load_game_factory, resolve_game
from retro_gamer.run.config import RunConfig, new_config, read_config, save_trainer_config, write_config
from retro_gamer.settings import (PREPROCESSING, SETTINGS, defaults, hyperparameter_problems, normalize,
                                  resolve_hyperparams)

HYPERPARAMETER_DEFAULTS = {name: s.default for name, s in SETTINGS.items() if s.section == "training"}


def normalize_hyperparams(given: dict) -> dict:
    settings, found = normalize(given)
    if found:
        raise ConfigError("\n".join(found))
    return settings

GAMES = Path(__file__).parent / "games"


@pytest.fixture(autouse=True)
def private_sys_path(monkeypatch):
    monkeypatch.setattr(sys, "path", [str(GAMES), *sys.path])


@pytest.fixture
def snake_run(tmp_path):
    """A run folder as `retro-gamer create --game retro.examples.snake` leaves it."""
    section = resolve_game("retro.examples.snake")
    write_config(tmp_path, new_config(section, metadata_for_game(section), {}))
    return tmp_path


def edit(run: Path, old: str, new: str) -> None:
    path = run / "config.toml"
    text = path.read_text()
    assert old in text, f"{old!r} is not in config.toml"
    path.write_text(text.replace(old, new, 1))


def problems_of(run: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        read_config(run)
    return " ".join(str(caught.value).split())  # lessons are wrapped over several lines


# -- defaults ------------------------------------------------------------------------------

def test_hyperparameter_defaults_are_the_reference_pages():
    assert HYPERPARAMETER_DEFAULTS == {
        "learning_rate": 0.001, "learning_rate_decay": 0.995, "gamma": 0.99,
        "epsilon": 1.0, "epsilon_decay": 0.995, "epsilon_min": 0.05,
        "batch_size": 64, "memory_capacity": 10000, "prioritize_experiences": False,
        "target_update_freq": 100, "train_every": 4, "training_episodes": 1000,
        "max_turns_per_episode": 2000, "exploration_turns": 200,
        "unknown_character_strategy": "ignore", "seed": None, "double_dqn": False, "engine": "fast",
    }
    assert SETTINGS["hidden_sizes"].default == [128, 128] and SETTINGS["hidden_sizes"].section == "model"
    preprocessing = defaults(PREPROCESSING)
    assert preprocessing["board"] is True and preprocessing["spatial"] is False
    assert preprocessing["egocentric_radius"] == 5


def test_resolve_fills_defaults_without_sharing_lists():
    hp = resolve_hyperparams({"gamma": 0.9})
    assert hp["gamma"] == 0.9 and hp["batch_size"] == 64 and hp["hidden_sizes"] == [128, 128]
    hp["hidden_sizes"].append(7)
    assert SETTINGS["hidden_sizes"].default == [128, 128] == resolve_hyperparams()["hidden_sizes"]


# -- create -> config.toml -> read ---------------------------------------------------------

def test_round_trip_gives_the_same_settings(tmp_path):
    section = resolve_game("retro.examples.snake")
    metadata = metadata_for_game(section)
    options = {"learning_rate": 0.0005, "hidden_sizes": [64, 32], "seed": 7, "prioritize_experiences": True}
    written = new_config(section, metadata, options)
    write_config(tmp_path, written)

    run = read_config(tmp_path)
    assert run.path == tmp_path / "config.toml"
    assert run.game == {"module": "retro.examples.snake"}
    assert run.metadata == metadata
    assert run.hyperparams == resolve_hyperparams(options)
    assert run.metadata.observe_state == ["apple_dx", "apple_dy"]
    assert run.metadata.observe_state_sizes == {"apple_dx": 1, "apple_dy": 1}
    assert run.raw == written
    with open(tmp_path / "config.toml", "rb") as f:
        assert tomllib.load(f) == written


def test_config_has_all_five_sections_and_every_hyperparameter(snake_run):
    with open(snake_run / "config.toml", "rb") as f:
        config = tomllib.load(f)
    assert list(config) == ["game", "metadata", "preprocessing", "model", "training"]
    assert config["metadata"]["board_size"] == [32, 16]
    assert config["model"] == {"hidden_sizes": [128, 128]}
    assert set(config["training"]) == set(HYPERPARAMETER_DEFAULTS) - {"seed"}  # TOML has no null
    assert config["preprocessing"]["egocentric_player"] == "Snake head"


def test_config_is_easy_to_edit_by_hand(snake_run):
    text = (snake_run / "config.toml").read_text()
    assert 'actions = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]' in text
    assert "hidden_sizes = [128, 128]" in text
    assert "observe_state_sizes = { apple_dx = 1, apple_dy = 1 }" in text


def test_write_is_atomic_and_leaves_no_temporary_file(snake_run):
    assert [p.name for p in snake_run.iterdir()] == ["config.toml"]


def test_writing_a_run_config_keeps_what_training_found(snake_run):
    run = read_config(snake_run)
    run.metadata.character_set.append("#")
    run.metadata.observe_state_sizes["apple_dx"] = 1
    run.hyperparams["training_episodes"] = 50
    save_trainer_config(snake_run, run.metadata, run.hyperparams)
    again = read_config(snake_run)
    assert again.metadata.character_set[-1] == "#"
    assert again.hyperparams["training_episodes"] == 50
    assert again.game == run.game


def test_extras_size_is_worked_out_from_measured_sizes(snake_run):
    assert read_config(snake_run).metadata.extras_size == 2
    edit(snake_run, 'observe_state = ["apple_dx", "apple_dy"]', 'observe_state = ["apple_dx", "energy"]')
    run = read_config(snake_run)
    assert run.metadata.extras_size == 0  # "energy" not measured yet: measured when training starts
    assert run.metadata.preprocessing_dict()["observe_state_sizes"] == {"apple_dx": 1}


def test_seed_is_written_only_when_set(tmp_path):
    metadata = GameMetadata(actions=["a"], reward="s", character_set=["@"], board_size=(4, 4))
    write_config(tmp_path, new_config({"module": "g"}, metadata, {"seed": 3}))
    assert read_config(tmp_path).hyperparams["seed"] == 3
    write_config(tmp_path, new_config({"module": "g"}, metadata, {"seed": None}))
    assert "seed" not in (tmp_path / "config.toml").read_text()
    assert read_config(tmp_path).hyperparams["seed"] is None


def test_read_config_accepts_the_file_itself(snake_run):
    assert isinstance(read_config(snake_run / "config.toml"), RunConfig)


# -- the reference page's spellings ---------------------------------------------------------

def test_reference_page_spellings_are_read(tmp_path):
    (tmp_path / "config.toml").write_text(
        '[game]\nmodule = "retro.examples.nav"\n\n'
        '[metadata]\nactions = ["KEY_LEFT", "KEY_RIGHT"]\nreward = "score"\n'
        'character_set = ["^", "O"]\nboard_size = [25, 25]\nextras_size = 0\n\n'
        '[hyperparameters]\nn_layers = 3\nlayer_size = 64\nlr_decay = 0.99\nepsilon_min = 0.1\n'
    )
    hp = read_config(tmp_path).hyperparams
    assert hp["hidden_sizes"] == [64, 64, 64]
    assert hp["learning_rate_decay"] == 0.99
    assert hp["epsilon_min"] == 0.1


def test_normalize_hyperparams():
    assert normalize_hyperparams({"lr_decay": 0.9, "gamma": 0.5}) == {"learning_rate_decay": 0.9, "gamma": 0.5}
    assert normalize_hyperparams({"n_layers": 1})["hidden_sizes"] == [128]
    assert normalize_hyperparams({"layer_size": 32})["hidden_sizes"] == [32, 32]
    assert normalize_hyperparams({"seed": None, "gamma": None}) == {}  # None = option not given


@pytest.mark.parametrize("given", [
    {"lr_decay": 0.9, "learning_rate_decay": 0.8},
    {"n_layers": 2, "layer_size": 64, "hidden_sizes": [128]},
    {"n_layers": 0},
    {"layer_size": True},
])
def test_spellings_that_disagree_or_are_invalid_are_reported(given):
    with pytest.raises(ConfigError, match="Fix:"):
        normalize_hyperparams(given)


def test_same_setting_in_two_sections_must_agree(snake_run):
    edit(snake_run, "[model]\n", "[model]\nbatch_size = 32\n")
    message = problems_of(snake_run)
    assert "batch_size = 64 in [training]" in message and "also set, to 32" in message


def test_a_switch_and_a_number_do_not_agree_though_python_says_true_equals_one(snake_run):
    # Found by tests/test_config_fuzz.py: epsilon = true in [model] hid behind epsilon = 1.0.
    edit(snake_run, "[model]\n", "[model]\nepsilon = true\n")
    message = problems_of(snake_run)
    assert "epsilon" in message and "also set, to true" in message


# -- every problem of the hyperparameters ---------------------------------------------------

BAD_HYPERPARAMETERS = [
    ("learning_rate", 0, "greater than 0"),
    ("learning_rate", -1, "greater than 0"),
    ("learning_rate", "fast", "must be a number"),
    ("learning_rate_decay", 0, "greater than 0 and at most 1"),
    ("learning_rate_decay", 1.5, "greater than 0 and at most 1"),
    ("gamma", 1.01, "at least 0 and at most 1"),
    ("epsilon", -0.1, "at least 0 and at most 1"),
    ("epsilon_decay", 0, "greater than 0 and at most 1"),
    ("epsilon_min", 2, "at least 0 and at most 1"),
    ("batch_size", True, "true and false are switches"),
    ("batch_size", 64.5, "no fraction"),
    ("batch_size", 0, "at least 1"),
    ("memory_capacity", 0, "at least 1"),
    ("target_update_freq", -1, "at least 1"),
    ("train_every", 0, "at least 1"),
    ("training_episodes", 0, "at least 1"),
    ("max_turns_per_episode", 0, "at least 1"),
    ("exploration_turns", -1, "at least 0"),
    ("exploration_turns", False, "true and false are switches"),
    ("prioritize_experiences", "yes", "must be true or false"),
    ("double_dqn", 1, "must be true or false"),
    ("unknown_character_strategy", "grow", '"extend"'),
    ("seed", -1, "at least 0"),
    ("seed", "lucky", "must be a whole number"),
    ("hidden_sizes", [], "one per hidden layer"),
    ("hidden_sizes", [128, 0], "each at least 1"),
    ("hidden_sizes", [True], "a list of whole numbers"),
    ("hidden_sizes", "128", "a list of whole numbers"),
    ("learnin_rate", 0.01, "did you mean learning_rate"),
    ("engine", "turbo", '"fast" or "plain"'),
]


@pytest.mark.parametrize("key, value, lesson", BAD_HYPERPARAMETERS)
def test_each_bad_hyperparameter_is_explained(key, value, lesson):
    with pytest.raises(ConfigError) as caught:
        resolve_hyperparams({key: value})
    message = " ".join(str(caught.value).split())
    assert lesson in message
    assert "Fix:" in message
    assert message.startswith("Found 1 problem")


def test_epsilon_min_above_epsilon():
    with pytest.raises(ConfigError, match="epsilon_min = 0.6 is above epsilon = 0.5"):
        resolve_hyperparams({"epsilon": 0.5, "epsilon_min": 0.6})


def test_batch_larger_than_memory():
    with pytest.raises(ConfigError, match="batch_size = 64 is larger than memory_capacity = 32"):
        resolve_hyperparams({"memory_capacity": 32})


def test_hyperparameter_problems_checks_what_is_given():
    assert hyperparameter_problems(resolve_hyperparams()) == []
    assert hyperparameter_problems({"gamma": 0.5}) == []
    assert "at most 1" in hyperparameter_problems({"gamma": 5})[0]


# -- reading a config with problems ------------------------------------------------------------

def test_every_problem_of_the_file_is_listed_at_once_naming_the_file(snake_run):
    edit(snake_run, "learning_rate = 0.001", "learnin_rate = 0.001")
    edit(snake_run, "batch_size = 64", "batch_size = true")
    edit(snake_run, "epsilon_min = 0.05", "epsilon_min = 1.5")
    edit(snake_run, "board = true", "board = false")
    edit(snake_run, "spatial = false", "spatial = true")
    edit(snake_run, "[game]", "[gaem]\nx = 1\n\n[game]")
    edit(snake_run, 'reward = "reward"', 'rewrad = "reward"')
    message = problems_of(snake_run)
    assert message.startswith(f"Found 8 problems in {snake_run / 'config.toml'}")
    for lesson in ("did you mean [game]", "did you mean learning_rate", "true and false are switches",
                   "at most 1", "convolutional network", "did you mean reward", "reward is missing",
                   "a crop of the board"):
        assert lesson in message


@pytest.mark.parametrize("old, new, lesson", [
    ('observe_state = ["apple_dx", "apple_dy"]', 'observe_state = ["reward"]', "is the reward key"),
    ('egocentric_player = "Snake head"\n', "", "without a name"),
    ("egocentric_radius = 8", "egocentric_radius = 0", "every cell of the window is an input"),
    ("egocentric = true", "egocentrik = true", "did you mean egocentric"),
    ('reward = "reward"', 'reward = "reward"\nobservation_function = "m:f"', "two different ways"),
    ('module = "retro.examples.snake"', 'module = "retro/examples/snake"', "[game] must name"),
    ('module = "retro.examples.snake"', 'module = "retro.examples.snake"\nfactory = "snake"', "module:function"),
    ('module = "retro.examples.snake"', 'module = "retro.examples.snake"\nfile = "x"', "[game] has no setting"),
    ('board_size = [32, 16]', 'board_size = [32]', "two whole numbers above 0"),
    ("\n[training]", "\n[trainingg]", "did you mean [training]"),
])
def test_problems_in_each_section_are_found(snake_run, old, new, lesson):
    edit(snake_run, old, new)
    message = problems_of(snake_run)
    assert lesson in message
    assert str(snake_run / "config.toml") in message


def test_board_false_needs_observe_state(snake_run):
    edit(snake_run, "board = true", "board = false")
    edit(snake_run, 'observe_state = ["apple_dx", "apple_dy"]', "observe_state = []")
    assert "see nothing at all" in problems_of(snake_run)


def test_toml_syntax_error_names_file_and_line(snake_run):
    edit(snake_run, 'reward = "reward"', "reward = reward")
    message = problems_of(snake_run)
    assert str(snake_run / "config.toml") in message
    assert "line 9" in message
    assert 'reward = "score"' in message  # shows how a string is written


def test_missing_config_says_how_to_create_one(tmp_path):
    with pytest.raises(ConfigError, match="retro-gamer create"):
        read_config(tmp_path)


# -- what training writes back -------------------------------------------------------------------

def test_save_trainer_config_keeps_the_game_section(snake_run):
    run = read_config(snake_run)
    run.metadata.character_set = ["@", "*"]
    save_trainer_config(snake_run, run.metadata, {**run.hyperparams, "training_episodes": 9})
    again = read_config(snake_run)
    assert again.game == {"module": "retro.examples.snake"}
    assert again.metadata.character_set == ["@", "*"]
    assert again.hyperparams["training_episodes"] == 9


def test_a_run_from_the_python_api_has_no_game_section(tmp_path):
    metadata = GameMetadata(actions=["a"], reward="s", character_set=["@"], board_size=(4, 4))
    save_trainer_config(tmp_path, metadata, {})
    run = read_config(tmp_path)
    assert run.game == {} and run.metadata == metadata
    with pytest.raises(GameError, match="\\[game\\] section is missing"):
        load_game_factory(run.game)
