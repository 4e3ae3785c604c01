"""GameEnvironment: episodes, rewards, observations, and games that misbehave."""
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from reference_encoder import encode_cell_by_cell
from retro_gamer.dqn.network import one_hot
from retro_gamer.errors import ConfigError, GameError
from retro_gamer.game.description import GameMetadata
from retro_gamer.game.environment import GameEnvironment, discover_characters, metadata_for_game
from retro_gamer.game.loading import load_game_factory, resolve_game

GAMES = Path(__file__).parent / "games"
sys.path.insert(0, str(GAMES))  # the odd test games are imported by name below

import odd_faults  # noqa: E402
import odd_lantern  # noqa: E402


@pytest.fixture(autouse=True)
def seeded():
    random.seed(5)  # the games draw from Python's random module


def snake_env():
    """Snake, seeing the whole board (its built-in description sees a window around the head)."""
    section = resolve_game("retro.examples.snake")
    metadata = metadata_for_game(section)
    metadata.egocentric = False
    return GameEnvironment(load_game_factory(section), metadata)


def walk_metadata(**changes) -> GameMetadata:
    return GameMetadata(**{"actions": ["KEY_RIGHT"], "reward": "score", "character_set": ["w", "r"],
                           **changes})


# -- the published interface -------------------------------------------------------------------

def test_reset_and_step_give_float32_observations_of_obs_size():
    env = snake_env()
    obs = env.reset()
    assert obs.dtype == np.float32 and obs.shape == (env.metadata.obs_size,) == (6 * 32 * 16 + 2,)
    obs, reward, done = env.step("KEY_UP")
    assert obs.dtype == np.float32 and obs.shape == (env.metadata.obs_size,)
    assert isinstance(reward, float) and isinstance(done, bool)


def test_reset_shows_the_board_as_it_stands_at_the_start():
    env = snake_env()
    obs = env.reset()
    np.testing.assert_array_equal(obs, encode_cell_by_cell(env.game, env.metadata))
    assert obs[: 6 * 512].sum() == 2  # the apple and the head, not an empty board


def test_reward_is_the_change_of_the_reward_key_over_the_turn():
    env = snake_env()
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(300):
        before = env.game.state["reward"]
        _, reward, done = env.step([*env.metadata.actions, None][rng.integers(5)])
        assert reward == env.game.state["reward"] - before
        if done:
            env.reset()


def test_every_turn_is_encoded_like_the_obvious_encoder_and_episodes_end():
    env = snake_env()
    env.reset()
    rng = np.random.default_rng(1)
    episodes = 0
    for _ in range(400):
        obs, _, done = env.step([*env.metadata.actions, None][rng.integers(5)])
        np.testing.assert_array_equal(obs, encode_cell_by_cell(env.game, env.metadata))
        if done:
            assert not env.game.playing
            env.reset()
            episodes += 1
    assert episodes > 0


def test_each_reset_gives_a_new_game():
    env = snake_env()
    env.reset()
    first = env.game
    env.reset()
    assert env.game is not first and env.game.playing


def test_walk_rewards_and_ends():
    env = GameEnvironment(odd_faults.make_walk, walk_metadata())
    env.reset()
    results = [env.step("KEY_RIGHT")[1:] for _ in range(5)]
    assert results == [(1.0, False)] * 4 + [(1.0, True)]


def test_step_after_the_end_is_refused():
    env = GameEnvironment(odd_faults.make_walk, walk_metadata())
    env.reset()
    while not env.step(None)[2]:
        pass
    with pytest.raises(GameError, match="call reset"):
        env.step(None)


# -- the trainer's pieces ------------------------------------------------------------------------

def test_compact_observation_expands_to_the_observation():
    env = snake_env()
    env.new_episode()
    env.advance("KEY_LEFT")
    codes, extras = env.compact_observation()
    assert codes.dtype == np.uint8 and codes.shape == (512,)
    assert extras.dtype == np.float32 and extras.shape == (2,)
    dense = one_hot(codes[None], extras[None], 6, spatial=False)[0]
    np.testing.assert_array_equal(dense, env.observation())


def test_first_episode_measures_board_and_extras():
    metadata = GameMetadata(actions=["w", "a", "s", "d"], reward="coins", character_set=["#", "$", "@"],
                            observe_state=["hero_xy", "lives"])
    env = GameEnvironment(odd_lantern.create_game, metadata)
    assert metadata.board_size is None
    env.new_episode()
    assert metadata.board_size == (9, 7)
    assert metadata.observe_state_sizes == {"hero_xy": 2, "lives": 1}
    assert metadata.obs_size == 3 * 63 + 3


def test_without_the_board_the_extras_are_the_whole_observation():
    env = GameEnvironment(odd_lantern.create_game, GameMetadata(actions=["d"], reward="coins"),
                          observe_state=["hero_xy", "lives"], board=False)
    obs = env.reset()
    assert obs.tolist() == [4.0, 6.0, 3.0]
    codes, extras = env.compact_observation()
    assert codes.shape == (0,) and extras.tolist() == [4.0, 6.0, 3.0]
    assert env.metadata.obs_size == 3


def test_observation_function_gives_empty_codes():
    metadata = walk_metadata(observation_function="odd_faults:observe_walker", board=False)
    env = GameEnvironment(odd_faults.make_walk, metadata)
    env.reset()
    obs, _, _ = env.step("KEY_RIGHT")
    assert obs.tolist() == [1.0, 1.0]
    codes, extras = env.compact_observation()
    assert codes.shape == (0,) and extras.tolist() == [1.0, 1.0]


