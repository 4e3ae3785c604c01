"""TrainedPolicy and PolicyInput: loading a run, the one-board fast path, bundled policies."""
import importlib
import io
import sys
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from retro.examples.snake import create_game as create_snake
from retro.input import ProgrammaticInput

from retro_gamer.run import checkpoints
from retro_gamer.cli import main
from retro_gamer.run.config import read_config
from retro_gamer.errors import CheckpointError, ConfigError
from retro_gamer.dqn.network import build_network
from retro_gamer.run.files import atomic_save_npz
from reference_encoder import encode_cell_by_cell
from retro_gamer.policy import PolicyInput, TrainedPolicy


def create_run(run: Path, game: str = "retro.examples.snake", *options: str) -> Path:
    with redirect_stdout(io.StringIO()):
        assert main(["create", "--game", game, "--output", str(run), *options]) == 0
    return run


def edit_config(run: Path, old: str, new: str) -> None:
    path = run / "config.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def save_checkpoint(run: Path, name: str, seed: int, favour: int | None = None) -> dict:
    """A checkpoint of a freshly initialised network (its values are all we need here);
    ``favour``: an output whose bias is raised so much that it is always chosen."""
    config = read_config(run)
    network, _ = build_network(config.metadata, config.hyperparams, rng=np.random.default_rng(seed))
    params = {key: value.copy() for key, value in network.params.items()}
    last_bias = [key for key in params if key.endswith(".bias")][-1]
    if favour is not None:
        params[last_bias][favour] += 1000.0
    (run / "checkpoints").mkdir(exist_ok=True)
    atomic_save_npz(run / "checkpoints" / f"{name}.npz",
                    checkpoints.save_arrays({f"model/{k}": v for k, v in params.items()}))
    return params


def started_snake(turns: int = 0, seed: int = 0):
    import random
    random.seed(seed)
    game = create_snake()
    game.input_source = ProgrammaticInput()
    game.start()
    for _ in range(turns):
        game.step()
    return game


def reference_q_values(policy: TrainedPolicy, game) -> np.ndarray:
    """The obvious way: draw the board, one-hot it cell by cell, run the whole network."""
    extras = policy.encoder.extras(game)
    observation = encode_cell_by_cell(game, policy.metadata, extras)
    return policy.network.forward(observation[None, :])[0]


@pytest.fixture(scope="module")
def snake_run(tmp_path_factory):
    run = create_run(tmp_path_factory.mktemp("snake") / "run", "retro.examples.snake",
                     "--hidden-sizes", "32,16")
    save_checkpoint(run, "ep_0100", seed=1)
    save_checkpoint(run, "ep_0200", seed=2)
    save_checkpoint(run, "final", seed=2)
    return run


# ------------------------------------------------------------------------- the fast path

@pytest.mark.parametrize("turns", [0, 1, 5])
def test_q_values_match_the_obvious_forward_pass(snake_run, turns):
    policy = TrainedPolicy(snake_run)
    game = started_snake(turns)
    assert policy.q_values(game).shape == (5,)
    np.testing.assert_allclose(policy.q_values(game), reference_q_values(policy, game), rtol=1e-5, atol=1e-6)


def test_cnn_policy_matches_the_obvious_forward_pass(tmp_path):
    run = create_run(tmp_path / "run", "retro.examples.snake", "--hidden-sizes", "8")
    edit_config(run, "spatial = false", "spatial = true")
    save_checkpoint(run, "ep_0100", seed=3)
    policy = TrainedPolicy(run)
    game = started_snake(2)
    np.testing.assert_allclose(policy.q_values(game), reference_q_values(policy, game), rtol=1e-5, atol=1e-6)


def test_policy_without_a_board_reads_only_the_game_state(tmp_path):
    run = create_run(tmp_path / "run", "retro.examples.snake", "--hidden-sizes", "8")
    edit_config(run, "board = true", "board = false")
    edit_config(run, "egocentric = true", "egocentric = false")
    save_checkpoint(run, "ep_0100", seed=4)
    policy = TrainedPolicy(run)
    game = started_snake(3)
    expected = policy.network.forward(policy.encoder.encode(game)[None, :])[0]
    assert policy.network.obs_size == 2  # apple_dx, apple_dy
    np.testing.assert_allclose(policy.q_values(game), expected, rtol=1e-5, atol=1e-6)


