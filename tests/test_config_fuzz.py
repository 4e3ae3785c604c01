"""Property-based tests: whatever a learner types into config.toml or [tool.retro-gamer],
the command line either works or stops with one clear message that lists every problem.

Hypothesis writes configurations with wrong types, out-of-range numbers, empty lists,
unknown keys and sections, odd characters (control characters, emoji, right-to-left
marks) and NaN, infinities and dates, then runs `retro-gamer train` (or `create`) on
them in-process. A run that starts is stopped by a simulated Ctrl-C after two episodes.
The outcome must be exit status 0 or 130, or 1 with a single "Error: ..." paragraph that
names every setting known to be wrong; never a traceback, never an unforeseen error.

Values that would make the game module import or call something (module, factory,
observation_function) are only ever given forms that cannot name a real function.
"""
import datetime
import shutil
import tempfile
from pathlib import Path

import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
import pytest

from retro_gamer.cli import main
from retro_gamer.errors import toml_key
from retro_gamer.game.description import DESCRIPTION_FIELDS, MEASURED_FIELDS
from retro_gamer.run.config import GAME_KEYS
from retro_gamer.settings import HYPERPARAMETERS as HYPERPARAMETER_NAMES
from retro_gamer.settings import LAYER_DEFAULTS, OLD_NAMES as SPELLINGS
from retro_gamer.settings import OLD_SECTIONS, is_whole_number
from retro_gamer.settings import SECTIONS as NEW_SECTIONS
from retro_gamer.settings import PREPROCESSING as PREPROCESSING_FIELDS

GAMES = Path(__file__).parent / "games"
SECTIONS = NEW_SECTIONS + tuple(OLD_SECTIONS)     # [hyperparameters] is read as [training]
PYPROJECT_HEAD = '[project]\nname = "reach"\nversion = "0.1"\n\n'
DESCRIPTION = {"actions": ["KEY_LEFT", "KEY_RIGHT"], "reward": "score", "character_set": [">", "@"]}
TINY = ["--hidden-sizes", "8", "--memory-capacity", "50", "--batch-size", "4", "--seed", "1",
        "--training-episodes", "3"]
# capsys is shared by the examples of one test: each example reads (and so empties) it.
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

HYPERPARAMETER_KEYS = HYPERPARAMETER_NAMES + tuple(SPELLINGS) + tuple(LAYER_DEFAULTS)
KNOWN_KEYS = {
    "game": GAME_KEYS,
    "metadata": DESCRIPTION_FIELDS + PREPROCESSING_FIELDS + MEASURED_FIELDS,
    "preprocessing": PREPROCESSING_FIELDS,
    "model": HYPERPARAMETER_KEYS,
    "training": HYPERPARAMETER_KEYS,
    "hyperparameters": HYPERPARAMETER_KEYS,
}
WHOLE_NUMBERS = ("batch_size", "memory_capacity", "target_update_freq", "train_every",
                 "training_episodes", "max_turns_per_episode", "exploration_turns")
NUMBERS = ("learning_rate", "learning_rate_decay", "lr_decay", "gamma", "epsilon", "epsilon_decay",
           "epsilon_min")
SWITCHES = ("prioritize_experiences", "double_dqn", "spatial", "board", "egocentric")


# --------------------------------------------------------------------------- what hypothesis writes

odd_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
odd_keys = st.one_of(odd_text, st.sampled_from(["lerning_rate", "batchsize", "Seed", "épsilon", "\u202egnp",
                                                  "a\x1b[31mred", "", " ", "training_episodes "]))
