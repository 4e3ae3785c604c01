"""The documentation says what the code does.

docs/reference.md lists every setting, option and default; docs/how-dqn-works.md names
the file and function behind every idea of DQN, in retro_gamer/dqn/, and what the fast
engine changes; docs/reading-the-log.md shows a real training log; README.md maps the
source. These tests compare each of them with the code, both ways, so that a renamed
function, a new option or a changed default fails here until the docs follow.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import importlib.util
import inspect
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import retro_gamer
from retro_gamer.cli import build_parser
from retro_gamer.dqn.network import build_network
from retro_gamer.dqn.replay import PrioritizedReplayMemory, ReplayMemory
from retro_gamer.game import description
from retro_gamer.game.description import GameMetadata
from retro_gamer.run import checkpoints as ckpt
from retro_gamer.run.config import GAME_KEYS, read_config
from retro_gamer.run.records import EPISODE_COLUMNS, parse_checkpoint_line
from retro_gamer.run.trainer import DQNTrainer
from retro_gamer.settings import LAYER_DEFAULTS, OLD_NAMES, OLD_SECTIONS, SECTIONS, SETTINGS, defaults

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OWN_DOCS = ("reference.md", "how-dqn-works.md", "integrating.md", "reading-the-log.md",
            "choosing-what-the-agent-sees.md")
SOURCE_MAP = "Where DQN lives in the source"      # the section of README.md that maps the package


# --------------------------------------------------------------------- reading Markdown

def read_doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def read_readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def without_code_blocks(text: str) -> str:
    """The text with fenced code blocks blanked out (a '# comment' there is no heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)


def sections(text: str) -> dict[str, str]:
    """Heading text (without the #'s) -> the text up to the next heading of any level."""
    parts = re.split(r"^(#{1,6} .*)$", text, flags=re.MULTILINE)
    found = {}
    for heading, body in zip(parts[1::2], parts[2::2]):
        found[heading.lstrip("#").strip()] = body
    return found


def section(doc: str, heading: str, text: str | None = None) -> str:
    found = sections(read_doc(doc) if text is None else text)
    assert heading in found, f"{doc} has no heading {heading!r}; it has {list(found)}"
    return found[heading]


def chapters(text: str) -> dict[str, str]:
    """Heading text -> the text up to the next heading of the same or a higher level, so a
    chapter includes its sub-sections (and its code blocks, whose '# lines' are no headings)."""
    masked = re.sub(r"^```.*?^```", lambda block: re.sub(r"^#", " ", block.group(0), flags=re.MULTILINE),
                    text, flags=re.DOTALL | re.MULTILINE)
    headings = list(re.finditer(r"^(#{1,6}) (.*)$", masked, flags=re.MULTILINE))
    found = {}
    for k, heading in enumerate(headings):
        level = len(heading.group(1))
        end = next((h.start() for h in headings[k + 1:] if len(h.group(1)) <= level), len(text))
        found[heading.group(2).strip()] = text[heading.end():end]
    return found


