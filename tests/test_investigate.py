"""Investigating agents: explain (occlusion), play --explain, record (asciicast v2), and eval and
plot given several runs."""
import io
import json
import tomllib
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from retro.examples.snake import create_game as create_snake

from retro_gamer.cli import main
from retro_gamer.dqn.network import one_hot
from retro_gamer.policy import TrainedPolicy
from test_cli import PseudoTerminal, text_of
from test_policy import started_snake

SMALL = ["--memory-capacity", "200", "--batch-size", "8", "--hidden-sizes", "16"]
EGOCENTRIC = {"egocentric": True, "egocentric_player": "Snake head", "egocentric_radius": 3}


def trained_run(run: Path, episodes: int = 3, game: str = "retro.examples.snake", seed: int = 1,
                **preprocessing) -> Path:
    with redirect_stdout(io.StringIO()):
        assert main(["create", "--game", game, "--output", str(run), "--training-episodes", str(episodes),
                     *SMALL, "--seed", str(seed)]) == 0
        config = tomllib.loads((run / "config.toml").read_text())
        config["preprocessing"].update(preprocessing)
        (run / "config.toml").write_text(tomli_w.dumps(config))
        assert main(["train", str(run)]) == 0
    return run


@pytest.fixture(scope="module")
def snake_run(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("runs") / "snake")


@pytest.mark.parametrize("preprocessing", [{}, {"spatial": True}, EGOCENTRIC],
                         ids=["MLP, whole board", "CNN, whole board", "MLP, egocentric"])
def test_explain_is_the_fall_of_the_chosen_q_value_when_each_occupied_cell_is_shown_empty(
        tmp_path, preprocessing):
    policy = TrainedPolicy(trained_run(tmp_path / "run", **preprocessing))
    game, m = started_snake(turns=4, seed=6), policy.metadata
    explained = policy.explain(game)
    q = policy.q_values(game)
    best = int(q.argmax())
    assert explained["action"] == policy.action_keys[best] == policy.get_action(game)
    assert explained["q_values"] == {key: pytest.approx(float(value)) for key, value in zip(policy.action_keys, q)}
    # Every occupied cell the agent sees, in board coordinates: the whole board, or the window.
    head = game.agents_by_name["Snake head"].position
    r = m.egocentric_radius
    seen = {p for p in game.get_agents_by_position()
            if not m.egocentric or (abs(p[0] - head[0]) <= r and abs(p[1] - head[1]) <= r)}
    assert set(explained["influence"]) == seen and len(seen) >= 2
    if m.egocentric:    # seed 6: the head at (30, 10), its window past the board's edge; seed 3: the
        # apple at (23, 15) is outside the window around the head at (8, 6), so unseen.
        assert set(policy.explain(started_snake(turns=4, seed=3))["influence"]) == {(8, 6)}
    # Each value, one cell at a time, through the dense network on the one-hot observation.
    codes, extras = policy.encoder.codes(game), policy.encoder.extras(game)
    width = 2 * r + 1 if m.egocentric else game.board_size[0]
    x0, y0 = (head[0] - r, head[1] - r) if m.egocentric else (0, 0)
    for (x, y), influence in explained["influence"].items():
        occluded = codes.copy()
        occluded[(y - y0) * width + (x - x0)] = 0
        observation = one_hot(occluded[None], extras[None], policy.encoder.n_channels, m.spatial)
        assert influence == pytest.approx(q[best] - policy.network.forward(observation)[0, best], abs=1e-5)


def test_play_explain_paints_the_cells_under_a_terminal(snake_run, tmp_path):
    session = PseudoTerminal(["play", snake_run, "--framerate", "50", "--explain"], cwd=tmp_path)
    session.read_until(b"red: for this move")
    session.read_until(b"\x1b[48;")             # a background colour: the heat map
    session.send(b"\x1b")
    assert session.wait() == 0
    assert "Traceback" not in text_of(session.output)


