"""The observation encoder: the fast path agrees with the obvious one, on real and odd games."""
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from reference_encoder import encode_cell_by_cell
from retro_gamer.dqn.network import one_hot
from retro_gamer.errors import ConfigError, GameError
from retro_gamer.fast.network import onehot_columns
from retro_gamer.fast.observation import dense_observation
from retro_gamer.game.description import GameMetadata
from retro_gamer.game.environment import metadata_for_game
from retro_gamer.game.loading import build_game, load_game_factory, resolve_game, start_headless
from retro_gamer.game.observation import ObservationEncoder, occupied_cells

GAMES = Path(__file__).parent / "games"
sys.path.insert(0, str(GAMES))  # the odd test games are imported by name below

import odd_crates  # noqa: E402
import odd_faults  # noqa: E402
import odd_lantern  # noqa: E402

# Each game, and the name of the agent the egocentric view follows in it.
REAL_AND_ODD_GAMES = [
    ("retro.examples.snake", "Snake head"),
    ("retro.examples.nav", "ship"),
    ("retro.examples.beast", "player"),
    (str(GAMES / "odd_crates.py"), "player"),
    (str(GAMES / "odd_lantern"), "hero"),
]
LANTERN_CHARACTERS = ["#", "$", "@"]


@pytest.fixture(autouse=True)
def seeded():
    random.seed(3)  # the games draw from Python's random module


def description(arg: str):
    """The game and its description, seeing the whole board (snake's built-in one sees around its head)."""
    section = resolve_game(arg)
    metadata = metadata_for_game(section)
    metadata.egocentric = False
    if metadata.character_set is None:
        metadata.character_set = list(LANTERN_CHARACTERS)
    return load_game_factory(section), metadata


def random_boards(create_game, actions, turns, rng):
    """Yield the game after each of ``turns`` turns of random keys (new games as they end)."""
    keys = [*actions, None]
    game = None
    for _ in range(turns):
        if game is None or not game.playing:
            game = build_game(create_game)
            pressed = start_headless(game)
        pressed.press(keys[rng.integers(len(keys))])
        game.step()
        yield game


def dense(encoder, game):
    """fast/observation.py's dense observation of ``game``, as GameEnvironment.observation calls it."""
    return dense_observation(encoder, game, occupied_cells(game))


def with_preprocessing(metadata, **changes) -> GameMetadata:
    sizes = dict(metadata.observe_state_sizes)
    return GameMetadata(**{**metadata.__dict__, "observe_state_sizes": sizes, **changes})


# -- the fast encoder against the obvious one ---------------------------------------------------

@pytest.mark.parametrize("arg, player", REAL_AND_ODD_GAMES)
@pytest.mark.parametrize("view", ["mlp", "cnn", "egocentric", "egocentric cnn"])
def test_fast_encoder_agrees_with_cell_by_cell_on_random_boards(arg, player, view):
    """encode (codes, then one_hot) and fast/observation.py's dense_observation, against the
    obvious cell-by-cell encoder; the games' random boards put an egocentric window at the edges."""
    create_game, metadata = description(arg)
    metadata = with_preprocessing(
        metadata, spatial=view.endswith("cnn"),
        egocentric=view.startswith("egocentric"), egocentric_player=player, egocentric_radius=3,
    )
    encoder = ObservationEncoder(metadata)
    rng = np.random.default_rng(0)
    occupied = 0
    for game in random_boards(create_game, metadata.actions, 150, rng):
        if player not in game.agents_by_name:
            continue  # (a player removed at the very end of a game has no view to crop)
        fast = encoder.encode(game)
        assert fast.dtype == np.float32 and fast.shape == (metadata.obs_size,)
        np.testing.assert_array_equal(fast, encode_cell_by_cell(game, metadata))
        np.testing.assert_array_equal(dense(encoder, game), fast)
        occupied += int(encoder.codes(game).astype(bool).sum())
    assert occupied > 0  # the boards were not all empty


