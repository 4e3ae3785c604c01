"""Replay memory size and speed at snake scale: python tests/benchmarks/replay_memory.py

memory_capacity = 50,000 turns of a 32 x 16 snake board (512 cells, 6 characters) plus
2 extras. Prints the bytes the memory holds next to what float32 one-hot observations
stored twice per transition would take, and the time of add(), sample(64) and
update_priorities(64) for both kinds of memory.
"""
from __future__ import annotations

import time

import numpy as np

from retro_gamer.observation import expand_observations
from retro_gamer.replay import make_replay_memory

CAPACITY, N_CELLS, N_CHANNELS, N_EXTRAS = 50_000, 512, 6, 2
MAX_TURNS = 2_000
BATCH = 64


def snake_like_states(count: int, rng: np.random.Generator):
    """count (codes, extras) states: a mostly empty board with a few occupied cells."""
    for _ in range(count):
        codes = np.zeros(N_CELLS, dtype=np.uint8)
        codes[rng.integers(0, N_CELLS, size=8)] = rng.integers(1, N_CHANNELS + 1, size=8)
        yield codes, rng.normal(size=N_EXTRAS).astype(np.float32)


def fill(memory, rng: np.random.Generator) -> float:
    """Fill the memory with episodes of 1..MAX_TURNS turns (some cut); seconds per add()."""
    states = list(snake_like_states(CAPACITY + 1, rng))
    seconds, t = 0.0, 0
    while t < CAPACITY:
        length = int(rng.integers(1, MAX_TURNS + 1))
        for turn in range(min(length, CAPACITY - t)):
            last = turn == length - 1 or t == CAPACITY - 1
            done = last and length < MAX_TURNS
            start = time.perf_counter()
            memory.add(states[t], int(rng.integers(0, 5)), 1.0, states[t + 1], done, last)
            seconds += time.perf_counter() - start
            t += 1
        # A new episode starts from a fresh state, not the last next state.
        states[t] = next(snake_like_states(1, rng))
    return seconds / CAPACITY


def time_call(function, repeats: int = 300) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    published = CAPACITY * 2 * (N_CHANNELS * N_CELLS + N_EXTRAS) * 4
    print(f"capacity {CAPACITY}, {N_CELLS} cells x {N_CHANNELS} channels + {N_EXTRAS} extras")
    print(f"float32 observations, state and next state per transition: {published / 1e6:8.1f} MB")
    for prioritized in (False, True):
        kind = "prioritized" if prioritized else "uniform"
        rng = np.random.default_rng(0)
        memory = make_replay_memory(CAPACITY, N_CELLS, N_EXTRAS, prioritized)
        add_seconds = fill(memory, rng)
        sample_seconds = time_call(lambda: memory.sample(BATCH, rng))
        batch = memory.sample(BATCH, rng)
        update_seconds = time_call(lambda: memory.update_priorities(batch.indices, rng.normal(size=BATCH)))
        expand_seconds = time_call(lambda: expand_observations(batch.state_codes, batch.state_extras,
                                                               N_CHANNELS, spatial=True))
        print(f"{kind:>11}: {memory.nbytes / 1e6:6.1f} MB held ({len(memory.cut_codes)} cut rows) | "
              f"add {add_seconds * 1e6:5.1f} us | sample({BATCH}) {sample_seconds * 1e6:6.1f} us | "
              f"update_priorities({BATCH}) {update_seconds * 1e6:6.1f} us | "
              f"expand batch {expand_seconds * 1e6:6.1f} us")


if __name__ == "__main__":
    main()
