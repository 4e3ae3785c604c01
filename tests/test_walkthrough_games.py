"""The walkthrough's games: they run, they end, they score sensibly, they match their
[tool.retro-gamer] sections, and Orchard is learnable from its board.

The walkthrough folder is put on sys.path, as `retro-gamer create --game orchard.py`
does, so these tests need no installed copy of the walkthrough project.
"""
import functools
import importlib
import importlib.util
import os
import random
import shutil
import statistics
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from retro.game import Game
from retro.input import ProgrammaticInput
from retro.views import HeadlessView

WALKTHROUGH = Path(__file__).resolve().parents[1] / "walkthrough"
if str(WALKTHROUGH) not in sys.path:
    sys.path.insert(0, str(WALKTHROUGH))

import beachcomber  # noqa: E402
import orchard  # noqa: E402

# Each game with the pyproject.toml that describes it.
GAMES = {
    "orchard": (orchard, WALKTHROUGH / "pyproject.toml"),
    "beachcomber": (beachcomber, WALKTHROUGH / "beachcomber" / "pyproject.toml"),
}


@functools.cache
def section(name):
    """The [tool.retro-gamer] table describing the named game."""
    with open(GAMES[name][1], "rb") as f:
        return tomllib.load(f)["tool"]["retro-gamer"]


class Session:
    """A game driven as the trainer drives it: keys go in through ProgrammaticInput and
    the board comes out of a HeadlessView."""

    def __init__(self, module):
        self.keys = ProgrammaticInput()
        self.view = HeadlessView()
        self.game = module.create_game()
        self.game.input_source = self.keys
        self.game.view = self.view
        self.game.start()
        self.view.render(self.game)

    def step(self, key):
        self.keys.press(key)
        self.game.step()

    def characters(self):
        return {c for row in self.view.board_characters for c in row} - {" "}


def random_key(name):
    return random.choice(section(name)["actions"] + [None])


@pytest.mark.parametrize("name", GAMES)
def test_create_game_builds_a_fresh_game_each_call(name):
    module = GAMES[name][0]
    first, second = module.create_game(), module.create_game()
    assert isinstance(first, Game)
    assert first is not second
    assert first.board_size == (module.WIDTH, module.HEIGHT)
    assert first.state["time"] == module.TURNS
    # Agents must not be shared between games, or one episode would leak into the next.
    assert not set(map(id, first.agents)) & set(map(id, second.agents))


@pytest.mark.parametrize("name", GAMES)
def test_random_play_ends_by_itself_at_the_turn_limit(name):
    random.seed(1)
    module = GAMES[name][0]
    session = Session(module)
    while session.game.playing:
        assert session.game.turn_number < module.TURNS, "the game should have ended"
        session.step(random_key(name))
    assert session.game.turn_number == module.TURNS
    assert session.game.state["time"] == 0


@pytest.mark.parametrize("name", GAMES)
def test_same_seed_plays_the_same_game(name):
    def play(seed):
        random.seed(seed)
        session = Session(GAMES[name][0])
        history = []
        while session.game.playing:
            session.step(random_key(name))
            history.append((str(session.view.board_characters), dict(session.game.state)))
        return history

    assert play(7) == play(7)
    assert play(7) != play(8)


def test_orchard_score_moves_only_when_an_apple_lands():
    random.seed(2)
    session = Session(orchard)
    state = session.game.state
    while session.game.playing:
        before = dict(state)
        session.step(random_key("orchard"))
        change = state["score"] - before["score"]
        caught = state["caught"] - before["caught"]
        missed = state["missed"] - before["missed"]
        assert (caught, missed) in {(0, 0), (1, 0), (0, 1)}
        assert change == caught - missed
    # One apple lands every HEIGHT - 1 turns.
    assert state["caught"] + state["missed"] == orchard.TURNS // (orchard.HEIGHT - 1)


def test_beachcomber_finds_a_coin_exactly_when_stepping_on_it():
    random.seed(3)
    session = Session(beachcomber)
    game = session.game
    player, coin = game.get_agent_by_name("beachcomber"), game.get_agent_by_name("coin")
    found = 0
    while game.playing:
        coins_before, coin_before = game.state["coins"], coin.position
        session.step(random_key("beachcomber"))
        stepped_on_coin = player.position == coin_before
        assert game.state["coins"] - coins_before == int(stepped_on_coin)
        found += stepped_on_coin
        # The detector always points from the beachcomber to the coin now buried.
        assert (game.state["coin_dx"], game.state["coin_dy"]) == (
            coin.position[0] - player.position[0],
            coin.position[1] - player.position[1],
        )
        assert coin.position != player.position
    assert game.state["coins"] == found


@pytest.mark.parametrize("name", GAMES)
def test_section_names_real_state_keys(name):
    description = section(name)
    game = GAMES[name][0].create_game()
    assert description["reward"] in game.state
    assert isinstance(game.state[description["reward"]], int)
    for key in description.get("observe_state", []):
        assert key in game.state
        assert key != description["reward"]
    # Both games are meant for the default small MLP.
    assert description["spatial"] is False


