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


def bare_game_steps(create_game, actions, seconds: float) -> float:
    game, keys, steps = None, None, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            if game is None or not game.playing:
                game = build_game(create_game, "game")
                keys = start_headless(game)
            keys.press(random.choice(actions))
            game.step()
            steps += 1
    return steps / (seconds + time.perf_counter() - end)


def environment_steps(env, actions, seconds: float) -> float:
    done, steps = True, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            if done:
                env.reset()
            _, _, done = env.step(random.choice(actions))
            steps += 1
    return steps / (seconds + time.perf_counter() - end)


def gym_steps(env, seconds: float) -> float:
    done, steps = True, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            if done:
                env.reset()
            _, _, terminated, truncated, _ = env.step(random.randrange(env.action_space.n))
            done = terminated or truncated
            steps += 1
    return steps / (seconds + time.perf_counter() - end)


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
            bare.append(bare_game_steps(create_game, actions, args.seconds))
            wrapped.append(environment_steps(env, actions, args.seconds))
            if gym_env is not None:
                gym.append(gym_steps(gym_env, args.seconds))
        b, w = statistics.median(bare), statistics.median(wrapped)
        view = "egocentric" if metadata.egocentric else "whole board"
        print(f"{name:22s} {view:12s} obs {metadata.obs_size:5d} | bare game {b:6.0f} steps/s | "
              f"GameEnvironment.step {w:6.0f} steps/s, {w / b:.2f}x", end="")
        print(f" | RetroGamesEnv.step {statistics.median(gym):6.0f}, {statistics.median(gym) / b:.2f}x"
              if gym else "")


if __name__ == "__main__":
    main()
