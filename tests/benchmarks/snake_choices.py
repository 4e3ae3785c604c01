"""What each choice does to learning snake: apples per greedy game after the default 1000 episodes.

Every choice is trained with every default of retro-gamer (1000 episodes, the reference page's
[training] values) but the one it names, on seeds 1, 2 and 3 (`create --seed`); then the final
agent plays 100 greedy games (no exploration, seeded), cut at max_turns_per_episode = 2000, and
the apples it eats are counted (snake adds 50 to its score per apple). Runs go two at a time, in
fresh processes, each with one BLAS thread: two runs of two threads each on two cores made the CNN
fifteen times slower.

    python tests/benchmarks/snake_choices.py                     # every choice, about two hours
    python tests/benchmarks/snake_choices.py --only "egocentric r=5|egocentric r=7" --seeds 1
    python tests/benchmarks/snake_choices.py --episodes 300 --games 20   # a quick look

Prints one row per choice: apples per game (median of the seeds' means, then each seed's mean),
training seconds (mean over seeds); then how the games ended (a wall, the snake's own body,
hunger). docs/choosing-what-the-agent-sees.md explains the tables.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EGO = {"egocentric": True, "egocentric_player": "Snake head"}
CHOICES = {  # name: ([preprocessing] settings, [training] settings), on top of every default
    "whole board, MLP": ({"egocentric": False, "spatial": False}, {}),
    "whole board, CNN": ({"egocentric": False, "spatial": True}, {}),
    "egocentric r=3": ({**EGO, "egocentric_radius": 3}, {}),
    "egocentric r=4": ({**EGO, "egocentric_radius": 4}, {}),
    "egocentric r=5": ({**EGO, "egocentric_radius": 5}, {}),
    "egocentric r=6": ({**EGO, "egocentric_radius": 6}, {}),
    "egocentric r=7": ({**EGO, "egocentric_radius": 7}, {}),
    "egocentric r=8": ({**EGO, "egocentric_radius": 8}, {}),
    "egocentric r=9": ({**EGO, "egocentric_radius": 9}, {}),
    "egocentric r=11": ({**EGO, "egocentric_radius": 11}, {}),
    "egocentric r=5, no observe_state": ({**EGO, "egocentric_radius": 5, "observe_state": []}, {}),
    "egocentric r=5, double DQN": ({**EGO, "egocentric_radius": 5}, {"double_dqn": True}),
    "egocentric r=5, prioritized replay": ({**EGO, "egocentric_radius": 5},
                                           {"prioritize_experiences": True}),
    "egocentric r=5, learning_rate_decay 1.0": ({**EGO, "egocentric_radius": 5},
                                                {"learning_rate_decay": 1.0}),
    "egocentric r=8, plain engine": ({**EGO, "egocentric_radius": 8}, {"engine": "plain"}),
    "egocentric r=8, double DQN": ({**EGO, "egocentric_radius": 8}, {"double_dqn": True}),
    "egocentric r=8, learning_rate_decay 0.998": ({**EGO, "egocentric_radius": 8},
                                                  {"learning_rate_decay": 0.998}),
    "egocentric r=8, epsilon_min 0.01": ({**EGO, "egocentric_radius": 8}, {"epsilon_min": 0.01}),
    "egocentric r=8, epsilon_min 0.01 and learning_rate_decay 0.998": (
        {**EGO, "egocentric_radius": 8}, {"epsilon_min": 0.01, "learning_rate_decay": 0.998}),
}
ENDINGS = ("turned back into its neck", "into its body, a free cell beside", "into its body, boxed in",
           "into a wall", "starved", "cut at the turn limit")


def free_cells_beside(game, cells: dict) -> int:
    """The cells next to the snake's head it could move into this turn: on the board, empty or the apple."""
    x, y = game.agents_by_name["Snake head"].position
    apple = game.agents_by_name["Apple"].position
    return sum(game.on_board(cell) and (cell not in cells or cell == apple)
               for cell in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)))


