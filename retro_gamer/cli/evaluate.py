"""Evaluating checkpoints: how well does each one play when it stops exploring?

The rewards in training.log mix skill with the luck of exploration (epsilon). Here each checkpoint plays
N games greedily (always the highest Q-value), all from the same seed, so they face the same openings.
A game is cut at max_turns_per_episode, as in training: a greedy agent may find a loop it never leaves.
"""
import random
from dataclasses import dataclass, field

import numpy as np

from retro_gamer.game.environment import GameEnvironment
from retro_gamer.game.loading import load_game_factory
from retro_gamer.policy import TrainedPolicy


@dataclass
class Evaluation:
    """The games one checkpoint played: the total reward and number of turns of each."""
    checkpoint: str
    rewards: list[float] = field(default_factory=list)
    turns: list[int] = field(default_factory=list)
    cut: int = 0  # games stopped by max_turns_per_episode


def evaluate_checkpoints(run_dir, names: list[str] | None, episodes: int = 100, seed: int = 0,
                         progress=None) -> list[Evaluation]:
    """Play ``episodes`` greedy games with each named checkpoint (None: just the latest), in the order
    given. ``progress``, if given, is called with a line of text as each checkpoint finishes."""
    results = []
    for name in names or [None]:
        policy = TrainedPolicy(run_dir, name)
        max_turns = policy.config.hyperparams["max_turns_per_episode"]
        environment = GameEnvironment(load_game_factory(policy.config.game), policy.metadata)
        # Games draw their randomness from Python's random (and sometimes NumPy's):
        # the same seed gives every checkpoint the same games to start from.
        random.seed(seed)
        np.random.seed(seed)
        result = Evaluation(policy.checkpoint_name)
        for _ in range(episodes):
            environment.new_episode()
            total_reward, turns, done = 0.0, 0, False
            while not done and turns < max_turns:
                reward, done = environment.advance(policy.get_action(environment.game))
                total_reward += reward
                turns += 1
            result.rewards.append(total_reward)
            result.turns.append(turns)
            result.cut += not done
        results.append(result)
        if progress:
            progress(f"{result.checkpoint}: played {episodes} games")
    return results


def format_table(results: list[Evaluation]) -> str:
    """A side-by-side table: one row per checkpoint, the mean, median and best reward and turns."""
    header = (f"{'checkpoint':<12}  {'reward mean':>11}  {'median':>8}  {'max':>8}"
              f"  {'turns mean':>10}  {'median':>7}  {'max':>6}")
    lines = [header, "-" * len(header)]
    for result in results:
        rewards, turns = np.array(result.rewards), np.array(result.turns)
        lines.append(f"{result.checkpoint:<12}  {rewards.mean():>+11.1f}  {np.median(rewards):>+8.1f}"
                     f"  {rewards.max():>+8.1f}  {turns.mean():>10.1f}  {np.median(turns):>7.1f}"
                     f"  {turns.max():>6d}")
    games = len(results[0].rewards) if results else 0
    lines += ["", f"{games} greedy games per checkpoint (no exploration), the same seed for each."]
    cut = [f"{result.checkpoint} ({result.cut})" for result in results if result.cut]
    if cut:
        lines.append(f"Games cut at max_turns_per_episode: {', '.join(cut)}. "
                     "The agent survived that long; its reward there is not final.")
    return "\n".join(lines)
