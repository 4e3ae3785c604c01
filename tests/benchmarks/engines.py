"""The two engines side by side, and what each trick of the fast engine buys.

Snake training steps per second (DQNTrainer.train: playing, storing, learning every 4
turns, a checkpoint every 100 episodes) for the plain engine (retro_gamer/dqn/ alone), the
fast engine, and the fast engine with one trick switched off at a time: the MLP and the CNN
on the whole board, and the MLP on the built-in description's window around the head.
Every variant runs in a fresh process, the variants alternating round after round so that
a busy neighbour slows them alike; the best round of each counts.

    python tests/benchmarks/engines.py                 # 3 rounds, MLP 300 episodes, CNN 20
    python tests/benchmarks/engines.py --rounds 1 --mlp-episodes 100 --cnn-episodes 5
    python tests/benchmarks/engines.py --only "MLP fast|BLAS" --busy 1   # one core taken by another job

Hyperparameters: hidden [128, 128], batch 64, train_every 4, uniform replay, memory 50,000,
seed 0 (every variant plays the same games). The tricks:

  one-hot rows     MLP: the first layer as a sum of the occupied cells' weight rows,
                   forward and backward (off: one_hot() and a dense product)
  sparse conv      CNN: convolutions near the occupied cells only (off: dqn/layers.py's im2col)
  flat Adam        Adam and clipping over one flat vector in cache-sized blocks (off: dqn/optim.py's)
  one BLAS thread  MLP: NumPy's matrix products on one thread (off: all cores)
  dense walls      window MLP: the off-board channel, most of a window's ones, as one dense
                   product instead of a gathered row per wall (off: gathered like the rest)

The fast MLP's path for a single board buys nothing measurable here (greedy moves are a
small part of training) but makes TrainedPolicy.get_action much faster:
tests/benchmarks/policy.py measures it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HP = dict(hidden_sizes=[128, 128], batch_size=64, train_every=4, prioritize_experiences=False,
          memory_capacity=50_000, seed=0)
VARIANTS = {  # name: (network, engine, tricks switched off)
    "MLP plain": ("MLP", "plain", ()),
    "MLP fast": ("MLP", "fast", ()),
    "MLP fast without one-hot rows": ("MLP", "fast", ("one-hot rows",)),
    "MLP fast without flat Adam": ("MLP", "fast", ("flat Adam",)),
    "MLP fast without one BLAS thread": ("MLP", "fast", ("one BLAS thread",)),
    "window MLP plain": ("window MLP", "plain", ()),
    "window MLP fast": ("window MLP", "fast", ()),
    "window MLP fast without dense walls": ("window MLP", "fast", ("dense walls",)),
    "CNN plain": ("CNN", "plain", ()),
    "CNN fast": ("CNN", "fast", ()),
    "CNN fast without sparse conv": ("CNN", "fast", ("sparse conv",)),
    "CNN fast without flat Adam": ("CNN", "fast", ("flat Adam",)),
}


def switch_off(trick: str) -> None:
    """Replace one fast piece by its plain twin, in this process."""
    from retro_gamer import dqn, fast
    from retro_gamer.dqn.network import QNetwork
    from retro_gamer.fast import network, sparse_conv

    if trick == "one-hot rows":
        network.FastMLP.forward_codes = QNetwork.forward_codes
    elif trick == "sparse conv":
        sparse_conv.MAX_ACTIVE_SHARE = -1.0
    elif trick == "flat Adam":
        fast.Adam, fast.clip_grad_norm = dqn.Adam, dqn.clip_grad_norm
    elif trick == "one BLAS thread":
        fast.blas.THREADS = None
    elif trick == "dense walls":
        network.DENSE_WALLS = False
    else:
        raise ValueError(trick)


def child(name: str, episodes: int) -> None:
    sys.path.insert(0, str(REPO))
    from retro.examples.snake import create_game

    from retro_gamer import DQNTrainer, GameMetadata

    net, engine, tricks = VARIANTS[name]
    for trick in tricks:
        switch_off(trick)
    metadata = GameMetadata(actions=["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"], reward="reward",
                            character_set=["@", "*", ">", "<", "^", "v"], spatial=net == "CNN")
    if net == "window MLP":                # the built-in description: the 17 x 17 window around the head
        metadata = GameMetadata.from_pyproject("retro.examples.snake")
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = DQNTrainer(create_game, metadata, run_dir, preprocessing={"observe_state": ["apple_dx", "apple_dy"]},
                             training_episodes=episodes, engine=engine, **HP)
        started = time.perf_counter()
        trainer.train(on_episode=lambda stats: None)
        print(json.dumps({"rate": trainer.total_steps / (time.perf_counter() - started), "steps": trainer.total_steps}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mlp-episodes", type=int, default=300)
    parser.add_argument("--cnn-episodes", type=int, default=20)
    parser.add_argument("--only", default="", help="variants: whole names, or comma-separated words their name contains; '|' "
                             "between alternatives, e.g. 'MLP fast|BLAS' or 'CNN'")
    parser.add_argument("--busy", type=int, default=0,
                        help="keep N other processes spinning meanwhile, as a shared machine does")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--episodes", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.episodes)
        return
    choices = args.only.split("|")      # a variant's whole name, or words its name must contain
    names = [n for n in VARIANTS if not args.only or any(
        n == c or (c not in VARIANTS and all(word in n for word in c.split(","))) for c in choices)]
    best: dict[str, float] = {}
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    for round_ in range(args.rounds):
        for name in names:
            episodes = args.mlp_episodes if VARIANTS[name][0] == "MLP" else args.cnn_episodes
            out = subprocess.run([sys.executable, __file__, "--child", name, "--episodes", str(episodes)],
                                 capture_output=True, text=True, check=True).stdout
            rate = json.loads(out.strip().splitlines()[-1])["rate"]
            best[name] = max(best.get(name, 0.0), rate)
            print(f"round {round_ + 1}  {name:<36} {rate:9,.1f} steps/s", flush=True)
    for spinner in spinners:
        spinner.kill()
    print("\n| variant | steps/s (best of %d) | vs fast | what the trick buys |" % args.rounds)
    print("|---|---|---|---|")
    for name in names:
        net = VARIANTS[name][0]
        fast = best.get(f"{net} fast")
        ratio = f"{best[name] / fast:.2f}x" if fast else "-"
        buys = f"{fast / best[name] - 1:+.0%}" if fast and VARIANTS[name][2] else ""
        print(f"| {name} | {best[name]:,.1f} | {ratio} | {buys} |")


if __name__ == "__main__":
    main()
