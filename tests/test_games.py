"""Loading a game from every form --game accepts, and the errors when that fails."""
import random
import sys
from pathlib import Path

import pytest

from retro_gamer.errors import GameError
from retro_gamer.game.environment import metadata_for_game
from retro_gamer.game.loading import build_game, load_function, load_game_factory, resolve_game

TESTS = Path(__file__).parent
GAMES = TESTS / "games"


@pytest.fixture(autouse=True)
def private_sys_path(monkeypatch):
    """Loading a game adds folders to sys.path; undo that after each test."""
    monkeypatch.setattr(sys, "path", [str(GAMES), *sys.path])
    random.seed(0)


@pytest.fixture
def module_folder(tmp_path, monkeypatch):
    """A folder on sys.path where a test writes a module with a unique name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(source)
        return name
    return write


# -- every form of --game ------------------------------------------------------------------

def test_module_name():
    assert resolve_game("retro.examples.snake") == {"module": "retro.examples.snake"}


def test_py_file_by_relative_path(monkeypatch):
    monkeypatch.chdir(TESTS)
    assert resolve_game("games/odd_crates.py") == {"module": "odd_crates", "path": str(GAMES)}


def test_package_directory(monkeypatch):
    monkeypatch.chdir(TESTS)
    for arg in ("games/odd_lantern", "games/odd_lantern/"):
        assert resolve_game(arg) == {"module": "odd_lantern", "path": str(GAMES)}


def test_module_and_function():
    assert resolve_game("retro.examples.nav:create_game") == {
        "module": "retro.examples.nav", "factory": "retro.examples.nav:create_game"}


def test_file_and_function():
    section = resolve_game(f"{GAMES / 'odd_crates.py'}:make_game")
    assert section == {"module": "odd_crates", "path": str(GAMES), "factory": "odd_crates:make_game"}


def test_module_in_the_current_folder_records_the_folder(tmp_path, monkeypatch):
    # The console script does not put the current folder on sys.path; create must
    # still find the game there, and record where it is for train and play.
    (tmp_path / "game_next_door.py").write_text("def create_game():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    assert resolve_game("game_next_door") == {"module": "game_next_door", "path": str(tmp_path)}
    assert str(tmp_path) not in sys.path


def test_dotted_module_under_the_current_folder_records_its_root(monkeypatch):
    monkeypatch.chdir(TESTS)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".")])
    assert resolve_game("games.odd_crates") == {"module": "games.odd_crates", "path": str(TESTS)}


@pytest.mark.parametrize("arg, lesson", [
    ("no_such_file.py", "There is no file"),
    ("no/such/folder", "There is no file or folder"),
    ("no_such_module_anywhere", "Cannot find the game module"),
    ("retro.examples.snake:", "does not name a function"),
    ("retro.examples.snake:make game", "does not name a function"),
    ("not a module!", "is not a module name"),
])
def test_arguments_that_name_nothing(arg, lesson):
    with pytest.raises(GameError, match=lesson):
        resolve_game(arg)


def test_folder_without_init_is_explained(tmp_path):
    (tmp_path / "loose").mkdir()
    with pytest.raises(GameError, match="no __init__.py"):
        resolve_game(str(tmp_path / "loose"))


def test_file_name_that_cannot_be_a_module(tmp_path):
    (tmp_path / "my-game.py").write_text("")
    with pytest.raises(GameError, match="cannot be imported"):
        resolve_game(str(tmp_path / "my-game.py"))


# -- importing the factory -----------------------------------------------------------------------

def test_create_game_of_a_module():
    from retro.examples import snake

    assert load_game_factory({"module": "retro.examples.snake"}) is snake.create_game


def test_path_is_put_on_sys_path_and_the_factory_used():
    section = {"module": "odd_crates", "path": str(GAMES), "factory": "odd_crates:make_game"}
    factory = load_game_factory(section)
    assert factory.__name__ == "make_game"
    assert sys.path[0] == str(GAMES)


def test_missing_create_game_suggests_naming_the_function():
    with pytest.raises(GameError) as caught:
        load_game_factory({"module": "odd_crates", "path": str(GAMES)})
    message = str(caught.value)
    assert "has no 'create_game'" in message and "--game odd_crates:my_function" in message


def test_missing_factory_function():
    with pytest.raises(GameError, match="Define make_level in odd_crates"):
        load_game_factory({"module": "odd_crates", "path": str(GAMES), "factory": "odd_crates:make_level"})


def test_factory_that_is_not_callable():
    with pytest.raises(GameError, match="not a function"):
        load_game_factory({"module": "odd_crates", "path": str(GAMES), "factory": "odd_crates:WIDTH"})


def test_module_not_on_the_path():
    with pytest.raises(GameError) as caught:
        load_game_factory({"module": "nowhere_to_be_found"})
    assert "'nowhere_to_be_found'" in str(caught.value)
    assert "--game path/to/my_game.py" in str(caught.value)


def test_game_folder_that_disappeared(tmp_path):
    with pytest.raises(GameError, match="does not exist any more"):
        load_game_factory({"module": "x", "path": str(tmp_path / "gone")})


def test_game_with_a_syntax_error_names_the_line(module_folder):
    name = module_folder("typo_game", "def create_game(:\n    pass\n")
    with pytest.raises(GameError) as caught:
        load_game_factory({"module": name})
    assert 'typo_game.py", line 1' in str(caught.value)
    assert "SyntaxError" in str(caught.value)


def test_game_needing_a_missing_package_names_it(module_folder):
    name = module_folder("needy_game", "import pygame_that_is_not_installed\n")
    lesson = "(?s)imports 'pygame_that_is_not_installed'.*pip install pygame_that_is_not_installed"
    with pytest.raises(GameError, match=lesson):
        load_game_factory({"module": name})


def test_game_raising_on_import_shows_the_original_message(module_folder):
    name = module_folder("grumpy_game", "raise RuntimeError('no level files')\n")
    with pytest.raises(GameError, match="RuntimeError: no level files") as caught:
        load_game_factory({"module": name})
    assert isinstance(caught.value.__cause__, RuntimeError)
    # The game's own line is shown, and neither retro-gamer's frames nor importlib's.
    assert 'grumpy_game.py", line 1' in str(caught.value)
    assert "importlib" not in str(caught.value) and "loading.py" not in str(caught.value)


def test_load_function_for_an_observation_function():
    observe = load_function("odd_crates:observe", "observation_function")
    assert observe.__name__ == "observe"


# -- creating one game ---------------------------------------------------------------------------------

def test_factory_that_raises_points_at_the_game():
    from odd_faults import broken_factory

    with pytest.raises(GameError) as caught:
        build_game(broken_factory)
    message = str(caught.value)
    assert "odd_faults.broken_factory()" in message
    assert "the level file is missing" in message
    assert 'odd_faults.py", line' in message


def test_factory_that_returns_something_else():
    from odd_faults import not_a_game

    with pytest.raises(GameError, match="returned int, not a retro-games Game"):
        build_game(not_a_game)


def test_factory_whose_board_size_is_not_two_positive_numbers():
    from retro.game import Game

    with pytest.raises(GameError, match="board_size = \\(32, 0\\), not \\(width, height\\)"):
        build_game(lambda: Game([], {}, board_size=(32, 0)))


# -- the description, completed from one game ------------------------------------------------------------

def test_metadata_of_snake_reads_its_board_and_measures_its_state():
    metadata = metadata_for_game(resolve_game("retro.examples.snake"))
    assert metadata.board_size == (32, 16)
    assert metadata.observe_state_sizes == {"apple_dx": 1, "apple_dy": 1}
    assert metadata.extras_size == 2
    assert metadata.obs_size == 7 * 17 * 17 + 2      # the window of radius 8 around the head


def test_metadata_of_a_game_whose_description_names_its_factory():
    section = resolve_game(str(GAMES / "odd_crates.py"))
    metadata = metadata_for_game(section)
    assert section["factory"] == "odd_crates:make_game"
    assert metadata.board_size == (12, 8)
    assert metadata.observe_state_sizes == {"where": 2}  # a list in game.state


def test_metadata_of_a_package_without_character_set():
    metadata = metadata_for_game(resolve_game(str(GAMES / "odd_lantern")))
    assert metadata.character_set is None  # discovered when training starts
    assert metadata.board_size == (9, 7)
    assert metadata.observe_state_sizes == {"hero_xy": 2, "lives": 1}


def test_metadata_when_observe_state_names_a_missing_key(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.retro-gamer]\nactions = ["KEY_RIGHT"]\nreward = "score"\nobserve_state = ["lives"]\n'
    )
    (tmp_path / "lifeless_game.py").write_text("from odd_faults import make_walk as create_game\n")
    monkeypatch.syspath_prepend(str(GAMES))
    with pytest.raises(GameError, match="observe_state lists 'lives'.*it has: \\['score'\\]"):
        metadata_for_game(resolve_game(str(tmp_path / "lifeless_game.py")))
