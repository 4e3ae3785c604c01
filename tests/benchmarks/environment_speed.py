"""How fast GameEnvironment.step plays against the bare game, side by side in one run.

Run: python tests/benchmarks/environment_speed.py [--seconds 3] [--rounds 3]

The bare game: a new game when one ends, a random key pressed, game.step(). GameEnvironment (and
the Gymnasium adapter, which calls it): the same, through reset() and step(key), which also read
the reward and build the dense float32 observation the network reads; RetroGamesEnv (when
gymnasium is installed) adds Gymnasium's checks and info. They alternate in rounds so that a busy
moment of this shared machine slows all; the ratio is steps per second over the bare game's
(issue target for GameEnvironment.step: at least 0.5x on snake).
"""
import argparse
import random
import statistics
import time

from retro_gamer.game.environment import GameEnvironment, metadata_for_game
from retro_gamer.game.loading import build_game, load_game_factory, resolve_game, start_headless


def turns_per_second(play_turn, seconds: float) -> float:
    """Call play_turn() for ``seconds``; each way of playing below starts a new game when one ends."""
    turns, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            play_turn()
        turns += 100
    return turns / (seconds + time.perf_counter() - end)


def bare_game(create_game, actions):
    playing = {}

    def play_turn():
        if "game" not in playing or not playing["game"].playing:
            playing["game"] = build_game(create_game, "game")
            playing["keys"] = start_headless(playing["game"])
        playing["keys"].press(random.choice(actions))
        playing["game"].step()
    return play_turn


def environment(env, actions):
    done = [True]

    def play_turn():
        if done[0]:
            env.reset()
        done[0] = env.step(random.choice(actions))[2]
    return play_turn


def gymnasium_environment(env):
    done = [True]

    def play_turn():
        if done[0]:
            env.reset()
        _, _, terminated, truncated, _ = env.step(random.randrange(env.action_space.n))
        done[0] = terminated or truncated
    return play_turn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    random.seed(0)
    for name, preprocessing in [("retro.examples.snake", {}),
                                ("retro.examples.snake", {"egocentric": False}),
                                ("retro.examples.nav", {}), ("retro.examples.beast", {})]:
        section = resolve_game(name)
        metadata = metadata_for_game(section)
        metadata.set(preprocessing)
        create_game = load_game_factory(section)
        env = GameEnvironment(create_game, metadata)
        actions = [*metadata.actions, None]
        try:
            from retro_gamer.gym import RetroGamesEnv
            gym_env = RetroGamesEnv(name, preprocessing=preprocessing)
        except ModuleNotFoundError:
            gym_env = None                             # without gymnasium: the environment alone
        bare, wrapped, gym = [], [], []
        for _ in range(args.rounds):
            bare.append(turns_per_second(bare_game(create_game, actions), args.seconds))
            wrapped.append(turns_per_second(environment(env, actions), args.seconds))
            if gym_env is not None:
                gym.append(turns_per_second(gymnasium_environment(gym_env), args.seconds))
        b, w = statistics.median(bare), statistics.median(wrapped)
        view = "egocentric" if metadata.egocentric else "whole board"
        print(f"{name:22s} {view:12s} obs {metadata.obs_size:5d} | bare game {b:6.0f} steps/s | "
              f"GameEnvironment.step {w:6.0f} steps/s, {w / b:.2f}x", end="")
        print(f" | RetroGamesEnv.step {statistics.median(gym):6.0f}, {statistics.median(gym) / b:.2f}x"
              if gym else "")


if __name__ == "__main__":
    main()