def table(body: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table in ``body``, as dicts header -> cell."""
    lines = [line.strip() for line in body.splitlines() if line.strip().startswith("|")]
    assert len(lines) >= 3, f"no table in:\n{body[:300]}"

    def cells(line):
        return [cell.strip() for cell in line.strip("|").split("|")]

    header = cells(lines[0])
    return [dict(zip(header, cells(line))) for line in lines[2:]]


def code_spans(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def first_column_names(rows: list[dict]) -> list[str]:
    names = []
    for row in rows:
        spans = code_spans(next(iter(row.values())))
        assert spans, f"row without a `name` in its first cell: {row}"
        names.append(spans[0])
    return names


def toml_value(text: str):
    return tomllib.loads(f"value = {text}")["value"]


def documented_default(cell: str):
    """A table's default cell as a Python value: `TOML` -> its value; 'unset' -> None."""
    spans = code_spans(cell)
    if spans:
        return toml_value(spans[0])
    assert cell in ("unset", "required"), f"a default is `a TOML value`, unset or required, not {cell!r}"
    return None if cell == "unset" else inspect.Parameter.empty


# --------------------------------------------------------------------- settings

SETTING_TABLES = {       # section of retro_gamer/settings.py -> its table's heading in reference.md
    "metadata": "The game description: `[tool.retro-gamer]`",
    "preprocessing": "[preprocessing]",
    "model": "[model]",
    "training": "[training]",
}


def settings_table(heading: str) -> dict[str, dict]:
    rows = table(section("reference.md", heading))
    return dict(zip(first_column_names(rows), rows))


def declared(section_name: str) -> dict:
    return {name: s for name, s in SETTINGS.items() if s.section == section_name}


def test_every_section_of_the_settings_has_its_table():
    assert {s.section for s in SETTINGS.values()} <= set(SETTING_TABLES)


@pytest.mark.parametrize("section_name", sorted(SETTING_TABLES))
def test_every_setting_is_documented_with_its_default_and_its_meaning(section_name):
    documented = settings_table(SETTING_TABLES[section_name])
    settings = declared(section_name)
    assert set(documented) == set(settings)
    for name, row in documented.items():
        setting = settings[name]
        expected = inspect.Parameter.empty if getattr(setting, "required", False) else setting.default
        value = documented_default(row["default"])
        assert value == expected and type(value) is type(expected), name
        # The meaning is settings.py's sentence itself, word for word, and nothing else.
        assert row["meaning"] == setting.explain, name


@pytest.mark.parametrize("section_name", ["preprocessing", "model", "training"])
def test_the_limits_of_every_setting_are_the_ones_it_checks(section_name):
    for name, row in settings_table(SETTING_TABLES[section_name]).items():
        setting = SETTINGS[name]
        if setting.choices:
            assert [toml_value(span) for span in code_spans(row["limits"])] == list(setting.choices), name
        else:
            assert row["limits"] == setting.bounds(), name


def test_the_description_fields_are_the_game_metadatas():
    documented = settings_table(SETTING_TABLES["metadata"])
    fields = getattr(description, "DESCRIPTION_FIELDS", None) or tuple(declared("metadata"))
    assert set(documented) == set(fields)
    defaults_of = {f.name: f.default for f in dataclasses.fields(GameMetadata)}
    for name, row in documented.items():
        expected = defaults_of[name] if defaults_of[name] is not dataclasses.MISSING else inspect.Parameter.empty
        assert documented_default(row["default"]) == expected, name


def test_game_metadata_starts_from_the_documented_preprocessing():
    metadata = GameMetadata(actions=["KEY_UP"], reward="score")
    for name, row in settings_table("[preprocessing]").items():
        assert getattr(metadata, name) == documented_default(row["default"]), name


def test_older_spellings_are_documented():
    documented = settings_table("Older spellings")
    assert set(documented) == set(OLD_NAMES) | set(LAYER_DEFAULTS)
    for old, new in OLD_NAMES.items():
        assert code_spans(documented[old]["means"]) == [new]
    for name in LAYER_DEFAULTS:
        other = next(n for n in LAYER_DEFAULTS if n != name)
        assert f"`{other}` is {LAYER_DEFAULTS[other]}" in documented[name]["means"]


def test_every_game_key_and_config_section_is_documented():
    assert set(settings_table("[game]")) == set(GAME_KEYS)
    headings = set(sections(without_code_blocks(read_doc("reference.md"))))
    for name in SECTIONS:
        assert f"[{name}]" in headings, name
    for old, new in OLD_SECTIONS.items():      # the published names, still read
        assert f"`[{old}]`" in section("reference.md", f"[{new}]")


def test_the_built_in_description_of_snake_is_the_codes():
    builtin = dict(description.BUILTIN_DESCRIPTIONS["retro.examples.snake"])
    body = section("reference.md", SETTING_TABLES["metadata"])
    paragraph = body[body.index("**Built-in descriptions.**"):].split("\n\n")[0]
    shown = dict(re.findall(r"`(\w+) = ([^`]+)`", paragraph))
    assert builtin.pop("actions") == description.ARROW_KEYS and "arrow-key actions" in paragraph
    assert {key: toml_value(value) for key, value in shown.items()} == builtin


# --------------------------------------------------------------------- commands

def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def arguments(parser: argparse.ArgumentParser, group_title: str | None = None) -> list[argparse.Action]:
    """The parser's arguments (not --help), or those of one argument group."""
    if group_title is not None:
        group = next(g for g in parser._action_groups if g.title == group_title)
        return list(group._group_actions)
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def names_of(action: argparse.Action) -> set[str]:
    return set(action.option_strings) if action.option_strings else {action.metavar}


def documented_names(first_cell: str) -> set[str]:
    """'`--output FILE`, `-o FILE`' -> {'--output', '-o'}; '`RUN_DIR`' -> {'RUN_DIR'}."""
    return {span.split()[0] for span in code_spans(first_cell)}


def command_table(name: str) -> list[dict]:
    return table(section("reference.md", f"`retro-gamer {name}`"))


def hyperparameter_option_rows() -> list[dict]:
    return table(section("reference.md", "Hyperparameter options (create and init)"))


def test_every_command_is_documented():
    headings = sections(without_code_blocks(read_doc("reference.md")))
    documented = {m.group(1) for h in headings if (m := re.fullmatch(r"`retro-gamer (\w+)`", h))}
    assert documented == set(subcommands())


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_of_every_command_is_documented_and_nothing_more(name):
    parser = subcommands()[name]
    in_code = set().union(*(names_of(a) for a in arguments(parser)))
    in_docs = set().union(*(documented_names(next(iter(row.values()))) for row in command_table(name)))
    body = section("reference.md", f"`retro-gamer {name}`")
    if any(g.title == "hyperparameters" for g in parser._action_groups):
        assert "[hyperparameter option](#hyperparameter-options-create-and-init)" in body
        in_docs |= set().union(*(documented_names(row["option"]) for row in hyperparameter_option_rows()))
    assert in_docs == in_code


@pytest.mark.parametrize("name", ["create", "init"])
def test_hyperparameter_options_set_the_documented_keys(name):
    actions = {option: action for action in arguments(subcommands()[name], "hyperparameters")
               for option in action.option_strings}
    for row in hyperparameter_option_rows():
        key = code_spans(row["config.toml key"])[0]
        for option in documented_names(row["option"]):
            assert actions[option].dest == key, option
        assert key in LAYER_DEFAULTS or SETTINGS[key].section in ("model", "training"), key


def test_every_setting_with_an_option_is_in_the_options_table_with_its_choices():
    rows = {code_spans(row["config.toml key"])[0]: row for row in hyperparameter_option_rows()}
    with_option = {name for name, s in SETTINGS.items() if s.option}
    assert with_option <= set(rows)
    assert not {name for name, s in SETTINGS.items() if not s.option} & set(rows)
    for name in with_option:
        assert SETTINGS[name].option in documented_names(rows[name]["option"]), name
        if SETTINGS[name].choices:       # `--engine {fast,plain}`, as argparse writes them
            assert f"{SETTINGS[name].option} {{{','.join(SETTINGS[name].choices)}}}" in rows[name]["option"]


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_documented_option_defaults_are_the_parsers(name):
    actions = {n: a for a in arguments(subcommands()[name]) for n in names_of(a)}
    for row in command_table(name):
        action = actions[next(iter(documented_names(next(iter(row.values())))))]
        cell = row["default"]
        if action.required or not action.option_strings:
            assert cell == "required", action.dest
        elif not any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS)):
            # A value the user gets without asking must be shown, and be the real one.
            assert code_spans(cell), f"{action.dest}: default {action.default!r} is not documented"
            assert float(code_spans(cell)[0]) == action.default, action.dest
        else:
            assert not code_spans(cell), f"{action.dest} has no default value, the docs give {cell!r}"


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_usage_line_names_the_required_arguments(name):
    body = section("reference.md", f"`retro-gamer {name}`")
    usage = re.search(rf"^retro-gamer {name}\b.*$", body, flags=re.MULTILINE)
    assert usage, f"no usage line for {name}"
    for action in arguments(subcommands()[name]):
        if action.required or not action.option_strings:
            assert action.metavar in usage.group(0)
            if action.option_strings:
                assert action.option_strings[0] in usage.group(0)


