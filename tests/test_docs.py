"""The documentation says what the code does.

docs/reference.md lists every setting, option and default; docs/how-dqn-works.md names
the file and function behind every idea of DQN; docs/reading-the-log.md shows a real
training log. These tests compare each of them with the code, both ways, so that a
renamed function, a new option or a changed default fails here until the docs follow.
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
from retro_gamer import checkpoints as ckpt
from retro_gamer.cli import build_parser
from retro_gamer.config import (GAME_KEYS, HYPERPARAMETER_DEFAULTS, LAYER_DEFAULTS, MODEL_DEFAULTS,
                                PREPROCESSING_DEFAULTS, SECTIONS, SPELLINGS)
from retro_gamer.metadata import DESCRIPTION_FIELDS, PREPROCESSING_FIELDS, GameMetadata
from retro_gamer.network import build_network
from retro_gamer.runlog import EPISODE_COLUMNS, parse_checkpoint_line
from retro_gamer.trainer import DQNTrainer

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
OWN_DOCS = ("reference.md", "how-dqn-works.md", "integrating.md", "reading-the-log.md")


# --------------------------------------------------------------------- reading Markdown

def read_doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


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


def section(doc: str, heading: str) -> str:
    found = sections(read_doc(doc))
    assert heading in found, f"{doc} has no heading {heading!r}; it has {list(found)}"
    return found[heading]


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


def documented_default(cell: str):
    """A table's default cell as a Python value: `TOML` -> its value; 'unset' -> None."""
    spans = code_spans(cell)
    if spans:
        return tomllib.loads(f"value = {spans[0]}")["value"]
    assert cell in ("unset", "required"), f"a default is `a TOML value`, unset or required, not {cell!r}"
    return None if cell == "unset" else inspect.Parameter.empty


# --------------------------------------------------------------------- settings

def settings_table(heading: str) -> dict[str, dict]:
    rows = table(section("reference.md", heading))
    return dict(zip(first_column_names(rows), rows))


def test_every_description_field_is_documented_with_its_default():
    documented = settings_table("The game description: `[tool.retro-gamer]`")
    assert set(documented) == set(DESCRIPTION_FIELDS)
    defaults = {f.name: f.default for f in dataclasses.fields(GameMetadata)}
    for name, row in documented.items():
        expected = defaults[name] if defaults[name] is not dataclasses.MISSING else inspect.Parameter.empty
        assert documented_default(row["default"]) == expected, name


def test_every_preprocessing_setting_is_documented_with_its_default():
    documented = settings_table("[preprocessing]")
    assert set(documented) == set(PREPROCESSING_FIELDS) == set(PREPROCESSING_DEFAULTS)
    metadata = GameMetadata(actions=["KEY_UP"], reward="score")
    for name, row in documented.items():
        assert documented_default(row["default"]) == PREPROCESSING_DEFAULTS[name], name
        assert getattr(metadata, name) == PREPROCESSING_DEFAULTS[name], name


@pytest.mark.parametrize("heading, defaults", [
    ("[training]", HYPERPARAMETER_DEFAULTS),
    ("[model]", MODEL_DEFAULTS),
])
def test_every_hyperparameter_is_documented_with_its_default(heading, defaults):
    documented = settings_table(heading)
    assert set(documented) == set(defaults)
    for name, row in documented.items():
        value = documented_default(row["default"])
        assert value == defaults[name] and type(value) is type(defaults[name]), name


def test_older_spellings_are_documented():
    documented = settings_table("Older spellings")
    assert set(documented) == set(SPELLINGS) | set(LAYER_DEFAULTS)
    for old, new in SPELLINGS.items():
        assert code_spans(documented[old]["means"]) == [new]
    for name in LAYER_DEFAULTS:
        other = next(n for n in LAYER_DEFAULTS if n != name)
        assert f"`{other}` is {LAYER_DEFAULTS[other]}" in documented[name]["means"]


def test_every_game_key_and_config_section_is_documented():
    assert set(settings_table("[game]")) == set(GAME_KEYS)
    headings = set(sections(without_code_blocks(read_doc("reference.md"))))
    for name in SECTIONS:
        if name == "hyperparameters":  # the published name of [training]
            assert "`[hyperparameters]`" in section("reference.md", "[training]")
        else:
            assert f"[{name}]" in headings, name


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
        assert key in HYPERPARAMETER_DEFAULTS or key in MODEL_DEFAULTS or key in LAYER_DEFAULTS


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


# --------------------------------------------------------------------- the Python API

def resolve(dotted: str):
    """'DQNTrainer.train' -> the object, looked up in retro_gamer and then its modules."""
    first, *rest = dotted.split(".")
    candidates = [retro_gamer] + [importlib.import_module(f"retro_gamer.{p.stem}")
                                  for p in sorted((ROOT / "retro_gamer").glob("*.py"))
                                  if not p.stem.startswith("_")]   # __main__ would run the CLI
    owner = next((m for m in candidates if hasattr(m, first)), None)
    assert owner is not None, f"{first} is not defined in retro_gamer"
    value = getattr(owner, first)
    for part in rest:
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


def test_every_public_name_of_the_package_is_documented():
    documented = {re.match(r"[\w.]+", h).group(0) for h in api_headings()}
    api = read_doc("reference.md").split("## Python API", 1)[1]
    for name in retro_gamer.__all__:
        assert name in documented or f"`{name}`" in api, name


