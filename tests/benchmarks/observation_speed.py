"""How long one turn costs the trainer: playing it, and encoding what the agent sees.

Run: python tests/benchmarks/observation_speed.py
Compares the fast encoder (occupied cells only) with drawing the board through
retro-games' HeadlessView and walking every cell.
"""
import time

import numpy as np

import sys
from pathlib import Path

from retro_gamer.game.environment import GameEnvironment, metadata_for_game
from retro_gamer.game.loading import load_game_factory, resolve_game

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference_encoder import encode_cell_by_cell  # noqa: E402  (the tests' obvious encoder)

TURNS = 3000


def per_turn_microseconds(env, rng, encode) -> float:
    keys = [*env.metadata.actions, None]
    env.new_episode()
    start = time.perf_counter()
    for _ in range(TURNS):
        _, done = env.advance(keys[rng.integers(len(keys))])
        encode(env)
        if done:
            env.new_episode()
    return (time.perf_counter() - start) / TURNS * 1e6


def main():
    for name in ("retro.examples.snake", "retro.examples.nav", "retro.examples.beast"):
        section = resolve_game(name)
        metadata = metadata_for_game(section)
        env = GameEnvironment(load_game_factory(section), metadata)
        rng = np.random.default_rng(0)
        play = per_turn_microseconds(env, rng, lambda e: None)
        compact = per_turn_microseconds(env, rng, lambda e: e.compact_observation())
        dense = per_turn_microseconds(env, rng, lambda e: e.observation())
        slow = per_turn_microseconds(env, rng, lambda e: encode_cell_by_cell(e.game, e.metadata))
        print(f"{name:22s} play only {play:7.1f} us/turn | + compact {compact - play:6.1f} us"
              f" | + dense obs {dense - play:6.1f} us | + cell-by-cell {slow - play:7.1f} us")


if __name__ == "__main__":
    main()