def test_the_debugging_switch_is_documented():
    from retro_gamer import cli

    name = getattr(cli, "DEBUG_VARIABLE", None)
    documented = re.findall(r"`(RETRO_GAMER_\w+)=1`", read_doc("reference.md"))
    assert documented == ([name] if name else [])


@pytest.mark.parametrize("name, doing", [("train", "training"), ("clean", "cleaning")])
def test_the_refusal_of_a_busy_run_is_documented_where_the_command_takes_the_lock(name, doing):
    from retro_gamer.cli import commands
    from retro_gamer.run import session

    assert f'run_lock(run_dir, "{doing}")' in inspect.getsource(getattr(commands, name))
    body = section("reference.md", f"`retro-gamer {name}`")
    assert f"`{session.LOCK_FILE}`" in body and "is busy: process" in body


# --------------------------------------------------------------------- the Python API

def split_module(dotted: str) -> tuple[object, list[str]]:
    """'retro_gamer.dqn.optim.Adam.step' -> (the module retro_gamer.dqn.optim, ['Adam', 'step'])."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            return importlib.import_module(".".join(parts[:cut])), parts[cut:]
        except ModuleNotFoundError:
            continue
    raise AssertionError(f"{dotted} names no module")


def resolve(dotted: str):
    """'DQNTrainer.train' -> the object exported by retro_gamer; 'retro_gamer.dqn.optim.Adam.step'
    -> the object in the longest importable module of the path."""
    first, *rest = dotted.split(".")
    if first == "retro_gamer":
        value, rest = split_module(dotted)
    else:
        assert first in retro_gamer.__all__, f"{first} is not exported by retro_gamer"
        value = getattr(retro_gamer, first)
    for part in rest:
        assert hasattr(value, part), f"{dotted}: no {part}"
        value = getattr(value, part)
    return value


def split_parameters(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += char in "([{"
        depth -= char in ")]}"
        current += char
    return [p for p in parts + [current.strip()] if p]


def api_headings() -> list[str]:
    api = read_doc("reference.md").split("## Python API", 1)[1]
    return re.findall(r"^#### `(.+)`$", api, flags=re.MULTILINE)


def test_python_api_is_documented_with_the_real_signatures():
    headings = api_headings()
    assert len(headings) >= 20
    for heading in headings:
        match = re.fullmatch(r"([\w.]+)\((.*)\)", heading)
        assert match, heading
        target = resolve(match.group(1))
        signature = inspect.signature(target)
        parameters = [p for p in signature.parameters.values() if p.name != "self"]
        documented = split_parameters(match.group(2))
        assert [d.lstrip("*").split("=")[0] for d in documented] == [p.name for p in parameters], heading
        for text, parameter in zip(documented, parameters):
            if "=" in text:
                value = eval(text.split("=", 1)[1], {"numpy": np})  # numbers, strings, None, numpy.float32
                assert value == parameter.default, f"{heading}: {text}"
            elif not text.startswith("*") and parameter.default is not inspect.Parameter.empty:
                # Only a default the docs cannot write as a literal may be left out.
                assert not isinstance(parameter.default, (int, float, str, type(None))), f"{heading}: {text}"


def test_a_module_named_in_the_api_is_where_the_thing_is_defined():
    for heading in api_headings():
        dotted = re.match(r"[\w.]+", heading).group(0)
        if dotted.startswith("retro_gamer."):
            module, _ = split_module(dotted)
            assert inspect.getmodule(resolve(dotted)) is module, heading


def test_every_public_name_of_the_package_is_documented():
    documented = {re.match(r"[\w.]+", h).group(0) for h in api_headings()}
    api = read_doc("reference.md").split("## Python API", 1)[1]
    for name in retro_gamer.__all__:
        assert name in documented or f"`{name}`" in api, name


# The parts of each engine a learner or a program builds on: each has its entry.
API = ("GameMetadata", "GameEnvironment", "DQNTrainer", "TrainedPolicy", "PolicyInput",
       "retro_gamer.dqn.agent.DQNAgent", "retro_gamer.dqn.agent.play_episode",
       "retro_gamer.dqn.network.build_network", "retro_gamer.fast.network.build_network",
       "retro_gamer.dqn.loss.huber_loss", "retro_gamer.dqn.optim.Adam", "retro_gamer.fast.optim.Adam",
       "retro_gamer.dqn.optim.clip_grad_norm", "retro_gamer.fast.optim.clip_grad_norm",
       "retro_gamer.dqn.replay.make_replay_memory", "retro_gamer.run.config.read_config")


def test_the_parts_of_both_engines_have_their_entries():
    documented = {re.match(r"[\w.]+", h).group(0) for h in api_headings()}
    assert set(API) <= documented


# --------------------------------------------------------------------- a real run

def load_reach_game():
    spec = importlib.util.spec_from_file_location("docs_reach", ROOT / "tests" / "games" / "reach.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.create_game


@pytest.fixture(scope="module", params=["fast", "plain"])
def finished_run(request, tmp_path_factory):
    """A finished run of 3 episodes of a 7-cell game, with either engine."""
    run_dir = tmp_path_factory.mktemp(f"run_{request.param}")
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    trainer = DQNTrainer(load_reach_game(), metadata, run_dir, training_episodes=3, batch_size=4,
                         hidden_sizes=[8], seed=0, engine=request.param)
    trainer.train()
    return run_dir


def documented_keys(heading: str) -> set[str]:
    return set(first_column_names(table(section("reference.md", heading))))


def test_checkpoint_contents_are_documented_key_by_key(finished_run):
    data = ckpt.read_checkpoint(finished_run / "checkpoints" / "final.npz")
    names = set(ckpt.model_params(data))
    actual = {re.sub(r"/(" + "|".join(map(re.escape, names)) + r")$", "/<name>", key) for key in data}
    assert documented_keys("Checkpoint contents") == actual


def test_the_settings_a_checkpoint_snapshots_are_the_ones_resume_compares():
    rows = table(section("reference.md", "Checkpoint contents"))
    snapshot = next(row for row in rows if code_spans(row["key"]) == ["config_snapshot"])
    named = set(code_spans(snapshot["holds"])) - {"[preprocessing]"}
    assert named <= set(ckpt.SHAPE_FIXING_FIELDS)
    for name in ckpt.SHAPE_FIXING_FIELDS:        # named one by one, or as "the [preprocessing] settings"
        assert name in named or (SETTINGS[name].section == "preprocessing" and "`[preprocessing]`" in
                                 snapshot["holds"]), name


def test_the_older_adam_keys_named_in_the_docs_are_still_read(finished_run, tmp_path):
    # The first checkpoints kept m / (1 - beta1) and v / (1 - beta2) under adam/m_sum/, adam/v_sum/.
    documented = re.findall(r"`adam/(\w+)_sum/<name>`", section("reference.md", "Checkpoint contents"))
    assert sorted(documented) == ["m", "v"]
    data = ckpt.read_checkpoint(finished_run / "checkpoints" / "final.npz")
    older = {key: value for key, value in data.items() if not key.startswith(("adam/m/", "adam/v/"))}
    for moment, beta in (("m", 0.9), ("v", 0.999)):
        older.update({f"adam/{moment}_sum/{name}": value / (1 - beta)
                      for name, value in ckpt.model_params(data, f"adam/{moment}/").items()})
    np.savez(tmp_path / "older.npz", **older)
    engine = read_config(finished_run).hyperparams["engine"]
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    trainer = DQNTrainer(load_reach_game(), metadata, tmp_path / "run", training_episodes=3, batch_size=4,
                         hidden_sizes=[8], seed=0, engine=engine)
    trainer.load_checkpoint(tmp_path / "older.npz")
    state = trainer.agent.optimizer.state_dict()
    for moment in ("m", "v"):
        for name, value in ckpt.model_params(data, f"adam/{moment}/").items():
            np.testing.assert_allclose(state[moment][name], value, rtol=1e-5, atol=1e-12)


def test_the_replay_memory_file_is_documented_key_by_key(finished_run):
    saved = sorted((finished_run / "checkpoints").glob("replay_*.npz"))
    assert [path.name for path in saved] == ["replay_ep_0003.npz"]
    actual = set(ckpt.read_checkpoint(saved[0]))
    # Only a prioritized memory has priorities: the table names them, with when.
    only_prioritized = set(PrioritizedReplayMemory(4, 1, 0).state_dict()) - set(ReplayMemory(4, 1, 0).state_dict())
    assert documented_keys("The replay memory file") == actual | {f"memory/{k}" for k in only_prioritized}


def test_the_run_directory_is_documented_file_by_file(finished_run):
    tree = re.search(r"```\n(runs/orchard/\n.*?)```", section("reference.md", "The run directory"),
                     flags=re.DOTALL).group(1)
    documented = set(re.findall(r"(?<![\w.])(\.lock|\w+\.(?:toml|log|csv))\b", tree))
    documented |= {"checkpoints/" + name for name in re.findall(r"\b(?:replay_ep_\d+|ep_\d+|final)\.npz", tree)}
    actual = {p.relative_to(finished_run).as_posix() for p in finished_run.rglob("*") if p.is_file()}
    # The tree shows checkpoints of a 200-episode run; this run has 3 episodes.
    assert {re.sub(r"ep_\d+", "ep_N", name) for name in actual} == \
           {re.sub(r"ep_\d+", "ep_N", name) for name in documented}
    for name in documented - {"checkpoints/ep_0100.npz", "checkpoints/ep_0200.npz", "checkpoints/final.npz"}:
        base = re.sub(r"ep_\d+", "ep_NNNN", Path(name).name)
        assert f"**{base}**" in section("reference.md", "The run directory"), f"{base} has no paragraph"


# --------------------------------------------------------------------- the map of DQN

# `retro_gamer/dqn/agent.py` `DQNAgent.learn`: a file, then the thing it defines.
REFERENCE = re.compile(r"`((?:retro_gamer|tests|walkthrough)/[\w/]+\.py)`\s+`([\w.]+)`")
DQN = ROOT / "retro_gamer" / "dqn"


def defined_in_file(path: Path, dotted: str) -> bool:
    """True when ``dotted`` (Class.method or function) is defined at the top of ``path``."""
    scope = ast.parse(path.read_text(encoding="utf-8")).body
    for part in dotted.split("."):
        found = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part]
        if not found:
            return False
        scope = found[0].body
    return True


def top_level_definitions(path: Path) -> list[str]:
    """The public functions and classes defined at the top of a module."""
    return [node.name for node in ast.parse(path.read_text(encoding="utf-8")).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")]


def fast_engine_modules() -> set[str]:
    """retro_gamer/fast/*.py files the fast engine is made of: those retro_gamer/fast/__init__.py
    imports, and what they import from retro_gamer.fast in turn."""
    found, todo = set(), ["retro_gamer/fast/__init__.py"]
    while todo:
        tree = ast.parse((ROOT / todo.pop()).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("retro_gamer.fast."):
                path = node.module.replace(".", "/") + ".py"
                if path not in found:
                    found.add(path)
                    todo.append(path)
    return found


def test_the_map_names_enough_places_in_the_code():
    references = REFERENCE.findall(read_doc("how-dqn-works.md"))
    assert len(references) >= 30
    files = {path for path, _ in references}
    dqn_files = {f"retro_gamer/dqn/{p.name}" for p in DQN.glob("*.py") if p.name != "__init__.py"}
    assert dqn_files | {"retro_gamer/game/observation.py", "retro_gamer/game/environment.py"} <= files
    assert fast_engine_modules() <= files


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_every_file_and_function_the_docs_name_exists(doc):
    for path, dotted in REFERENCE.findall(read_doc(doc)):
        assert (ROOT / path).is_file(), f"{doc} names {path}, which does not exist"
        if path.startswith("retro_gamer/"):
            module = importlib.import_module(path[:-len(".py")].replace("/", "."))
            value = module
            for part in dotted.split("."):
                assert hasattr(value, part), f"{doc}: {path} has no {dotted}"
                value = getattr(value, part)
            owner = inspect.getmodule(value)
            assert owner is None or owner is module, f"{doc}: {dotted} is defined in {owner.__name__}, not {path}"
        else:
            assert defined_in_file(ROOT / path, dotted), f"{doc}: {path} has no {dotted}"


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_every_path_into_the_package_the_docs_name_exists(doc):
    # Also a path named alone: `retro_gamer/trainer.py` would be a file of the old layout.
    for path in re.findall(r"`(retro_gamer/[\w/.]*)`", read_doc(doc)):
        assert (ROOT / path).exists(), f"{doc} names {path}, which does not exist"


def test_every_idea_of_dqn_has_its_section():
    headings = " ".join(sections(without_code_blocks(read_doc("how-dqn-works.md")))).lower()
    for idea in ("q-values", "one-hot", "epsilon-greedy", "replay memory", "bellman", "target network",
                 "huber", "backpropagation", "linear", "relu", "conv2d", "im2col", "gradient clipping",
                 "adam", "prioritized replay", "double dqn", "episode loop", "decays", "fast engine",
                 "plain engine"):
        assert idea in headings, idea


# Each idea of DQN (words of its heading) -> the file of dqn/ and the function that implement it.
IDEAS = [
    ("the one-hot observation", "retro_gamer/dqn/network.py", "one_hot"),
    ("q-network", "retro_gamer/dqn/network.py", "build_network"),
    ("epsilon-greedy", "retro_gamer/dqn/agent.py", "DQNAgent.act"),
    ("replay memory", "retro_gamer/dqn/replay.py", "ReplayMemory.sample"),
    ("td target", "retro_gamer/dqn/agent.py", "DQNAgent.learn"),
    ("target network", "retro_gamer/dqn/agent.py", "DQNAgent.refresh_target"),
    ("huber", "retro_gamer/dqn/loss.py", "huber_loss"),
    ("backpropagation", "retro_gamer/dqn/layers.py", "linear_backward"),
    ("im2col", "retro_gamer/dqn/layers.py", "conv3x3_backward"),
    ("gradient clipping", "retro_gamer/dqn/optim.py", "clip_grad_norm"),
    ("adam", "retro_gamer/dqn/optim.py", "Adam.step"),
    ("prioritized replay", "retro_gamer/dqn/replay.py", "PrioritizedReplayMemory.sample"),
    ("prioritized replay", "retro_gamer/dqn/replay.py", "SumTree.find"),          # its sum tree
    ("double dqn", "retro_gamer/dqn/agent.py", "DQNAgent.learn"),
    ("episode loop", "retro_gamer/dqn/agent.py", "play_episode"),
    ("decays", "retro_gamer/dqn/agent.py", "DQNAgent.end_episode"),
]


@pytest.mark.parametrize("idea, path, dotted", IDEAS, ids=[f"{idea}: {dotted}" for idea, _, dotted in IDEAS])
def test_every_idea_of_dqn_names_the_dqn_file_and_function_that_implement_it(idea, path, dotted):
    found = [body for heading, body in chapters(read_doc("how-dqn-works.md")).items() if idea in heading.lower()]
    assert found, f"how-dqn-works.md has no heading about {idea}"
    assert any((path, dotted) in REFERENCE.findall(body) for body in found), \
        f"the section about {idea} does not name `{path}` `{dotted}`"


def test_every_function_and_class_of_dqn_is_on_the_map():
    # The textbook is short: everything it defines has its place in the explanation.
    named = {(path, dotted.split(".")[0]) for path, dotted in REFERENCE.findall(read_doc("how-dqn-works.md"))}
    for path in sorted(DQN.glob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        for name in top_level_definitions(path):
            assert (relative, name) in named, f"how-dqn-works.md does not say where `{name}` of {relative} fits"


def fast_chapter() -> str:
    found = [body for heading, body in chapters(read_doc("how-dqn-works.md")).items()
             if "fast engine" in heading.lower()]
    assert len(found) == 1, "how-dqn-works.md has one section about the fast engine"
    return found[0]


def test_the_fast_engine_section_names_every_fast_module_and_what_it_replaces():
    body = fast_chapter()
    rows = {code_spans(row["fast module"])[0]: row for row in table(body)}
    assert set(rows) == fast_engine_modules()
    files = {path for path, _ in REFERENCE.findall(body)}
    for module, row in rows.items():
        assert module in files, f"the fast engine section names no function of {module}"
        assert row["replaces"] and row["why it is faster"], module


def test_the_docs_say_how_to_run_the_plain_engine():
    body = fast_chapter()
    assert 'engine = "plain"' in body and "--engine plain" in body
    assert set(SETTINGS["engine"].choices) == {"fast", "plain"}
    create = ["create", "--game", "retro.examples.snake", "--output", "runs/snake/", "--engine", "plain"]
    assert build_parser().parse_args(create).engine == "plain"


# --------------------------------------------------------------------- the README's map

def source_map() -> list[str]:
    return first_column_names(table(section("README.md", SOURCE_MAP, read_readme())))


def test_the_readme_maps_every_part_of_the_package_and_nothing_else():
    package = ROOT / "retro_gamer"
    parts = {f"retro_gamer/{p.name}/" for p in package.iterdir() if (p / "__init__.py").is_file()}
    parts |= {f"retro_gamer/{p.name}" for p in package.glob("*.py") if not p.name.startswith("_")}
    mapped = set(source_map())
    assert mapped == parts
    for path in mapped:
        assert (ROOT / path).exists(), path


def test_the_readme_names_only_files_that_exist():
    body = section("README.md", SOURCE_MAP, read_readme())
    for path in re.findall(r"`(?:python )?((?:retro_gamer|tests|docs)/[\w/.]*)`", body):
        assert (ROOT / path).exists(), path


# --------------------------------------------------------------------- all the docs

@pytest.mark.parametrize("doc", OWN_DOCS)
def test_python_examples_are_valid_python(doc):
    for block in re.findall(r"^```python\n(.*?)^```", read_doc(doc), flags=re.DOTALL | re.MULTILINE):
        ast.parse(block)


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_links_between_docs_lead_somewhere(doc):
    text = read_doc(doc)
    for target, anchor in re.findall(r"\]\(([^)#]+\.md)(?:#([^)]*))?\)", text):
        assert (DOCS / target).is_file(), f"{doc} links to {target}"
        if anchor:
            headings = sections(without_code_blocks((DOCS / target).read_text(encoding="utf-8")))
            assert anchor in {_anchor(h) for h in headings}, f"{doc} links to {target}#{anchor}, no heading"
    anchors = {_anchor(h) for h in sections(without_code_blocks(text))}
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in anchors, f"{doc} links to #{anchor}, which is no heading"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


# --------------------------------------------------------------------- what the agent sees

def snake_choices():
    spec = importlib.util.spec_from_file_location("snake_choices", ROOT / "tests/benchmarks/snake_choices.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    return benchmark


def test_the_choices_page_shows_every_measured_choice_and_the_built_in_one():
    benchmark = snake_choices()
    rows = re.findall(r"^\| (?:\*\*)?([^|*]+?)(?: \(built in\))?(?:\*\*)? \|", read_doc(
        "choosing-what-the-agent-sees.md"), flags=re.M)
    assert set(benchmark.CHOICES) <= set(rows), "every choice of the benchmark has its row"
    builtin = description.BUILTIN_DESCRIPTIONS["retro.examples.snake"]
    chosen = f"egocentric r={builtin['egocentric_radius']}"
    assert f"**{chosen} (built in)**" in read_doc("choosing-what-the-agent-sees.md")
    preprocessing, training = benchmark.CHOICES[chosen]
    assert training == {} and all(builtin[key] == value for key, value in preprocessing.items())


def snake_at(head, heading, body=(), energy=150):
    """A factory of snake games with the head at ``head`` moving ``heading``, segments at ``body``
    (the neck first), the apple far away."""
    from retro.examples import snake

    def create_game():
        game = snake.create_game()
        head_agent, game.state["energy"] = game.agents_by_name["Snake head"], energy
        head_agent.position, head_agent.direction = head, heading
        game.agents_by_name["Apple"].position = (30, 14)
        last = head_agent
        for number, position in enumerate(body, start=1):
            last.next_segment = segment = snake.SnakeBodySegment(number, position)
            game.add_agent(segment)
            last = segment
        return game
    return create_game


@pytest.mark.parametrize("head, heading, body, energy, key, expected", [
    ((5, 5), (1, 0), [(4, 5)], 150, "KEY_LEFT", "turned back into its neck"),
    ((5, 5), (1, 0), [(4, 5), (4, 4), (5, 4)], 150, "KEY_UP", "into its body, a free cell beside"),
    ((5, 5), (1, 0), [(4, 5), (4, 4), (5, 4), (6, 4), (6, 5), (6, 6), (5, 6)], 150, None,
     "into its body, boxed in"),
    ((0, 5), (-1, 0), [], 150, None, "into a wall"),
    ((5, 5), (1, 0), [], 1, None, "starved"),
])
def test_the_choices_benchmark_tells_how_a_snake_game_ended(head, heading, body, energy, key, expected):
    from retro_gamer.game.environment import GameEnvironment
    from retro_gamer.game.observation import occupied_cells

    benchmark = snake_choices()
    metadata = GameMetadata.from_pyproject("retro.examples.snake")
    env = GameEnvironment(snake_at(head, heading, body, energy), metadata)
    env.new_episode()
    free_beside = benchmark.free_cells_beside(env.game, occupied_cells(env.game))
    assert env.advance(key)[1], "the game ends this turn"
    assert benchmark.ending(env.game, free_beside) == expected


# --------------------------------------------------------------------- the real log

ENGINE_SWITCH = re.compile(r"^\[INIT\] Engine: (\w+) from episode (\d+)$")


def pasted_log() -> list[str]:
    blocks = re.findall(r"^```text\n(.*?)^```", read_doc("reading-the-log.md"), flags=re.DOTALL | re.MULTILINE)
    logs = [b for b in blocks if b.startswith("[INIT]")]
    assert len(logs) == 1, "reading-the-log.md shows one whole training.log in a ```text block"
    return logs[0].splitlines()


def test_the_pasted_log_starts_with_the_rationale_the_code_writes_today():
    from retro_gamer.game.environment import metadata_for_game

    # The log is of `retro-gamer create --game retro.examples.snake`: its defaults, measured on the game.
    metadata = metadata_for_game({"module": "retro.examples.snake"})
    _, rationale = build_network(metadata, defaults(["hidden_sizes"]), rng=np.random.default_rng(0))
    lines = pasted_log()
    header = next(k for k, line in enumerate(lines) if line.startswith("==="))
    assert lines[:header] == rationale.splitlines()
    assert lines[header + 1] == f"[INIT] Engine: {SETTINGS['engine'].default} from episode 1"


def test_the_pasted_log_is_a_real_one():
    lines = pasted_log()
    records = [parse_checkpoint_line(line) for line in lines if line.startswith("[ep_")]
    assert len(records) >= 4 and all(records)
    assert any(line.startswith("=== Training started | ") for line in lines)
    assert any(line.startswith("=== Resumed from ep_") for line in lines)
    for record in records:
        # Default epsilon schedule: 0.995 per episode from 1.0, floor 0.05.
        assert record["epsilon"] == pytest.approx(max(0.05, 0.995 ** record["episode"]), abs=6e-4)
        assert record["episode"] - record["first_episode"] + 1 == 100
    # The times add up: each is cut to whole seconds, the total of the exact ones too.
    for k, record in enumerate(records):
        spent = sum(r["seconds"] for r in records[:k + 1])
        assert spent <= record["total_seconds"] <= spent + k + 1, record["line"]
    last = None
    for line in lines:
        if line.startswith("=== Resumed from "):
            assert line.startswith(f"=== Resumed from {last['name']}.npz | "), line
        elif ENGINE_SWITCH.match(line):
            engine, episode = ENGINE_SWITCH.match(line).groups()
            # Each session names its engine and first episode, the first session included.
            first = last["episode"] + 1 if last else 1
            assert engine in SETTINGS["engine"].choices and int(episode) == first, line
        elif line.startswith("[ep_"):
            last = parse_checkpoint_line(line)


def test_every_kind_of_line_of_the_log_is_explained():
    prose = without_code_blocks(read_doc("reading-the-log.md"))
    for start in ("[INIT] Engine:", "=== Training started", "=== Resumed from"):
        assert f"`{start}" in prose, start
    assert any(ENGINE_SWITCH.match(line) for line in pasted_log()), "the log shows an engine switch"


def test_every_field_of_the_log_and_of_episodes_csv_is_explained():
    fields = set(re.findall(r"(\w+)=", next(line for line in pasted_log() if line.startswith("[ep_"))))
    explained = set(first_column_names(table(section("reading-the-log.md", "What each field means"))))
    assert explained == fields
    body = section("reading-the-log.md", "episodes.csv")
    columns = set(first_column_names(table(body)))
    assert columns == set(EPISODE_COLUMNS)
    assert ",".join(EPISODE_COLUMNS) in re.search(r"^```\w*\n(.*?)^```", body, flags=re.DOTALL | re.M).group(1)