def test_layout_of_a_tiny_board_cell_by_cell_and_channel_first():
    # 6x2 board: walker "w" at (0, 0), rock "r" at (3, 1); channels r = 0, w = 1.
    metadata = GameMetadata(actions=["KEY_RIGHT"], reward="score", character_set=["r", "w"],
                            board_size=(6, 2))
    game = odd_faults.make_walk()
    codes = ObservationEncoder(metadata).codes(game)
    assert codes.dtype == np.uint8
    assert codes.tolist() == [2, 0, 0, 0, 0, 0,
                              0, 0, 0, 1, 0, 0]
    mlp = ObservationEncoder(metadata).encode(game)
    assert np.flatnonzero(mlp).tolist() == [0 * 2 + 1, 9 * 2 + 0]  # cell * C + channel
    metadata.spatial = True
    cnn = ObservationEncoder(metadata).encode(game)
    assert np.flatnonzero(cnn).tolist() == [0 * 12 + 9, 1 * 12 + 0]  # channel * H*W + cell


def test_encode_is_one_hot_of_the_compact_form():
    create_game, metadata = description("retro.examples.snake")
    encoder = ObservationEncoder(metadata)
    boards = list(random_boards(create_game, metadata.actions, 20, np.random.default_rng(1)))
    codes = np.stack([encoder.codes(g) for g in boards])
    extras = np.stack([encoder.extras(g) for g in boards])
    dense = one_hot(codes, extras, 6, spatial=False)
    np.testing.assert_array_equal(dense[-1], encoder.encode(boards[-1]))
    rows, cols = onehot_columns(codes, 6, spatial=False)
    assert (np.diff(rows) >= 0).all() and len(rows) == np.count_nonzero(codes)


@pytest.mark.parametrize("spatial", [False, True])
@pytest.mark.parametrize("shape", [(5, 12), (1, 7), (3, 0), (0, 4)])
def test_onehot_columns_agrees_with_a_plain_loop(spatial, shape):
    codes = np.random.default_rng(3).integers(0, 4, shape).astype(np.uint8)
    n_channels, (batch, n_cells) = 3, shape
    expected = [(b, (code - 1) * n_cells + cell if spatial else cell * n_channels + code - 1)
                for b in range(batch) for cell in range(n_cells) if (code := int(codes[b, cell]))]
    rows, cols = onehot_columns(codes, n_channels, spatial)
    assert list(zip(rows.tolist(), cols.tolist())) == expected
    assert rows.dtype == cols.dtype == np.int64


def test_codes_and_extras_write_into_given_arrays():
    create_game, metadata = description("retro.examples.snake")
    encoder = ObservationEncoder(metadata)
    game = create_game()
    codes_row = np.full(32 * 16, 99, dtype=np.uint8)
    extras_row = np.full(2, 99, dtype=np.float32)
    assert encoder.codes(game, out=codes_row) is codes_row
    assert encoder.extras(game, out=extras_row) is extras_row
    np.testing.assert_array_equal(codes_row, encoder.codes(game))
    np.testing.assert_array_equal(extras_row, [game.state["apple_dx"], game.state["apple_dy"]])


# -- what the board shows ------------------------------------------------------------------------

def test_first_observation_shows_the_board_as_it_stands():
    # snake's create_game() caches the occupied cells, then moves the apple.
    create_game, metadata = description("retro.examples.snake")
    for _ in range(10):
        game = create_game()
        ax, ay = game.get_agent_by_name("Apple").position
        hx, hy = game.get_agent_by_name("Snake head").position
        codes = ObservationEncoder(metadata).codes(game).reshape(16, 32)
        assert codes[ay, ax] == 1  # "@" is character 0
        assert codes[hy, hx] >= 3  # one of the heads
        assert np.count_nonzero(codes) == 2


def test_multi_cell_agent_and_the_agent_on_top():
    _, metadata = description(str(GAMES / "odd_crates.py"))
    game = odd_crates.make_game()
    codes = ObservationEncoder(metadata).codes(game).reshape(8, 12)
    code = {c: k + 1 for k, c in enumerate(metadata.character_set)}
    # The truck covers (0..2, 0..1) and draws "=#>" above "o o": the hole is empty.
    assert codes[0, :3].tolist() == [code["="], code["#"], code[">"]]
    assert codes[1, :3].tolist() == [code["o"], 0, code["o"]]
    # The ghost (z = 1) starts on a crate and is the one shown there.
    gx, gy = game.get_agent_by_name("ghost").position
    assert codes[gy, gx] == code["g"]


