"""Where the time of a real training run goes: the snake MLP run of train_throughput.py,
with a stopwatch around each part of a turn and of a learning step.

Each part is a public method or function the trainer calls (choose_action, the game's
turn, the replay memory's add and sample, the forward and backward passes, clipping,
Adam, checkpoints); the script wraps each one with a timer, so the figures are those of
the real loop, with its cold caches, not of a part run alone in a tight loop. The
timers themselves cost about a microsecond per call.

    python tests/benchmarks/where_time_goes.py [EPISODES]         the MLP run (default 300 episodes)
    python tests/benchmarks/where_time_goes.py --cnn [EPISODES]   the CNN run (default 30 episodes)
"""
from __future__ import annotations

import sys
import tempfile
import time
from collections import defaultdict

import retro_gamer.trainer as trainer_module
from train_throughput import snake_trainer

CNN = "--cnn" in sys.argv[1:]
NUMBERS = [int(word) for word in sys.argv[1:] if word.isdigit()]
EPISODES = NUMBERS[0] if NUMBERS else (30 if CNN else 300)


def main() -> None:
    seconds, calls = defaultdict(float), defaultdict(int)
    learning = [False]      # the parts of a learning step are timed inside _learn only

    def timed(owner, name: str, label: str, in_learning_step: bool = False) -> None:
        function = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if in_learning_step and not learning[0]:
                return function(*args, **kwargs)      # e.g. the CNN's greedy move calls forward_codes
            learning[0] = learning[0] or name == "_learn"
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[label] += time.perf_counter() - started
                calls[label] += 1
                if name == "_learn":
                    learning[0] = False
        setattr(owner, name, wrapper)

    with tempfile.TemporaryDirectory() as run_dir:
        trainer = snake_trainer(run_dir, spatial=CNN, episodes=EPISODES)
        per_turn = [(trainer, "choose_action", "choosing the action (epsilon-greedy)"),
                    (trainer.online_network, "forward_one", "  of which: the greedy move's forward pass"),
                    (trainer.env, "advance", "the game's turn"),
                    (trainer.env, "compact_observation", "encoding the board and extras"),
                    (trainer.memory, "add", "storing the turn in the replay memory"),
                    (trainer, "_checkpoint", "checkpoints (every 100 episodes)"),
                    (trainer, "_learn", "learning (every train_every turns)")]
        per_step = [(trainer.memory, "sample", "replay sample"),
                    (trainer.target_network, "forward_codes", "target network forward (next states)"),
                    (trainer.online_network, "forward_codes", "online network forward"),
                    (trainer.online_network, "backward", "backward pass"),
                    (trainer_module, "clip_grad_norm", "gradient clipping"),
                    (trainer.optimizer, "step", "Adam step")]
        for owner, name, label in per_turn:
            timed(owner, name, label)
        for owner, name, label in per_step:
            timed(owner, name, label, in_learning_step=True)
        started = time.perf_counter()
        trainer.train(on_episode=lambda stats: None)
        elapsed = time.perf_counter() - started

    turns, steps = trainer.total_steps, trainer.train_steps
    print(f"snake {'CNN' if CNN else 'MLP'}, {EPISODES} episodes: {turns:,} turns, {steps:,} learning steps in {elapsed:.2f} s "
          f"= {turns / elapsed:,.0f} steps/s\n")
    print(f"{'per turn':<44}{'us/turn':>9}{'us/call':>10}")
    accounted = 0.0
    for _, _, label in per_turn:
        if not label.startswith(" "):
            accounted += seconds[label]
        print(f"{label:<44}{seconds[label] / turns * 1e6:9.1f}{seconds[label] / max(calls[label], 1) * 1e6:10.1f}")
    print(f"{'the rest of the loop':<44}{(elapsed - accounted) / turns * 1e6:9.1f}")
    print(f"\n{'per learning step':<44}{'us/step':>9}")
    learn = seconds["learning (every train_every turns)"]
    for _, _, label in per_step:
        print(f"{label:<44}{seconds[label] / steps * 1e6:9.1f}")
    rest = learn - sum(seconds[label] for _, _, label in per_step)
    print(f"{'the rest (TD target, Huber loss, ...)':<44}{rest / steps * 1e6:9.1f}")
    print(f"{'whole learning step':<44}{learn / steps * 1e6:9.1f}")


if __name__ == "__main__":
    main()