def test_get_action_is_the_best_q_value_and_changes_nothing(snake_run):
    policy = TrainedPolicy(snake_run)
    game = started_snake(2)
    before = (dict(game.state), game.turn_number, [a.position for a in game.agents])
    action = policy.get_action(game)
    assert action == policy.action_keys[int(policy.q_values(game).argmax())]
    assert (dict(game.state), game.turn_number, [a.position for a in game.agents]) == before


def test_policy_input_presses_the_chosen_key(tmp_path):
    run = create_run(tmp_path / "run", "retro.examples.snake", "--hidden-sizes", "8")
    save_checkpoint(run, "ep_0100", seed=5, favour=2)
    policy = TrainedPolicy(run)
    game = started_snake(1)
    (keystroke,) = PolicyInput(policy, game).collect()
    assert keystroke.name == policy.get_action(game) == "KEY_LEFT"
    assert keystroke == ""  # an arrow key has no printable character


def test_policy_input_presses_nothing_for_the_no_op(tmp_path):
    run = create_run(tmp_path / "run", "retro.examples.snake", "--hidden-sizes", "8")
    save_checkpoint(run, "ep_0100", seed=5, favour=-1)
    policy = TrainedPolicy(run)
    game = started_snake()
    assert policy.get_action(game) is None
    assert PolicyInput(policy, game).collect() == set()


def test_policy_input_drives_a_whole_game(snake_run):
    policy = TrainedPolicy(snake_run)
    game = create_snake()
    game.input_source = PolicyInput(policy, game)
    game.start()
    for _ in range(300):
        if not game.playing:
            break
        game.step()
    assert game.turn_number > 0


def test_character_keys_become_character_keystrokes(snake_run):
    policy = TrainedPolicy(snake_run)
    policy.action_keys = ["a", None]
    keys = PolicyInput(policy, started_snake())._keystrokes
    assert keys["a"] == "a" and keys["a"].name is None


# ------------------------------------------------------------------------- checkpoints

def weights_of(policy: TrainedPolicy) -> np.ndarray:
    return policy.network.params["net.0.bias"].copy()


def test_latest_checkpoint_is_loaded_by_default(snake_run):
    policy = TrainedPolicy(snake_run)
    assert policy.checkpoint_name in ("ep_0200", "final")
    assert np.array_equal(weights_of(policy), weights_of(TrainedPolicy(snake_run, "ep_0200")))


@pytest.mark.parametrize("name", ["ep_0100", "ep_0100.npz", "checkpoints/ep_0100.npz"])
def test_checkpoint_names(snake_run, name, monkeypatch):
    monkeypatch.chdir(snake_run)
    policy = TrainedPolicy(snake_run, name)
    assert policy.checkpoint_name == "ep_0100"
    assert not np.array_equal(weights_of(policy), weights_of(TrainedPolicy(snake_run, "final")))


@pytest.mark.parametrize("name", ["../config.toml", "/etc/passwd", "replay_memory", "ep_0999"])
def test_nothing_outside_the_checkpoints_folder_can_be_named(snake_run, name):
    with pytest.raises(CheckpointError):
        TrainedPolicy(snake_run, name)


def test_a_run_without_checkpoints_says_to_train_first(tmp_path):
    run = create_run(tmp_path / "run", "retro.examples.snake")
    with pytest.raises(CheckpointError, match="retro-gamer train"):
        TrainedPolicy(run)


def test_missing_config_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config.toml"):
        TrainedPolicy(tmp_path)


def test_a_checkpoint_of_another_network_shape_is_refused(snake_run, tmp_path):
    other = create_run(tmp_path / "other", "retro.examples.snake", "--hidden-sizes", "7")
    (other / "checkpoints").mkdir()
    (other / "checkpoints" / "ep_0100.npz").write_bytes(
        (snake_run / "checkpoints" / "ep_0100.npz").read_bytes())
    with pytest.raises(CheckpointError, match="do not fit"):
        TrainedPolicy(other)