# Small numbers keep a run that starts fast; the huge ones are beyond every limit.
numbers = st.one_of(
    st.integers(-3, 300),
    st.integers(10**10, 2**63 - 1),
    st.integers(-(2**63), -(10**10)),
    st.floats(allow_nan=True, allow_infinity=True),
)
scalars = st.one_of(numbers, st.booleans(), odd_text, st.dates(), st.datetimes(),
                    st.sampled_from(["ignore", "extend", "score", "KEY_LEFT", "@", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(odd_text, inner, max_size=2)),
                      max_leaves=6)
# Forms that can never name a module or a function to import or call.
harmless_names = st.one_of(numbers, st.booleans(), st.lists(scalars, max_size=2),
                           odd_text.map(lambda text: text + " -"))
small = st.integers(0, 40)
probability = st.one_of(st.floats(0, 1), st.sampled_from([0, 1, 0.0, 1.0, 1e-9]))
PLAUSIBLE = {
    **{key: small for key in WHOLE_NUMBERS},
    **{key: probability for key in NUMBERS},
    **{key: st.booleans() for key in SWITCHES if key != "egocentric"},
    "learning_rate": st.floats(0, 10),
    "seed": st.integers(-1, 2**63 - 1),
    "unknown_character_strategy": st.sampled_from(["ignore", "extend", "Ignore", "grow"]),
    "hidden_sizes": st.lists(st.integers(0, 40), max_size=3),
    "exploration_turns": st.integers(0, 40),
}
CALLABLE_KEYS = {("game", "module"), ("game", "factory"), ("metadata", "factory"),
                 ("metadata", "observation_function"), ("preprocessing", "observation_function")}


@st.composite
def mutations(draw, sections):
    """One change to a config: set, add an unknown key, drop a key, or add a section."""
    kind = draw(st.sampled_from(["plausible"] * 4 + ["set"] * 3 + ["unknown", "drop", "section",
                                                                   "replace section"]))
    section = draw(st.sampled_from(sections))
    if kind == "plausible":  # near the edge of what is allowed, so that many runs do start
        key = draw(st.sampled_from(list(PLAUSIBLE)))
        return "set", "training" if key not in ("hidden_sizes", *SWITCHES) else (
            "model" if key == "hidden_sizes" else "preprocessing"), key, draw(PLAUSIBLE[key])
    if kind == "set":
        key = draw(st.sampled_from(KNOWN_KEYS.get(section, ("x",))))
        value = draw(harmless_names if (section, key) in CALLABLE_KEYS or key == "path" else values)
        return kind, section, key, value
    if kind == "unknown":
        key = draw(odd_keys.filter(lambda k: k not in KNOWN_KEYS.get(section, ())))
        return kind, section, key, draw(values)
    if kind == "drop":
        return kind, section, draw(st.sampled_from(KNOWN_KEYS.get(section, ("x",)))), None
    if kind == "section":
        return kind, draw(odd_keys.filter(lambda name: name not in SECTIONS)), None, draw(values)
    return kind, draw(st.sampled_from(["model", "training", "preprocessing"])), None, draw(scalars)


def apply(config: dict, changes) -> dict:
    config = {name: dict(table) if isinstance(table, dict) else table for name, table in config.items()}
    for kind, section, key, value in changes:
        table = config.setdefault(section, {}) if kind in ("set", "unknown", "drop") else None
        if kind in ("set", "unknown") and isinstance(table, dict):
            table[key] = value
        elif kind == "drop" and isinstance(table, dict) and key not in ("character_set", "module"):
            # character_set stays: without it, training would first play exploration_turns
            # random turns to discover the characters, and that number is fuzzed too.
            table.pop(key, None)
        elif kind in ("section", "replace section"):
            config[section] = value
    return config


def certainly_wrong(section: str, key: str, value) -> bool:
    """True for the values no reading of config.toml can accept."""
    if key in WHOLE_NUMBERS:
        return not is_whole_number(value)
    if key in NUMBERS:
        return isinstance(value, bool) or not isinstance(value, (int, float))
    if key in SWITCHES:
        return not isinstance(value, bool)
    if key == "unknown_character_strategy":
        return value not in ("ignore", "extend")
    if key == "seed":
        return not (is_whole_number(value) and value >= 0)
    if key == "hidden_sizes":
        return not (isinstance(value, list) and value)
    if key == "actions" and section == "metadata":
        return not (isinstance(value, list) and value)
    if key == "reward" and section == "metadata":
        return not (isinstance(value, str) and value)
    return False


def names_expected(config: dict) -> list[str]:
    """How the message must name each setting known to be wrong."""
    expected = []
    for section, table in config.items():
        if section not in SECTIONS:
            expected.append(toml_key(section))
        elif not isinstance(table, dict):
            expected.append(section)
        else:
            # lr_decay is the reference page's name of learning_rate_decay; the message may use either.
            expected += [SPELLINGS.get(key, toml_key(key)) for key, value in table.items()
                         if key not in KNOWN_KEYS[section] or certainly_wrong(section, key, value)]
    metadata = config.get("metadata")
    if isinstance(metadata, dict):
        expected += [f"{key} is missing" for key in ("actions", "reward") if key not in metadata]
    return expected


# --------------------------------------------------------------------------- running the command

@pytest.fixture(scope="module")
def game_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz_game")
    # A name of its own: tests/games/reach.py may already be imported, with another description.
    shutil.copy(GAMES / "reach.py", folder / "fuzz_reach.py")
    (folder / "pyproject.toml").write_text(
        PYPROJECT_HEAD + tomli_w.dumps({"tool": {"retro-gamer": DESCRIPTION}}))
    return folder


@pytest.fixture(scope="module")
def base_config(game_dir, tmp_path_factory):
    """The tables of a working config.toml for the reach game, as create writes them."""
    import tomllib

    run = tmp_path_factory.mktemp("base") / "run"
    assert main(["create", "--game", str(game_dir / "fuzz_reach.py"), "--output", str(run), *TINY]) == 0
    return tomllib.loads((run / "config.toml").read_text())


def run_command(argv, capsys):
    """main(argv) with a Ctrl-C after the second episode -> (status, stdout, stderr)."""
    def stop_after_two_episodes(display, stats):
        if stats["episode"] >= 2:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("retro_gamer.cli.display.TrainingDisplay.on_episode", stop_after_two_episodes)
        status = main([str(word) for word in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_clear_outcome(status, out, err, expected_names):
    """Works, or one clear message naming every setting known to be wrong."""
    story = f"status {status}\nexpected {expected_names}\nstdout: {out[-1500:]}\nstderr: {err[-3000:]}"
    assert "Traceback" not in out + err, story
    assert "something unexpected" not in err, story
    if expected_names:
        assert status == 1, story
    assert status in (0, 1, 130), story
    if status == 1:
        assert err.startswith("Error: ") and err.count("Error: ") == 1, story
        for name in expected_names:
            assert name in err or name == "learning_rate_decay" and "lr_decay" in err, (name, story)
    else:
        assert err in ("", "\nStopped.\n"), story


@FUZZ
@given(changes=st.lists(mutations(list(SECTIONS[:-1]) + ["hyperparameters"]), min_size=1, max_size=5))
def test_any_config_toml_gives_a_working_run_or_one_clear_message(game_dir, base_config, capsys, changes):
    config = apply(base_config, changes)
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        run.mkdir()
        (run / "config.toml").write_text(tomli_w.dumps(config))
        status, out, err = run_command(["train", run], capsys)
        event(f"exit status {status}")  # --hypothesis-show-statistics: how often each outcome came
        assert_clear_outcome(status, out, err, names_expected(config))


@FUZZ
@given(changes=st.lists(mutations(["metadata"]), min_size=1, max_size=5))
def test_any_tool_retro_gamer_section_gives_a_working_run_or_one_clear_message(game_dir, capsys, changes):
    description = apply({"metadata": DESCRIPTION}, [c for c in changes if c[0] != "section"])["metadata"]
    if not isinstance(description, dict):
        description = {"actions": description}
    (game_dir / "pyproject.toml").write_text(
        PYPROJECT_HEAD + tomli_w.dumps({"tool": {"retro-gamer": description}}))
    expected = names_expected({"metadata": description})
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        create = ["create", "--game", game_dir / "fuzz_reach.py", "--output", run, *TINY]
        status, out, err = run_command(create, capsys)
        event(f"create: exit status {status}")
        assert_clear_outcome(status, out, err, expected)
        if status == 0:
            status, out, err = run_command(["train", run], capsys)
            assert_clear_outcome(status, out, err, [])


@FUZZ
@given(edits=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), odd_text), min_size=1, max_size=4))
def test_a_config_toml_edited_at_random_characters_never_gives_a_traceback(base_config, capsys, edits):
    text = tomli_w.dumps(base_config)
    for where, cut, inserted in edits:
        at = int(where * len(text))
        text = text[:at] + inserted + text[at + cut:]
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        run.mkdir()
        (run / "config.toml").write_text(text, encoding="utf-8")
        status, out, err = run_command(["train", run], capsys)
        event(f"exit status {status}")
        assert_clear_outcome(status, out, err, [])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("key", NUMBERS[:3] + ("epsilon_min",))