# --------------------------------------------------------------------- a real run

def load_reach_game():
    spec = importlib.util.spec_from_file_location("docs_reach", ROOT / "tests" / "games" / "reach.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.create_game


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    trainer = DQNTrainer(load_reach_game(), metadata, run_dir, training_episodes=3, batch_size=4,
                         hidden_sizes=[8], seed=0)
    trainer.train()
    return run_dir


def test_checkpoint_contents_are_documented_key_by_key(finished_run):
    documented = set(first_column_names(table(section("reference.md", "Checkpoint contents"))))
    data = ckpt.read_checkpoint(finished_run / "checkpoints" / "final.npz")
    names = set(ckpt.model_params(data))
    actual = {re.sub(r"/(" + "|".join(map(re.escape, names)) + r")$", "/<name>", key) for key in data}
    assert documented == actual


def test_the_run_directory_is_documented_file_by_file(finished_run):
    tree = re.search(r"```\n(runs/orchard/\n.*?)```", section("reference.md", "The run directory"),
                     flags=re.DOTALL).group(1)
    documented = set(re.findall(r"[\w.]+\.(?:toml|log|csv)", tree))
    documented |= {"checkpoints/" + name for name in re.findall(r"(?:ep_\d+|final|replay_memory)\.npz", tree)}
    actual = {p.relative_to(finished_run).as_posix() for p in finished_run.rglob("*") if p.is_file()}
    # The tree shows checkpoints of a 200-episode run; this run has 3 episodes.
    assert {re.sub(r"ep_\d+", "ep_N", name) for name in actual} == \
           {re.sub(r"ep_\d+", "ep_N", name) for name in documented}


# --------------------------------------------------------------------- the map of DQN

# `retro_gamer/trainer.py` `DQNTrainer._learn`: a file, then the thing it defines.
REFERENCE = re.compile(r"`((?:retro_gamer|tests|walkthrough)/[\w/]+\.py)`\s+`([\w.]+)`")


def defined_in_file(path: Path, dotted: str) -> bool:
    """True when ``dotted`` (Class.method or function) is defined at the top of ``path``."""
    scope = ast.parse(path.read_text(encoding="utf-8")).body
    for part in dotted.split("."):
        found = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part]
        if not found:
            return False
        scope = found[0].body
    return True


def test_the_map_names_enough_places_in_the_code():
    references = REFERENCE.findall(read_doc("how-dqn-works.md"))
    assert len(references) >= 30
    files = {path for path, _ in references}
    for name in ("trainer", "network", "layers", "losses", "optim", "replay", "observation", "environment"):
        assert f"retro_gamer/{name}.py" in files


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


def test_every_idea_of_dqn_has_its_section():
    headings = " ".join(sections(without_code_blocks(read_doc("how-dqn-works.md")))).lower()
    for idea in ("q-values", "epsilon-greedy", "replay memory", "bellman", "target network", "huber",
                 "backpropagation", "linear", "relu", "conv2d", "im2col", "gradient clipping", "adam",
                 "prioritized replay", "double dqn"):
        assert idea in headings, idea


# --------------------------------------------------------------------- all the docs

@pytest.mark.parametrize("doc", OWN_DOCS)
def test_python_examples_are_valid_python(doc):
    for block in re.findall(r"^```python\n(.*?)^```", read_doc(doc), flags=re.DOTALL | re.MULTILINE):
        ast.parse(block)


@pytest.mark.parametrize("doc", OWN_DOCS)
def test_links_between_docs_lead_somewhere(doc):
    text = read_doc(doc)
    for target in re.findall(r"\]\(([^)#]+\.md)(?:#[^)]*)?\)", text):
        assert (DOCS / target).is_file(), f"{doc} links to {target}"
    anchors = {_anchor(h) for h in sections(without_code_blocks(text))}
    for anchor in re.findall(r"\]\(#([^)]+)\)", text):
        assert anchor in anchors, f"{doc} links to #{anchor}, which is no heading"


def _anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


# --------------------------------------------------------------------- the real log

def pasted_log() -> list[str]:
    blocks = re.findall(r"^```text\n(.*?)^```", read_doc("reading-the-log.md"), flags=re.DOTALL | re.MULTILINE)
    logs = [b for b in blocks if b.startswith("[INIT]")]
    assert len(logs) == 1, "reading-the-log.md shows one whole training.log in a ```text block"
    return logs[0].splitlines()


def test_the_pasted_log_starts_with_the_rationale_the_code_writes_today():
    lines = pasted_log()
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=["U", "@"],
                            board_size=(10, 10))
    _, rationale = build_network(metadata, {"hidden_sizes": MODEL_DEFAULTS["hidden_sizes"]},
                                 rng=np.random.default_rng(0))
    init = [line for line in lines if line.startswith("[INIT]")]
    assert init == rationale.splitlines()


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


def test_every_field_of_the_log_and_of_episodes_csv_is_explained():
    fields = set(re.findall(r"(\w+)=", next(line for line in pasted_log() if line.startswith("[ep_"))))
    explained = set(first_column_names(table(section("reading-the-log.md", "What each field means"))))
    assert explained == fields
    columns = set(first_column_names(table(section("reading-the-log.md", "episodes.csv"))))
    assert columns == set(EPISODE_COLUMNS)