# A cell in the middle of each player's reach: the basket lives on the bottom row.
MIDDLE = {"orchard": (5, 9), "beachcomber": (6, 4)}


@pytest.mark.parametrize("name", GAMES)
def test_every_action_moves_the_player(name):
    for action in section(name)["actions"]:
        session = Session(GAMES[name][0])
        player = session.game.agents[0]
        player.position = MIDDLE[name]
        session.step(action)
        assert player.position != MIDDLE[name], f"{action} did nothing"
    session = Session(GAMES[name][0])
    player = session.game.agents[0]
    player.position = MIDDLE[name]
    session.step(None)
    assert player.position == MIDDLE[name], "the no-op moved the player"


@pytest.mark.parametrize("name", GAMES)
def test_character_set_is_exactly_what_the_board_shows(name):
    random.seed(4)
    seen = set()
    for _ in range(3):
        session = Session(GAMES[name][0])
        seen |= session.characters()
        while session.game.playing:
            session.step(random_key(name))
            seen |= session.characters()
    assert seen == set(section(name)["character_set"])


def orchard_board_policy(board):
    """A hand-written player that, like the agent, reads only the board."""
    apple_x = next(row.index("@") for row in board if "@" in row)
    basket_x = board[-1].index("U")
    if apple_x < basket_x:
        return "KEY_LEFT"
    if apple_x > basket_x:
        return "KEY_RIGHT"
    return None


def average_orchard_score(choose_key, games=20):
    scores = []
    for _ in range(games):
        session = Session(orchard)
        while session.game.playing:
            session.step(choose_key(session.view.board_characters))
        scores.append(session.game.state["score"])
    return statistics.mean(scores)


def test_orchard_board_alone_is_enough_to_play_well():
    random.seed(5)
    scripted = average_orchard_score(orchard_board_policy)
    flailing = average_orchard_score(lambda board: random_key("orchard"))
    apples = orchard.TURNS // (orchard.HEIGHT - 1)
    # Every apple can be reached in time, so reading the board catches them all...
    assert scripted == apples
    # ...while pressing keys at random loses points: a wide gap for DQN to close.
    assert flailing < 0
    assert scripted - flailing > apples


def test_beachcomber_detector_is_enough_to_play_well():
    random.seed(6)

    def coins(choose_key):
        session = Session(beachcomber)
        while session.game.playing:
            session.step(choose_key(session.game.state))
        return session.game.state["coins"]

    def follow_detector(state):
        if state["coin_dx"]:
            return "KEY_RIGHT" if state["coin_dx"] > 0 else "KEY_LEFT"
        return "KEY_DOWN" if state["coin_dy"] > 0 else "KEY_UP"

    following = statistics.mean(coins(follow_detector) for _ in range(10))
    wandering = statistics.mean(coins(lambda state: random_key("beachcomber")) for _ in range(10))
    assert following > 12
    assert wandering < 3


@pytest.mark.parametrize("name", GAMES)
def test_autoplay_without_a_training_run_says_how_to_make_one(name, tmp_path, monkeypatch):
    from retro_gamer.errors import CheckpointError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(CheckpointError, match="retro-gamer train runs/" + name):
        GAMES[name][0].autoplay()


@pytest.mark.parametrize("name", GAMES)
def test_metadata_reader_finds_each_section(name):
    from retro_gamer.game.description import GameMetadata

    if not hasattr(GameMetadata, "from_pyproject"):
        pytest.skip("GameMetadata.from_pyproject is not written yet")
    metadata = GameMetadata.from_pyproject(name)
    description = section(name)
    assert metadata.actions == description["actions"]
    assert metadata.reward == description["reward"]
    assert metadata.character_set == description["character_set"]
    assert metadata.observe_state == description.get("observe_state", [])


def _command_line_ready():
    for module in ("retro_gamer.cli", "retro_gamer.policy"):
        if importlib.util.find_spec(module) is None:
            return False
    return shutil.which("retro-gamer") is not None


@pytest.mark.skipif(not _command_line_ready(), reason="the retro-gamer command is not written yet")
@pytest.mark.parametrize("name, game_argument", [
    ("orchard", WALKTHROUGH / "orchard.py"),
    ("beachcomber", WALKTHROUGH / "beachcomber"),
])
def test_autoplay_plays_a_whole_game_with_a_trained_policy(name, game_argument, tmp_path, monkeypatch):
    # A very short training run, only to have a checkpoint for autoplay() to load.
    run_dir = f"runs/{name}/"
    commands = [
        ["retro-gamer", "create", "--game", str(game_argument), "--output", run_dir,
         "--training-episodes", "100", "--max-turns-per-episode", "5", "--seed", "0"],
        ["retro-gamer", "train", run_dir],
    ]
    # One BLAS thread: for matrices this small, more threads only wait for each other.
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    for command in commands:
        done = subprocess.run(
            command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr

    monkeypatch.chdir(tmp_path)
    game = importlib.import_module(name).autoplay()
    game.start()
    while game.playing:
        game.step()
    assert game.turn_number == GAMES[name][0].TURNS