def test_record_writes_an_asciicast_v2_file_without_a_terminal(snake_run, tmp_path, capsys):
    cast = tmp_path / "two.cast"
    assert main(["record", str(snake_run), "--games", "2", "--output", str(cast)]) == 0
    assert "asciinema play" in capsys.readouterr().out
    lines = cast.read_text().splitlines()
    header, events = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    assert header["version"] == 2 and header["width"] >= 34 + 2 and header["height"] >= 18
    assert all(len(e) == 3 and e[1] == "o" and isinstance(e[2], str) for e in events)
    times = [e[0] for e in events]
    assert times == sorted(times) and times[0] == 0
    ends = [e for e in events if "after" in e[2]]
    assert len(ends) == 2 and "game 2 of 2" in ends[-1][2]
    turns = [e for e in events if "after" not in e[2]]
    assert times[1] - times[0] == pytest.approx(1 / create_snake().framerate, abs=1e-3)
    frame = turns[0][2].removeprefix("\x1b[H\x1b[2J").split("\r\n")
    assert frame[0].startswith("┌" + "─" * 32 + "┐") and "Q-values, next move" in frame[0]
    assert any("▶" in line for line in frame) and any(" score: 0" in line for line in frame)
    frames = [e[2].removeprefix("\x1b[H\x1b[2J").split("\r\n") for e in events]
    assert all(len(lines) <= header["height"] and max(map(len, lines)) <= header["width"] for lines in frames)


def test_record_refuses_a_bad_output_and_leaves_nothing(snake_run, tmp_path, capsys):
    assert main(["record", str(snake_run), "--output", str(tmp_path / "game.txt")]) == 1
    assert "ending in .cast" in capsys.readouterr().err
    (tmp_path / "a file").write_text("not a folder")
    assert main(["record", str(snake_run), "--output", str(tmp_path / "a file" / "game.cast")]) == 1
    assert "Error:" in capsys.readouterr().err
    assert list(tmp_path.rglob("*.cast")) == []


def test_eval_of_several_runs_plays_each_latest_checkpoint_on_the_same_games(snake_run, tmp_path, capsys):
    other = trained_run(tmp_path / "other", episodes=4)
    assert main(["eval", str(snake_run), str(other), "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{snake_run}:ep_0003" in out and f"{other}:ep_0004" in out
    assert out.count("played 2 games") == 2 and "run:checkpoint" in out


def test_eval_refuses_runs_of_different_games(snake_run, tmp_path, capsys):
    games = Path(__file__).parent / "games"
    reach = trained_run(tmp_path / "reach", game=str(games / "reach.py"))
    assert main(["eval", str(snake_run), str(reach), "--episodes", "1"]) == 1
    err = capsys.readouterr().err
    assert "These runs train different games" in err and "retro.examples.snake" in err and "reach" in err


def test_plot_overlays_runs_of_different_lengths(snake_run, tmp_path, capsys, monkeypatch):
    longer = trained_run(tmp_path / "longer", episodes=12, seed=2)
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["plot", str(snake_run), str(longer)]) == 0
    out = capsys.readouterr().out
    assert f"● {snake_run} (3 episodes" in out and f"○ {longer} (12 episodes" in out
    charts = out.split("where runs meet", 1)[1]
    assert "●" in charts and "○" in charts and " 12" in charts     # the x axis runs to the longer run
    # A run over itself: every point of one meets the other's.
    assert main(["plot", str(snake_run), str(snake_run)]) == 0
    charts = capsys.readouterr().out.split("where runs meet", 1)[1]
    assert "+" in charts and "●" not in charts and "○" not in charts


def test_plot_saves_a_figure_of_several_runs(snake_run, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    figure = tmp_path / "both.svg"
    assert main(["plot", str(snake_run), str(snake_run), "--output", str(figure)]) == 0
    assert figure.read_text().lstrip().startswith("<?xml") and str(snake_run) in figure.read_text()


def test_investigating_a_run_without_checkpoints_says_to_train_it(tmp_path, capsys):
    with redirect_stdout(io.StringIO()):
        assert main(["create", "--game", "retro.examples.snake", "--output", str(tmp_path / "new")]) == 0
    for command in (["record", str(tmp_path / "new")], ["eval", str(tmp_path / "new"), "--episodes", "1"]):
        assert main(command) == 1
        assert "has no checkpoint yet" in capsys.readouterr().err
    assert np.size(list((tmp_path / "new").glob("*.cast"))) == 0