def test_nan_and_infinity_are_refused_by_name(base_config, capsys, key, value):
    config = apply(base_config, [("set", "training", key, value)])
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        run.mkdir()
        (run / "config.toml").write_text(tomli_w.dumps(config))
        status, out, err = run_command(["train", run], capsys)
        assert status == 1 and f"{key} = " in err and "Traceback" not in err, err


@pytest.mark.parametrize("section, key, value, says", [
    ("training", "memory_capacity", 2**62, "memory_capacity"),
    ("model", "hidden_sizes", [2**40], "hidden_sizes"),
    ("preprocessing", "egocentric_radius", 10**9, "egocentric_radius"),
    ("metadata", "character_set", [], "character_set = []"),
    ("training", "seed", -1, "seed"),
])
def test_sizes_no_computer_could_hold_are_refused_by_name(base_config, capsys, section, key, value, says):
    config = apply(base_config, [("set", section, key, value)])
    if key == "egocentric_radius":
        config["preprocessing"].update(egocentric=True, egocentric_player="runner")
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        run.mkdir()
        (run / "config.toml").write_text(tomli_w.dumps(config))
        status, out, err = run_command(["train", run], capsys)
        assert status == 1 and says in err and "Traceback" not in err, err


@pytest.mark.parametrize("section, key, value", [
    ("training", "gamma", datetime.date(2026, 5, 21)),
    ("preprocessing", "egocentric_player", datetime.date(2000, 1, 1)),
    ("preprocessing", "egocentric_player", 5),
    ("preprocessing", "observe_state_sizes", {"where": "two"}),
    ("metadata", "board_size", [7, 1, 1]),
    ("metadata", "extras_size", -1),
    ("model", "hidden_sizes", [8, True]),
])
def test_odd_types_found_by_fuzzing_are_named(base_config, capsys, section, key, value):
    config = apply(base_config, [("set", section, key, value)])
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        run.mkdir()
        (run / "config.toml").write_text(tomli_w.dumps(config))
        status, out, err = run_command(["train", run], capsys)
        assert_clear_outcome(status, out, err, [key])
