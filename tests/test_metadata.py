"""GameMetadata: reading a game's description, checking it, and the sizes it fixes."""
import sys
from pathlib import Path

import pytest

from retro_gamer.errors import ConfigError, GameError
from retro_gamer.game.description import BUILTIN_DESCRIPTIONS, GameMetadata

GAMES = Path(__file__).parent / "games"
SNAKE_CHARACTERS = ["@", "*", ">", "<", "^", "v"]
ARROWS = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]


@pytest.fixture(autouse=True)
def private_sys_path(monkeypatch):
    monkeypatch.setattr(sys, "path", [str(GAMES), *sys.path])


def minimal(**changes):
    d = {"actions": ["KEY_LEFT", "KEY_RIGHT"], "reward": "score"}
    d.update(changes)
    return d


# -- reading descriptions -------------------------------------------------------------

def test_snake_uses_the_builtin_description():
    metadata = GameMetadata.from_pyproject("retro.examples.snake")
    assert metadata.actions == ARROWS
    assert metadata.reward == "reward"
    assert metadata.character_set == SNAKE_CHARACTERS
    assert metadata.observe_state == ["apple_dx", "apple_dy"]
    assert metadata.spatial is False


def test_builtin_description_is_not_shared_between_reads():
    first = GameMetadata.from_pyproject("retro.examples.snake")
    first.character_set.append("#")
    first.actions.append("x")
    assert GameMetadata.from_pyproject("retro.examples.snake").character_set == SNAKE_CHARACTERS
    assert BUILTIN_DESCRIPTIONS["retro.examples.snake"]["actions"] == ARROWS


def test_snake_given_by_its_file_path_still_finds_the_builtin(monkeypatch):
    import retro

    monkeypatch.syspath_prepend(str(Path(retro.__file__).parent / "examples"))
    assert GameMetadata.from_pyproject("snake").reward == "reward"


@pytest.mark.parametrize("module, actions, characters", [
    ("retro.examples.nav", ["KEY_LEFT", "KEY_RIGHT"], ["^", "O"]),
    ("retro.examples.beast", ARROWS, ["*", "H", "█"]),
])
def test_nav_and_beast_use_the_sections_they_ship(module, actions, characters):
    metadata = GameMetadata.from_pyproject(module)
    assert metadata.actions == actions
    assert metadata.reward == "score"
    assert metadata.character_set == characters
    assert metadata.spatial is True


def write_project(root: Path, section: str | None, package: str) -> str:
    """root/pyproject.toml (with ``section``) and root/src/<package>/game.py -> module name.

    Each test uses its own package name: Python caches imported packages by name.
    """
    folder = root / "src" / package
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "game.py").write_text("def create_game():\n    pass\n")
    if section is not None:
        (root / "pyproject.toml").write_text('[project]\nname = "x"\n\n' + section)
    return f"{package}.game"


def test_pyproject_is_found_by_walking_up_from_the_module(tmp_path, monkeypatch):
    module = write_project(tmp_path, '[tool.retro-gamer]\nactions = ["a", "d"]\nreward = "points"\n', "walk_up_pkg")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    metadata = GameMetadata.from_pyproject(module)
    assert metadata.actions == ["a", "d"] and metadata.reward == "points"