@pytest.mark.parametrize("radius", [2, 6])
def test_egocentric_crop_at_every_position_corners_and_edges_included(radius):
    width, height = odd_lantern.WIDTH, odd_lantern.HEIGHT
    metadata = GameMetadata(
        actions=["w"], reward="coins", character_set=list(LANTERN_CHARACTERS), board_size=(width, height),
        egocentric=True, egocentric_player="hero", egocentric_radius=radius,
    )
    encoder = ObservationEncoder(metadata)
    side = 2 * radius + 1
    offboard = len(LANTERN_CHARACTERS) + 1
    for x in range(width):
        for y in range(height):
            game = odd_lantern.create_game(hero_position=(x, y))
            codes = encoder.codes(game).reshape(side, side)
            assert codes[radius, radius] == LANTERN_CHARACTERS.index("@") + 1  # the hero, centred
            inside_x = min(x + radius, width - 1) - max(x - radius, 0) + 1
            inside_y = min(y + radius, height - 1) - max(y - radius, 0) + 1
            assert np.count_nonzero(codes == offboard) == side * side - inside_x * inside_y
            np.testing.assert_array_equal(encoder.encode(game), encode_cell_by_cell(game, metadata))
            np.testing.assert_array_equal(dense(encoder, game), encoder.encode(game))
            spatial = with_preprocessing(metadata, spatial=True)
            np.testing.assert_array_equal(dense(ObservationEncoder(spatial), game),
                                          encode_cell_by_cell(game, spatial))


def test_egocentric_corner_sees_walls_on_two_sides():
    metadata = GameMetadata(actions=["w"], reward="coins", character_set=list(LANTERN_CHARACTERS),
                            board_size=(9, 7), egocentric=True, egocentric_player="hero", egocentric_radius=1)
    codes = ObservationEncoder(metadata).codes(odd_lantern.create_game(hero_position=(0, 0))).reshape(3, 3)
    edge = 4
    assert codes[0].tolist() == [edge, edge, edge]
    assert codes[:, 0].tolist() == [edge, edge, edge]


def test_egocentric_player_missing_is_explained():
    metadata = GameMetadata(actions=["w"], reward="coins", character_set=["#"], board_size=(9, 7),
                            egocentric=True, egocentric_player="heroine")
    with pytest.raises(GameError, match="(?s)'heroine'.*named agents: \\['hero'\\]"):
        ObservationEncoder(metadata).codes(odd_lantern.create_game())
    with pytest.raises(GameError, match="(?s)'heroine'.*named agents: \\['hero'\\]"):
        dense(ObservationEncoder(metadata), odd_lantern.create_game())


# -- characters outside the character set --------------------------------------------------------

def snake_without_apple_channel():
    create_game, metadata = description("retro.examples.snake")
    metadata.character_set = [c for c in metadata.character_set if c != "@"]
    return create_game, metadata


def test_unknown_characters_are_empty_and_recorded_once():
    create_game, metadata = snake_without_apple_channel()
    encoder = ObservationEncoder(metadata)
    game = create_game()
    ax, ay = game.get_agent_by_name("Apple").position
    for _ in range(3):
        assert encoder.codes(game)[ay * 32 + ax] == 0
    assert encoder.new_characters == ["@"]


def test_extending_the_character_set_gives_new_characters_the_next_channel():
    create_game, metadata = snake_without_apple_channel()
    encoder = ObservationEncoder(metadata)
    game = create_game()
    ax, ay = game.get_agent_by_name("Apple").position
    encoder.codes(game)
    assert encoder.extend_character_set() == ["@"]
    assert metadata.character_set == ["*", ">", "<", "^", "v", "@"]
    assert encoder.new_characters == []
    assert encoder.codes(game)[ay * 32 + ax] == 6
    assert encoder.encode(game).shape == (metadata.obs_size,) == (6 * 512 + 2,)


def test_extending_an_egocentric_view_keeps_the_offboard_channel_last():
    metadata = GameMetadata(actions=["w"], reward="coins", character_set=["#", "$"], board_size=(9, 7),
                            egocentric=True, egocentric_player="hero", egocentric_radius=1)
    encoder = ObservationEncoder(metadata)
    game = odd_lantern.create_game(hero_position=(0, 0))
    assert encoder.codes(game).reshape(3, 3)[0, 0] == 3  # off-board, after two characters
    assert encoder.extend_character_set() == ["@"]
    codes = encoder.codes(game).reshape(3, 3)
    assert codes[1, 1] == 3 and codes[0, 0] == 4