def test_a_damaged_checkpoint_is_refused(tmp_path):
    run = create_run(tmp_path / "run", "retro.examples.snake", "--hidden-sizes", "8")
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "ep_0100.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        TrainedPolicy(run)


# ------------------------------------------------------------------------- bundled policies

def zipped_run(run: Path, archive: Path) -> zipfile.Path:
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(run.rglob("*")):
            if path.is_file():
                zipped.write(path, "bundle/run/" + path.relative_to(run).as_posix())
    return zipfile.Path(archive, "bundle/run/")


def test_a_policy_inside_a_zip_loads_through_the_resources_api(snake_run, tmp_path):
    bundled = TrainedPolicy(zipped_run(snake_run, tmp_path / "game.zip"))
    on_disk = TrainedPolicy(snake_run)
    assert bundled.checkpoint_name == "ep_0200"  # the highest episode
    game = started_snake(1)
    np.testing.assert_array_equal(bundled.q_values(game), on_disk.q_values(game))
    named = TrainedPolicy(zipped_run(snake_run, tmp_path / "game2.zip"), checkpoint="ep_0100.npz")
    assert np.array_equal(weights_of(named), weights_of(TrainedPolicy(snake_run, "ep_0100")))


@pytest.mark.parametrize("name", ["../config", "checkpoints/ep_0100", "replay_memory", "ep_0300"])
def test_a_bundled_policy_accepts_plain_checkpoint_names_only(snake_run, tmp_path, name):
    with pytest.raises(CheckpointError, match="bundled policy"):
        TrainedPolicy(zipped_run(snake_run, tmp_path / "game.zip"), name)


def test_a_bundle_without_config_says_what_to_copy(tmp_path):
    archive = tmp_path / "empty.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("bundle/run/checkpoints/ep_0100.npz", b"")
    with pytest.raises(ConfigError, match="Copy the whole training run"):
        TrainedPolicy(zipfile.Path(archive, "bundle/run/"))


def test_a_game_package_ships_its_policy(snake_run, tmp_path, monkeypatch):
    package = tmp_path / "site" / "shipped_game"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    archive = tmp_path / "bundle.zip"
    zipped_run(snake_run, archive)
    # The package is imported from a zip, as from a zipped application.
    with zipfile.ZipFile(archive, "a") as zipped:
        zipped.writestr("shipped_game/__init__.py", "")
        for info in list(zipped.infolist()):
            if info.filename.startswith("bundle/run/"):
                zipped.writestr("shipped_game/policy/" + info.filename[len("bundle/run/"):],
                                zipped.read(info.filename))
    monkeypatch.syspath_prepend(str(archive))
    importlib.invalidate_caches()
    from importlib.resources import files

    resources = files("shipped_game") / "policy"
    assert not isinstance(resources, Path)  # read through the zip, not the file system
    policy = TrainedPolicy(resources)
    assert policy.checkpoint_name == "ep_0200"
    sys.modules.pop("shipped_game", None)


def test_run_dir_must_be_a_folder_like_object():
    with pytest.raises(TypeError, match="importlib.resources"):
        TrainedPolicy(42)


def test_a_game_with_another_board_size_gets_a_clear_error(tmp_path):
    import sys

    from retro_gamer import TrainedPolicy
    from retro_gamer.errors import GameError
    from retro_gamer.game.description import GameMetadata
    from retro_gamer.run.trainer import DQNTrainer
    from retro.game import Game

    sys.path.insert(0, str(Path(__file__).parent / "games"))
    import reach

    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    DQNTrainer(reach.create_game, metadata, tmp_path, training_episodes=1, seed=0).train()
    policy = TrainedPolicy(tmp_path)
    assert policy.get_action(reach.create_game()) in ("KEY_LEFT", "KEY_RIGHT", None)
    wider = Game([reach.Runner(0), reach.Goal(9)], {"score": 0}, board_size=(12, 1))
    with pytest.raises(GameError, match="trained on a 7x1 board.*has a 12x1 board"):
        policy.get_action(wider)
