"""Environment steps per second while training snake, and the replay memory's size.

Trains through the public API, DQNTrainer(create_game, metadata, run_dir, ...).train(),
so everything a real run does is counted: playing, choosing actions, storing turns,
learning every train_every turns and writing a checkpoint every 100 episodes.
Hyperparameters: hidden [128, 128], batch 64, train_every 4, uniform replay,
memory_capacity 50,000; first with the MLP, then with the CNN (spatial = true).

    python tests/benchmarks/train_throughput.py [MLP_EPISODES [CNN_EPISODES]]   (default 300 and 30)

The published PyTorch package reaches about 1,100 steps/s with the MLP and 74 with the
CNN on this kind of machine; tests/benchmarks/vs_published.py measures both side by side.
"""
import sys
import tempfile
import time

from retro.examples.snake import create_game

from retro_gamer import DQNTrainer, GameMetadata
from retro_gamer.replay import make_replay_memory

HYPERPARAMETERS = dict(hidden_sizes=[128, 128], batch_size=64, train_every=4, prioritize_experiences=False,
                       memory_capacity=50_000, seed=0)


def snake_trainer(run_dir: str, spatial: bool, episodes: int) -> DQNTrainer:
    metadata = GameMetadata(actions=["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"], reward="reward",
                            character_set=["@", "*", ">", "<", "^", "v"], spatial=spatial)
    return DQNTrainer(create_game, metadata, run_dir, preprocessing={"observe_state": ["apple_dx", "apple_dy"]},
                      training_episodes=episodes, **HYPERPARAMETERS)


def steps_per_second(spatial: bool, episodes: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = snake_trainer(run_dir, spatial, episodes)
        started = time.perf_counter()
        trainer.train(on_episode=lambda stats: None)
        return trainer.total_steps / (time.perf_counter() - started), trainer.total_steps


def main() -> None:
    mlp_episodes = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    cnn_episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    for name, spatial, episodes in (("MLP", False, mlp_episodes), ("CNN", True, cnn_episodes)):
        rate, steps = steps_per_second(spatial, episodes)
        print(f"snake {name} training: {rate:8,.1f} environment steps/s  ({steps:,} steps in {episodes} episodes)")
    # A snake board is 32 x 16 = 512 cells, one byte each, plus 2 extras (apple_dx, apple_dy).
    memory = make_replay_memory(50_000, 512, 2, prioritized=False)
    print(f"replay memory at capacity 50,000: {memory.nbytes / 1e6:.1f} MB "
          f"({memory.nbytes / 50_000:,.0f} bytes per turn)")


if __name__ == "__main__":
    main()