def ending(game, free_beside: int) -> str:
    """How a game that ended was lost (one of ENDINGS); free_beside: free_cells_beside before the turn."""
    if game.state["energy"] <= 0:
        return "starved"  # snake ends the game after 150 turns without an apple
    head = game.agents_by_name["Snake head"]
    tried = (head.position[0] + head.direction[0], head.position[1] + head.direction[1])
    if not game.on_board(tried):
        return "into a wall"
    if not free_beside:
        return "into its body, boxed in"
    neck = head.next_segment.position if head.next_segment else None
    return "turned back into its neck" if tried == neck else "into its body, a free cell beside"


def child(name: str, seed: int, episodes: int, games: int) -> dict:
    """Train one choice on one seed, then count the apples of greedy games."""
    sys.path.insert(0, str(REPO))
    import random

    from retro.examples.snake import create_game

    from retro_gamer import DQNTrainer, GameMetadata, TrainedPolicy
    from retro_gamer.game.environment import GameEnvironment
    from retro_gamer.game.observation import occupied_cells

    preprocessing, training = CHOICES[name]
    with tempfile.TemporaryDirectory() as run_dir:
        metadata = GameMetadata.from_pyproject("retro.examples.snake")
        trainer = DQNTrainer(create_game, metadata, run_dir, preprocessing=preprocessing,
                             training_episodes=episodes, seed=seed, **training)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
        policy = TrainedPolicy(run_dir)
    env = GameEnvironment(create_game, policy.metadata)
    random.seed(1000 + seed)
    apples, endings = [], dict.fromkeys(ENDINGS, 0)
    for _ in range(games):
        env.new_episode()
        for _ in range(trainer.hp["max_turns_per_episode"]):
            free_beside = free_cells_beside(env.game, occupied_cells(env.game))
            _, done = env.advance(policy.get_action(env.game))
            if done:
                endings[ending(env.game, free_beside)] += 1
                break
        else:
            endings["cut at the turn limit"] += 1
        apples.append(env.game.state["score"] / 50)
    return {"apples": statistics.mean(apples), "seconds": seconds, "endings": endings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="choice names separated by | (default: all)")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seed, args.episodes, args.games)))
        return
    names = [n for n in CHOICES if not args.only or n in args.only.split("|")]
    seeds = [int(s) for s in args.seeds.split(",")]

    one_thread = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

    def run(job):
        name, seed = job
        out = subprocess.run([sys.executable, __file__, "--child", name, "--seed", str(seed), "--episodes",
                              str(args.episodes), "--games", str(args.games)], capture_output=True, text=True,
                             env=one_thread if args.parallel > 1 else None)
        if out.returncode:
            raise RuntimeError(f"{name} seed {seed}: {out.stderr[-2000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"  {name:<42} seed {seed}: {result['apples']:6.2f} apples/game, {result['seconds']:6.0f} s",
              flush=True)
        return name, seed, result

    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(run, [(name, seed) for name in names for seed in seeds]))
    print(f"\n| choice | apples per greedy game (median; seeds {args.seeds}) | training seconds |")
    print("|---|---|---|")
    for name in names:
        rows = [r for n, _, r in results if n == name]
        apples = [r["apples"] for r in rows]
        per_seed = ", ".join(f"{a:.1f}" for a in apples)
        print(f"| {name} | {statistics.median(apples):.1f} ({per_seed}) | "
              f"{statistics.mean(r['seconds'] for r in rows):.0f} |")
    print(f"\nHow the games ended, in % of the {args.games} games of every seed:\n")
    print("| choice | " + " | ".join(ENDINGS) + " |")
    print("|---" * (len(ENDINGS) + 1) + "|")
    for name in names:
        rows = [r for n, _, r in results if n == name]
        shares = [100 * sum(r["endings"][e] for r in rows) / (args.games * len(rows)) for e in ENDINGS]
        print(f"| {name} | " + " | ".join(f"{share:.0f}" for share in shares) + " |")


if __name__ == "__main__":
    main()
