"""How many TrainedPolicy.get_action calls per second, on snake.

Two figures: the decision alone (the same board asked again and again), and a game
loop where every turn the policy chooses and the game plays the turn (a new game
when one ends), as when a policy drives a character; and the decision alone without
the fast MLP's path for a single board. The published package makes about 12,000
decisions a second with the game step included on a quiet machine.

    python tests/benchmarks/policy.py [SECONDS]
"""
import sys
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from retro.examples.snake import create_game
from retro.input import ProgrammaticInput

from retro_gamer import PolicyInput, TrainedPolicy
from retro_gamer.cli import main as retro_gamer
from retro_gamer.fast import network

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0


def trained_snake(folder: Path) -> Path:
    """A snake run with one checkpoint (its weights' values do not change the speed). It sees the whole
    board, as the published package's snake does, so that the figures compare with its."""
    run = folder / "snake"
    with redirect_stdout(StringIO()):
        assert retro_gamer(["create", "--game", "retro.examples.snake", "--output", str(run),
                            "--training-episodes", "1", "--memory-capacity", "500",
                            "--batch-size", "32", "--seed", "0"]) == 0
        config = run / "config.toml"
        config.write_text(config.read_text().replace("egocentric = true", "egocentric = false"))
        assert retro_gamer(["train", str(run)]) == 0
    return run


def calls_per_second(step) -> float:
    """Run step() for SECONDS; the best rate of 5 slices, so a noisy neighbour matters less."""
    best = 0.0
    for _ in range(5):
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < SECONDS / 5:
            for _ in range(100):
                step()
            calls += 100
        best = max(best, calls / (time.perf_counter() - started))
    return best


def new_game():
    game = create_game()
    game.input_source = ProgrammaticInput()
    game.start()
    return game


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        policy = TrainedPolicy(trained_snake(Path(folder)))
    game = new_game()
    game.step()  # past turn 0, when the encoder re-reads the positions of the agents
    decision_only = calls_per_second(lambda: policy.get_action(game))
    network.ONE_BOARD_PATH = False          # what fast/network.py's path for a single board buys
    without_one_board = calls_per_second(lambda: policy.get_action(game))
    network.ONE_BOARD_PATH = True

    state = {"game": new_game()}

    def turn():
        game = state["game"]
        game.input_source.press(policy.get_action(game))
        game.step()
        if not game.playing:
            state["game"] = new_game()

    with_step = calls_per_second(turn)

    def driven_turn():
        # The same through PolicyInput, as game.play(input_source=PolicyInput(...)) does.
        game = state["game"]
        game.step()
        if not game.playing:
            state["game"] = game = create_game()
            game.input_source = PolicyInput(policy, game)
            game.start()

    state["game"] = create_game()
    state["game"].input_source = PolicyInput(policy, state["game"])
    state["game"].start()
    through_input = calls_per_second(driven_turn)

    print(f"get_action alone          : {decision_only:10,.0f} calls/s  ({1e6 / decision_only:5.1f} µs)")
    print(f"  without one-board path  : {without_one_board:10,.0f} calls/s  ({1e6 / without_one_board:5.1f} µs)")
    print(f"get_action + game step    : {with_step:10,.0f} calls/s  ({1e6 / with_step:5.1f} µs)")
    print(f"PolicyInput + game step   : {through_input:10,.0f} turns/s  ({1e6 / through_input:5.1f} µs)")
    print("published retro-gamer     :     ~12,000 calls/s with the game step")


if __name__ == "__main__":
    main()