def test_walk_stops_at_site_packages(tmp_path, monkeypatch):
    # A pyproject.toml above site-packages belongs to some other project.
    (tmp_path / "pyproject.toml").write_text('[tool.retro-gamer]\nactions = ["a"]\nreward = "s"\n')
    site = tmp_path / "venv" / "site-packages"
    site.mkdir(parents=True)
    (site / "walled_game.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    with pytest.raises(ConfigError, match="No pyproject.toml was found") as caught:
        GameMetadata.from_pyproject("walled_game")
    assert "[tool.retro-gamer]" in str(caught.value)  # shows the section to write


def test_pyproject_without_section_explains_what_to_add(tmp_path, monkeypatch):
    module = write_project(tmp_path, "", "no_section_pkg")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    with pytest.raises(ConfigError) as caught:
        GameMetadata.from_pyproject(module)
    message = str(caught.value)
    assert "has no [tool.retro-gamer] section" in message
    assert str(tmp_path / "pyproject.toml") in message
    assert 'reward = "score"' in message


def test_pyproject_with_broken_toml_names_file_and_line(tmp_path, monkeypatch):
    module = write_project(tmp_path, '[tool.retro-gamer]\nactions = ["a"\nreward = score\n', "broken_toml_pkg")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    with pytest.raises(ConfigError) as caught:
        GameMetadata.from_pyproject(module)
    assert str(tmp_path / "pyproject.toml") in str(caught.value)
    assert "line" in str(caught.value)


def test_invalid_section_names_the_pyproject(tmp_path, monkeypatch):
    module = write_project(tmp_path, '[tool.retro-gamer]\nactions = []\nreward = "s"\n', "invalid_section_pkg")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    with pytest.raises(ConfigError, match="tool.retro-gamer. in .*pyproject.toml"):
        GameMetadata.from_pyproject(module)


def test_unknown_module_is_a_game_error():
    with pytest.raises(GameError, match="no_such_game_anywhere"):
        GameMetadata.from_pyproject("no_such_game_anywhere")


def test_test_games_folder_description_names_a_factory():
    metadata = GameMetadata.from_pyproject("odd_crates")
    assert metadata.factory == "odd_crates:make_game"
    assert metadata.observe_state == ["where"]


# -- checking each field ------------------------------------------------------------------

BAD_DESCRIPTIONS = [
    ({"reward": "score"}, "actions is missing"),
    ({"actions": ["KEY_UP"]}, "reward is missing"),
    (minimal(actions=[]), "non-empty list of keys the game can receive"),
    (minimal(actions="KEY_UP"), "non-empty list of keys the game can receive"),
    (minimal(actions=["RIGHT"]), 'special keys named like "KEY_RIGHT"'),
    (minimal(actions=["KEY_UP", "KEY_UP"]), "listed more than once"),
    (minimal(reward=3), "reward must be a text in quotes"),
    (minimal(reward=""), "holding a number: the reward of a turn"),
    (minimal(character_set=["ab"]), "a list of single characters"),
    (minimal(character_set="@*"), "a list of single characters"),
    (minimal(character_set=["@", " "]), "single characters, not a space"),
    (minimal(character_set=["@", "@"]), "more than once"),
    (minimal(board_size=[0, 5]), "two whole numbers above 0"),
    (minimal(board_size=[5]), "two whole numbers above 0"),
    (minimal(board_size=[5, True]), "two whole numbers above 0"),
    (minimal(observation_function="observe"), '"module:function"'),
    (minimal(factory="a:b:c"), '"module:function"'),
    (minimal(spatial="yes"), "spatial must be true or false"),
    (minimal(board=1), "board must be true or false"),
    (minimal(egocentric="no"), "egocentric must be true or false"),
    (minimal(observe_state="lives"), "observe_state must be a list of names"),
    (minimal(observe_state=["lives", "lives"]), "listed more than once"),
    (minimal(observe_state=["score"]), "is the reward key"),
    (minimal(observe_state_sizes={"lives": 0}), "a table of whole numbers above 0"),
    (minimal(board=False), "would see nothing at all"),
    (minimal(board=False, spatial=True, observe_state=["lives"]), "convolutional network"),
    (minimal(spatial=True, observation_function="g:observe"), "convolutional network"),
    (minimal(observation_function="g:observe", observe_state=["lives"]), "two different ways"),
    (minimal(egocentric=True), "without a name"),
    (minimal(egocentric=True, egocentric_player="p", board=False, observe_state=["x"]), "crop of the board"),
    (minimal(egocentric_radius=0), "every cell of the window is an input"),
    (minimal(egocentric_radius=True), "true and false are switches"),
    (minimal(extras_size=-1), "extras_size"),
    (minimal(charset=["@"]), "did you mean character_set"),
    (minimal(observe=["x"]), "did you mean observe_state"),
]


@pytest.mark.parametrize("description, lesson", BAD_DESCRIPTIONS)
def test_each_problem_is_explained_with_a_fix(description, lesson):
    with pytest.raises(ConfigError) as caught:
        GameMetadata.from_dict(description)
    message = " ".join(str(caught.value).split())       # lessons are wrapped over several lines
    assert lesson in message
    assert "Fix:" in message
    assert message.startswith("Found 1 problem in the game description")


@pytest.mark.parametrize("description", [
    minimal(),
    minimal(character_set=["@", "#"], board_size=[10, 5], spatial=True),
    minimal(board=False, observe_state=["x", "y"]),
    minimal(observation_function="g:observe", board=False),
    minimal(egocentric=True, egocentric_player="hero", egocentric_radius=2),
    minimal(actions=["a", " ", "KEY_SPACE"]),
])
def test_good_descriptions_pass(description):
    GameMetadata.from_dict(description).validate()


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as caught:
        GameMetadata.from_dict({"actions": [], "reward": 5, "spatial": "no", "colour": "red"})
    message = str(caught.value)
    assert message.startswith("Found 4 problems")
    assert all(f"{n}. " in message for n in range(1, 5))


def test_errors_are_value_errors_for_published_code():
    with pytest.raises(ValueError):
        GameMetadata(actions=[], reward="score").validate()


def test_published_metadata_section_with_extras_size_is_accepted():
    published = {"actions": ARROWS, "reward": "score", "board_size": [32, 16],
                 "character_set": SNAKE_CHARACTERS, "extras_size": 2}
    metadata = GameMetadata.from_dict(published)
    assert metadata.board_size == (32, 16)
    assert metadata.extras_size == 2


# -- writing ----------------------------------------------------------------------------------

def test_to_dict_is_the_metadata_section_only():
    metadata = GameMetadata.from_dict(minimal(
        character_set=["@"], board_size=[8, 4], factory="g:make", spatial=True,
        observe_state=["lives"], egocentric=True, egocentric_player="p",
    ))
    assert metadata.to_dict() == {
        "actions": ["KEY_LEFT", "KEY_RIGHT"], "reward": "score", "character_set": ["@"],
        "board_size": [8, 4], "factory": "g:make",
    }


def test_to_dict_leaves_out_unset_fields_and_keeps_extras_of_an_observation_function():
    assert GameMetadata(actions=["a"], reward="s").to_dict() == {"actions": ["a"], "reward": "s"}
    custom = GameMetadata(actions=["a"], reward="s", observation_function="g:f", board=False, extras_size=3)
    assert custom.to_dict()["extras_size"] == 3
    assert GameMetadata.from_dict(custom.to_dict() | {"board": False}) == custom


def test_description_round_trips_through_to_dict():
    metadata = GameMetadata.from_dict(minimal(character_set=["@", "#"], board_size=[6, 3], factory="g:f"))
    assert GameMetadata.from_dict(metadata.to_dict()) == metadata


def test_preprocessing_dict_leaves_out_an_unset_player_and_stale_sizes():
    metadata = GameMetadata.from_dict(minimal(observe_state=["lives"], observe_state_sizes={"lives": 1, "old": 2}))
    pre = metadata.preprocessing_dict()
    assert "egocentric_player" not in pre
    assert pre["observe_state_sizes"] == {"lives": 1}
    assert pre["spatial"] is False and pre["board"] is True and pre["egocentric_radius"] == 5


# -- the sizes the description fixes -------------------------------------------------------

def test_sizes_of_snake():
    metadata = GameMetadata.from_dict(BUILTIN_DESCRIPTIONS["retro.examples.snake"] | {"board_size": [32, 16]})
    metadata.extras_size = 2
    assert metadata.n_actions == 5  # four arrows and the no-op
    # The window of radius 8 around the head: its 6 characters and the off-board channel.
    assert metadata.board_shape == (7, 17, 17)
    assert metadata.obs_size == 7 * 17 * 17 + 2
    metadata.spatial = True
    assert metadata.obs_size == 7 * 17 * 17 + 2
    metadata.egocentric = False
    assert metadata.board_shape == (6, 16, 32)
    assert metadata.obs_size == 6 * 32 * 16 + 2


def test_sizes_of_an_egocentric_crop_include_the_offboard_channel():
    metadata = GameMetadata.from_dict(minimal(
        character_set=["@", "#", "$"], board_size=[9, 7], egocentric=True,
        egocentric_player="hero", egocentric_radius=2,
    ))
    assert metadata.board_shape == (4, 5, 5)
    assert metadata.obs_size == 4 * 25


def test_sizes_without_a_board_are_the_extras():
    metadata = GameMetadata.from_dict(minimal(board=False, observe_state=["x", "y"], board_size=[9, 7]))
    metadata.extras_size = 2
    assert metadata.board_shape is None
    assert metadata.obs_size == 2