# -- the extras --------------------------------------------------------------------------------------

def walk_metadata(**changes) -> GameMetadata:
    return GameMetadata(**{"actions": ["KEY_RIGHT"], "reward": "score", "character_set": ["w", "r"],
                           "board_size": (6, 2), **changes})


def test_state_values_numbers_booleans_lists_and_tuples_are_flattened():
    game = odd_faults.make_walk()
    game.state.update({"flag": True, "grid": [[1, 2], [3, 4]], "pair": (5, 6), "ratio": np.float64(0.25)})
    metadata = walk_metadata(observe_state=["flag", "grid", "pair", "ratio"])
    extras = ObservationEncoder(metadata).extras(game)
    assert extras.dtype == np.float32
    assert extras.tolist() == [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.25]
    assert metadata.observe_state_sizes == {"flag": 1, "grid": 4, "pair": 2, "ratio": 1}
    assert metadata.extras_size == 8


def test_missing_state_key_names_it_and_the_keys_there_are():
    with pytest.raises(GameError) as caught:
        ObservationEncoder(walk_metadata(observe_state=["lives"])).extras(odd_faults.make_walk())
    assert "'lives'" in str(caught.value) and "['score']" in str(caught.value)


def test_a_list_that_changes_length_names_key_expected_and_actual():
    metadata = walk_metadata(observe_state=["trail"])
    encoder = ObservationEncoder(metadata)
    make_game = odd_faults.growing_list_walks()
    encoder.extras(make_game())
    with pytest.raises(GameError) as caught:
        encoder.extras(make_game())
    message = str(caught.value)
    assert "game.state['trail']" in message
    assert "gave 2 number(s) this turn, but 1 when it was first measured" in message


def test_a_size_recorded_in_config_is_checked_from_the_first_turn():
    metadata = walk_metadata(observe_state=["score"], observe_state_sizes={"score": 3})
    with pytest.raises(GameError, match="gave 1 number"):
        ObservationEncoder(metadata).extras(odd_faults.make_walk())


def test_text_in_state_is_explained():
    with pytest.raises(GameError, match="game.state\\['mood'\\] is 'cheerful' \\(str\\)"):
        encoder = ObservationEncoder(walk_metadata(observe_state=["mood"]))
        encoder.extras(odd_faults.make_walk_with_text_state())


def test_no_observe_state_gives_empty_extras():
    extras = ObservationEncoder(walk_metadata()).extras(odd_faults.make_walk())
    assert extras.shape == (0,) and extras.dtype == np.float32


# -- an observation_function ---------------------------------------------------------------------------

def test_observation_function_is_the_whole_observation():
    metadata = walk_metadata(observation_function="odd_faults:observe_walker", board=False)
    encoder = ObservationEncoder(metadata)
    game = odd_faults.make_walk()
    assert encoder.encode(game).tolist() == [0.0, 0.0]
    assert metadata.extras_size == 2 and metadata.obs_size == 2
    assert encoder.encode(game).dtype == np.float32
    assert dense(encoder, game).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("function, lesson", [
    ("observe_as_grid", "one flat list of numbers"),
    ("observe_and_crash", "raised KeyError: 'walker_speed'"),
])
def test_observation_function_problems(function, lesson):
    metadata = walk_metadata(observation_function=f"odd_faults:{function}")
    with pytest.raises(GameError, match=lesson):
        ObservationEncoder(metadata).encode(odd_faults.make_walk())


def test_observation_function_that_changes_length():
    metadata = walk_metadata(observation_function="odd_faults:observe_more_each_turn")
    encoder = ObservationEncoder(metadata)
    game = odd_faults.make_walk()
    start_headless(game)
    encoder.extras(game)
    game.step()
    with pytest.raises(GameError, match="has 2 numbers now, but 1"):
        encoder.extras(game)


def test_a_board_of_unknown_layout_is_refused_not_left_empty():
    encoder = ObservationEncoder(GameMetadata(actions=["w"], reward="coins", board_size=(9, 7)))
    with pytest.raises(ConfigError, match="no character_set or no board_size"):
        encoder.encode(odd_lantern.create_game())
    assert encoder.extras(odd_lantern.create_game()).shape == (0,)  # the extras need neither