def test_keyword_arguments_update_the_metadata():
    metadata = GameMetadata(actions=["d"], reward="coins", character_set=["@"])
    env = GameEnvironment(odd_lantern.create_game, metadata, observe_state=["lives"], board=False,
                          observe_state_sizes={"lives": 1})
    assert metadata.observe_state == ["lives"] and metadata.board is False
    env.measure_observation()
    assert metadata.observe_state_sizes == {"lives": 1} and metadata.obs_size == 1
    assert env.game is None  # measuring plays no episode


def test_a_board_without_character_set_must_be_discovered_first():
    env = GameEnvironment(odd_faults.make_walk, GameMetadata(actions=["KEY_RIGHT"], reward="score"))
    with pytest.raises(ConfigError, match="discover_characters"):
        env.reset()


def test_inconsistent_preprocessing_is_refused():
    with pytest.raises(ConfigError, match="see nothing at all"):
        GameEnvironment(odd_faults.make_walk, walk_metadata(), board=False)


# -- games that misbehave -----------------------------------------------------------------------------

def test_a_game_that_raises_inside_step_is_pointed_at():
    env = GameEnvironment(odd_faults.make_crashing_walk, walk_metadata())
    env.reset()
    env.step("KEY_RIGHT")
    env.step("KEY_RIGHT")
    with pytest.raises(GameError) as caught:
        env.step("KEY_RIGHT")
    message = str(caught.value)
    assert "odd_faults.make_crashing_walk" in message
    assert "ZeroDivisionError during turn 3" in message
    assert "the walker divided by zero" in message
    assert 'odd_faults.py", line 16, in play_turn' in message   # the game's own traceback
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


def test_missing_reward_key_names_it_and_the_game():
    env = GameEnvironment(odd_faults.make_walk_without_score, walk_metadata())
    with pytest.raises(GameError) as caught:
        env.reset()
    message = str(caught.value)
    assert "'score'" in message and "['points']" in message
    assert "odd_faults.make_walk_without_score" in message


def test_reward_that_is_not_a_number():
    env = GameEnvironment(odd_faults.make_walk_with_text_score, walk_metadata())
    with pytest.raises(GameError, match="'high' \\(str\\)"):
        env.reset()


def test_factory_that_raises():
    env = GameEnvironment(odd_faults.broken_factory, walk_metadata())
    with pytest.raises(GameError, match="the level file is missing"):
        env.reset()


def test_state_list_that_changes_length_between_episodes():
    env = GameEnvironment(odd_faults.growing_list_walks(), walk_metadata(observe_state=["trail"]))
    env.reset()
    with pytest.raises(GameError, match="game.state\\['trail'\\] gave 2 number\\(s\\) this turn, but 1"):
        env.reset()


def test_board_of_another_size_than_the_network_was_built_for():
    env = GameEnvironment(odd_faults.make_wider_walk, walk_metadata(board_size=(6, 2)))
    with pytest.raises(GameError, match="8x2 board.*built for 6x2"):
        env.reset()


# -- discovering characters ------------------------------------------------------------------------------

def test_discovery_finds_the_visible_characters_sorted():
    characters = discover_characters(odd_lantern.create_game, list("wasd"), 100, np.random.default_rng(0))
    assert characters == ["#", "$", "@"]


def test_discovery_of_snake_finds_only_snake_characters():
    characters = discover_characters(snake_env().create_game, ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"],
                                     300, np.random.default_rng(0))
    assert characters == sorted(characters)
    assert "@" in characters and set(characters) <= {"@", "*", ">", "<", "^", "v"}


def test_discovery_skips_characters_that_are_always_hidden():
    # The shadow always lies under the walker; the rock is seen.
    rng = np.random.default_rng(0)
    characters = discover_characters(odd_faults.make_walk_with_shadow, ["KEY_RIGHT"], 20, rng)
    assert characters == ["r", "w"]


def test_discovery_is_repeatable_with_the_same_seeds():
    def discover():
        random.seed(11)
        return discover_characters(odd_lantern.create_game, list("wasd"), 15, np.random.default_rng(4))
    assert discover() == discover()


def test_discovery_reports_a_crashing_game():
    with pytest.raises(GameError, match="the walker divided by zero"):
        discover_characters(odd_faults.make_crashing_walk, ["KEY_RIGHT"], 10, np.random.default_rng(0))


# -- what the trainer uses for unknown characters ---------------------------------------------------

def lantern_without_hero_channel(strategy):
    metadata = GameMetadata(actions=["w", "a", "s", "d"], reward="coins", character_set=["#", "$"])
    return GameEnvironment(odd_lantern.create_game, metadata, unknown_character_strategy=strategy)


def test_ignored_characters_are_not_reported():
    env = lantern_without_hero_channel("ignore")
    env.reset()
    assert env.new_characters == []
    assert env.compact_observation()[0].max() == 2  # the hero is an empty cell


def test_extended_characters_are_reported_and_adopted():
    env = lantern_without_hero_channel("extend")
    assert env.new_characters == []
    env.new_episode()
    assert env.encoder.n_cells == 63
    env.compact_observation()
    assert env.new_characters == ["@"]
    assert len(env.encoder.extend_character_set()) == 1
    assert env.metadata.character_set == ["#", "$", "@"] and env.new_characters == []
    assert env.compact_observation()[0].max() == 3
    assert env.observation().shape == (3 * 63,)


def test_n_cells_of_an_egocentric_view_and_without_a_board():
    metadata = GameMetadata(actions=["w"], reward="coins", character_set=["#"], egocentric=True,
                            egocentric_player="hero", egocentric_radius=2)
    assert GameEnvironment(odd_lantern.create_game, metadata).encoder.n_cells == 25
    no_board = GameMetadata(actions=["w"], reward="coins", board=False, observe_state=["lives"])
    assert GameEnvironment(odd_lantern.create_game, no_board).encoder.n_cells == 0
