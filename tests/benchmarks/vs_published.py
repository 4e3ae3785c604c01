"""This package side by side with the published retro-gamer 0.4.0 (PyTorch), on one machine, in one run.

The first run builds a virtual environment OUTSIDE the repository, in
~/.cache/retro-gamer-bench/published/ (or $RETRO_GAMER_BENCH_CACHE), holding torch 2.13.0
and retro-gamer 0.4.0. Torch is installed first and on its own, so that pip takes the CPU
wheel (from $PIP_FIND_LINKS, e.g. /opt/wheels) instead of pulling the CUDA build in as a
dependency of retro-gamer. Later runs reuse it.

Every scenario then runs in fresh processes through the API both packages share
(GameMetadata, DQNTrainer(create_game, metadata, run_dir, preprocessing, **hp),
TrainedPolicy), alternating ours, theirs, ours, theirs, so that a busy neighbour on the
machine slows both sides alike:

  snake MLP      environment steps/s while training, hidden [128, 128], batch 64,
                 train_every 4, uniform replay, 300 episodes        target >= 3.3x
  snake CNN      the same with spatial = true, 30 episodes           target >= 1.2x
  replay memory  bytes the replay memory holds after 50,000 snake turns
                 (tracemalloc, memory_capacity 50,000)                 target <= 0.1x
  get_action     TrainedPolicy.get_action calls/s on live snake games, and turns/s
                 of get_action plus the game's step                    target >= 3.5x
  --help         wall time of `retro-gamer --help`                     target <= 0.2x
  learning       greedy score on tests/games/reach.py after the same number of
                 episodes (equal within noise: it is the same algorithm) and after the
                 same wall-clock budget (higher), several seeds, mean +- standard deviation

Both sides get every hyperparameter explicitly, with the same values. One differs in
unit: the published package refreshes its target network every `target_update_freq`
environment steps, this one every `target_update_freq` learning steps (SPEC §6), so the
published side gets train_every times our value: both refresh every 400 turns on snake.
The published package needs the metadata built by hand (snake has no [tool.retro-gamer]
section); it trains with a tqdm bar unless callbacks are given, so both get no-op callbacks.

    python tests/benchmarks/vs_published.py                  # all of it, about 10 minutes
    python tests/benchmarks/vs_published.py --quick          # short runs, to check the script
    python tests/benchmarks/vs_published.py --only mlp,help  # some scenarios
    python tests/benchmarks/vs_published.py --rounds 3       # more alternations
    python tests/benchmarks/vs_published.py --torch-threads 1  # the published side on one thread
    python tests/benchmarks/vs_published.py --engine plain     # our textbook engine instead

Scenarios: mlp, cnn, replay, policy, help, learning, floor (the physical floors: the
bare game's steps/s and this machine's matrix-product rate against one training step).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TORCH = "torch==2.13.0"
PUBLISHED = "retro-gamer==0.4.0"
# The published package's own dependencies besides torch, all from PyPI.
PUBLISHED_EXTRAS = ["click", "matplotlib", "plotext", "seaborn", "tqdm"]

SNAKE_ACTIONS = ["KEY_RIGHT", "KEY_UP", "KEY_LEFT", "KEY_DOWN"]
SNAKE_CHARACTERS = ["@", "*", ">", "<", "^", "v"]
SNAKE_EXTRAS = ["apple_dx", "apple_dy"]

# The training scenarios' hyperparameters, given to both packages.
SNAKE_HP = dict(
    hidden_sizes=[128, 128], batch_size=64, train_every=4, prioritize_experiences=False,
    memory_capacity=50_000, learning_rate=1e-3, learning_rate_decay=0.995, gamma=0.99,
    epsilon=1.0, epsilon_decay=0.995, epsilon_min=0.05, target_update_freq=100,
    max_turns_per_episode=2000, exploration_turns=200, unknown_character_strategy="ignore",
)
# Small and quick for the learning comparison (tests/test_trainer.py learns reach with these).
# With train_every 1 a learning step is a turn, so target_update_freq means the same on both sides.
REACH_HP = dict(
    hidden_sizes=[64], batch_size=32, train_every=1, prioritize_experiences=False,
    memory_capacity=5000, learning_rate=1e-3, learning_rate_decay=1.0, gamma=0.9,
    epsilon=1.0, epsilon_decay=0.99, epsilon_min=0.05, target_update_freq=100,
    max_turns_per_episode=2000, exploration_turns=200, unknown_character_strategy="ignore",
)


# ============================================================ the published side's environment

def cache_folder() -> Path:
    return Path(os.environ.get("RETRO_GAMER_BENCH_CACHE", Path.home() / ".cache" / "retro-gamer-bench"))


def published_python() -> Path:
    """The interpreter of the environment holding the published package, built on first use."""
    venv = cache_folder() / "published"
    python = venv / "bin" / "python"
    ready = venv / "ready"
    if ready.is_file():
        return python
    print(f"Building {venv} with {TORCH} and {PUBLISHED} (once) ...", flush=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    # torch alone first: from the wheel folder in PIP_FIND_LINKS it is the CPU build, and
    # retro-gamer's own requirement on torch is then already met.
    subprocess.run(pip + [TORCH], check=True)
    subprocess.run(pip + [PUBLISHED, *PUBLISHED_EXTRAS], check=True)
    ready.write_text(f"{TORCH} {PUBLISHED}\n")
    return python


def side_command(side: str) -> tuple[list[str], dict]:
    """(interpreter command, environment) that imports `retro_gamer` from that side."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if side == "ours":
        env["PYTHONPATH"] = str(REPO)
        return [sys.executable], env
    return [str(published_python())], env


def run_worker(side: str, scenario: str, **options) -> dict:
    """Run one scenario in a fresh process of `side`; returns the JSON it printed last."""
    python, env = side_command(side)
    command = python + [str(Path(__file__).resolve()), "--worker", scenario, "--side", side,
                        "--options", json.dumps(options)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"{side} {scenario} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ============================================================ the worker: runs inside either environment

def snake_metadata(spatial: bool):
    from retro_gamer import GameMetadata
    return GameMetadata(actions=list(SNAKE_ACTIONS), reward="reward",
                        character_set=list(SNAKE_CHARACTERS), spatial=spatial)


def side_hyperparameters(side: str, hp: dict) -> dict:
    """hp as the side understands it: the published package counts target_update_freq in turns."""
    hp = dict(hp)
    if side == "theirs":
        hp["target_update_freq"] = hp["target_update_freq"] * hp["train_every"]
    else:
        hp["engine"] = os.environ.get("BENCH_ENGINE", "fast")
    return hp


def seed_everything(side: str, seed: int, hp: dict) -> dict:
    """Seed the random sources; ours takes `seed`, the published package is seeded by hand."""
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed)
    if side == "theirs":
        import torch
        torch.manual_seed(seed)
        if os.environ.get("BENCH_TORCH_THREADS"):
            torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))
        return hp
    return {**hp, "seed": seed}


def no_callback(*_args) -> None:
    """Given as on_episode and on_checkpoint: no progress bar, no printing."""


def new_trainer(side: str, create_game, metadata, run_dir, observe_state, hp, seed):
    from retro_gamer import DQNTrainer
    hp = seed_everything(side, seed, side_hyperparameters(side, hp))
    return DQNTrainer(create_game, metadata, run_dir, preprocessing={"observe_state": list(observe_state)}, **hp)


def worker_training(side: str, options: dict) -> dict:
    """Environment steps per second over a whole train() call (checkpoints included)."""
    from retro.examples.snake import create_game
    hp = {**SNAKE_HP, "training_episodes": options["episodes"]}
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = new_trainer(side, create_game, snake_metadata(options["spatial"]), run_dir,
                              SNAKE_EXTRAS, hp, options["seed"])
        started = time.perf_counter()
        trainer.train(on_checkpoint=no_callback, on_episode=no_callback)
        seconds = time.perf_counter() - started
    return {"steps": trainer.total_steps, "seconds": seconds, "value": trainer.total_steps / seconds}


def worker_replay(side: str, options: dict) -> dict:
    """Bytes held by a replay memory of capacity 50,000 after 50,000 turns of random snake play.

    Each side fills its own memory the way its trainer does: ours with compact
    observations (board codes + extras), the published one with the observation arrays
    its environment returns. tracemalloc counts every allocation, NumPy's arrays included.
    """
    import random
    import tracemalloc

    from retro.examples.snake import create_game
    capacity, turns = options["capacity"], options["turns"]
    random.seed(options["seed"])
    metadata = snake_metadata(spatial=False)
    keys = SNAKE_ACTIONS + [None]
    if side == "ours":
        from retro_gamer.dqn.replay import make_replay_memory
        from retro_gamer.game.environment import GameEnvironment
        env = GameEnvironment(create_game, metadata, observe_state=SNAKE_EXTRAS)
        env.measure_observation()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        memory = make_replay_memory(capacity, env.encoder.n_cells, metadata.extras_size, prioritized=False)
        added = 0
        while added < turns:
            env.new_episode()
            state = env.compact_observation()
            done = False
            while not done and added < turns:
                action = random.randrange(len(keys))
                reward, done = env.advance(keys[action])
                next_state = env.compact_observation()
                memory.add(state, action, reward, next_state, done)
                state, added = next_state, added + 1
    else:
        from retro_gamer.env import GameEnvironment
        from retro_gamer.memory import ReplayMemory
        env = GameEnvironment(create_game, metadata, observe_state=SNAKE_EXTRAS)
        env.reset()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        memory = ReplayMemory(capacity)
        added = 0
        while added < turns:
            state = env.reset()
            done = False
            while not done and added < turns:
                action = random.randrange(len(keys))
                next_state, reward, done = env.step(keys[action])
                memory.push(state, action, reward, next_state, done)
                state, added = next_state, added + 1
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(memory) == min(capacity, turns)
    return {"value": held, "turns": turns}


def worker_policy(side: str, options: dict) -> dict:
    """TrainedPolicy.get_action calls per second on live snake games (only the call is timed)."""
    import random

    from retro.examples.snake import create_game
    from retro.input import ProgrammaticInput
    from retro.views.headless import HeadlessView

    from retro_gamer import TrainedPolicy
    hp = {**SNAKE_HP, "training_episodes": 1, "memory_capacity": 1000}
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = new_trainer(side, create_game, snake_metadata(False), run_dir, SNAKE_EXTRAS, hp, 0)
        trainer.train(on_checkpoint=no_callback, on_episode=no_callback)
        policy = TrainedPolicy(run_dir)

    def new_game():
        game = create_game()
        game.input_source, game.view = ProgrammaticInput(), HeadlessView()
        game.start()
        return game

    random.seed(options["seed"])
    game, timed, with_step, calls = new_game(), 0.0, 0.0, 0
    while calls < options["calls"]:
        started = time.perf_counter()
        key = policy.get_action(game)
        timed += time.perf_counter() - started
        calls += 1
        # A tenth of the turns random, so the games do not all end the same way.
        game.input_source.press(key if random.random() > 0.1 else random.choice(SNAKE_ACTIONS))
        game.step()
        with_step += time.perf_counter() - started
        if not game.playing:
            game = new_game()
    return {"value": calls / timed, "with_step": calls / with_step, "calls": calls}


def reach_game():
    sys.path.insert(0, str(REPO / "tests" / "games"))
    import reach
    return reach


def greedy_score(side: str, trainer, games: int, seed: int) -> float:
    """Mean total reward of the trainer's online network playing greedily on fresh reach games."""
    import random

    import numpy as np
    random.seed(seed)
    if side == "theirs":
        import torch
        model = trainer.model

        def best_action(obs):
            with torch.no_grad():
                return int(model(torch.as_tensor(np.asarray(obs, np.float32))[None]).argmax())
    else:
        network = trainer.agent.online

        def best_action(obs):
            return int(network.forward(np.asarray(obs, np.float32)[None]).argmax())

    keys = list(trainer.metadata.actions) + [None]
    total = 0.0
    for _ in range(games):
        obs, done, turns = trainer.env.reset(), False, 0
        while not done and turns < 100:
            obs, reward, done = trainer.env.step(keys[best_action(obs)])
            total += reward
            turns += 1
    return total / games


class BudgetSpent(Exception):
    """Raised from on_episode to stop training when the wall-clock budget is spent."""


def worker_learning(side: str, options: dict) -> dict:
    """Greedy score on reach after `episodes` episodes, or after `budget` seconds of training."""
    from retro_gamer import GameMetadata
    reach = reach_game()
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    budget = options.get("budget")
    hp = {**REACH_HP, "training_episodes": options["episodes"] if budget is None else 1_000_000}
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = new_trainer(side, reach.create_game, metadata, run_dir, [], hp, options["seed"])
        episodes = [0]
        started = time.perf_counter()

        def on_episode(*_args):
            episodes[0] += 1
            if budget is not None and time.perf_counter() - started >= budget:
                raise BudgetSpent

        try:
            trainer.train(on_checkpoint=no_callback, on_episode=on_episode)
        except BudgetSpent:
            pass
        seconds = time.perf_counter() - started
        score = greedy_score(side, trainer, options["games"], 10_000 + options["seed"])
    return {"value": score, "episodes": episodes[0], "seconds": seconds}


WORKERS = {"training": worker_training, "replay": worker_replay, "policy": worker_policy,
           "learning": worker_learning}


# ============================================================ the driver

def alternate(scenario: str, rounds: int, **options) -> dict[str, list[dict]]:
    """Run the scenario `rounds` times on each side: ours, theirs, ours, theirs, ..."""
    results = {"ours": [], "theirs": []}
    for _ in range(rounds):
        for side in ("ours", "theirs"):
            results[side].append(run_worker(side, scenario, **options))
    return results


def _wall_time(command: list[str], env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, cwd=tempfile.gettempdir())
    return time.perf_counter() - started


def help_wall_time(rounds: int) -> dict[str, list[dict]]:
    """Wall time of `retro-gamer --help` on each side, alternating."""
    ours_script = shutil.which("retro-gamer")
    commands = {
        "ours": [ours_script, "--help"] if ours_script else [sys.executable, "-m", "retro_gamer", "--help"],
        "theirs": [str(published_python().parent / "retro-gamer"), "--help"],
    }
    results = {"ours": [], "theirs": []}
    for _ in range(rounds):
        for side in ("ours", "theirs"):
            results[side].append({"value": _wall_time(commands[side], side_command(side)[1])})
    return results


ROWS = []  # (figure, ours, theirs, ratio, target, met)


def record(figure: str, results: dict, unit: str, target: str, better: str, pick=max, scale=1.0,
           fmt="{:,.0f}") -> None:
    """One row of the table: each side's best (or mean) of its runs, and ours / theirs."""
    ours = pick(r["value"] for r in results["ours"]) * scale
    theirs = pick(r["value"] for r in results["theirs"]) * scale
    ratio = ours / theirs
    limit = float(target.strip("<>=x ") or "nan")
    met = "-" if not target else "yes" if (ratio >= limit if better == "higher" else ratio <= limit) else "NO"
    ROWS.append((figure, f"{fmt.format(ours)} {unit}", f"{fmt.format(theirs)} {unit}", f"{ratio:.2f}x",
                 target or "-", met))
    runs = {side: ", ".join(fmt.format(r["value"] * scale) for r in results[side]) for side in results}
    print(f"  {figure}: ours {runs['ours']} | theirs {runs['theirs']} -> {ratio:.2f}x (target {target})",
          flush=True)


def learning_rows(seeds: list[int], episodes: int, budget: float, games: int) -> None:
    same_episodes = {"ours": [], "theirs": []}
    same_time = {"ours": [], "theirs": []}
    for seed in seeds:
        for side in ("ours", "theirs"):
            same_episodes[side].append(run_worker(side, "learning", seed=seed, episodes=episodes, games=games))
            same_time[side].append(run_worker(side, "learning", seed=seed, episodes=episodes, games=games,
                                              budget=budget))

    def spread(results):
        values = [r["value"] for r in results]
        return f"{statistics.mean(values):+.2f} ± {statistics.stdev(values) if len(values) > 1 else 0:.2f}"

    def episodes_done(results):
        return f"{statistics.mean(r['episodes'] for r in results):,.0f} ep"

    for label, results in ((f"reach, greedy score after {episodes} episodes", same_episodes),
                           (f"reach, greedy score after {budget:g} s of training", same_time)):
        ours = statistics.mean(r["value"] for r in results["ours"])
        theirs = statistics.mean(r["value"] for r in results["theirs"])
        noise = max(statistics.stdev(r["value"] for r in results[side]) if len(seeds) > 1 else 0.0
                    for side in results)
        if results is same_episodes:
            target, met = "equal within noise", abs(ours - theirs) <= noise
        else:
            target, met = "higher", ours > theirs
        ROWS.append((label, f"{spread(results['ours'])} ({episodes_done(results['ours'])})",
                     f"{spread(results['theirs'])} ({episodes_done(results['theirs'])})",
                     f"{ours - theirs:+.2f}", target, "yes" if met else "NO"))
        print(f"  {label}: ours {[round(r['value'], 2) for r in results['ours']]} "
              f"| theirs {[round(r['value'], 2) for r in results['theirs']]}", flush=True)


def training_step_flops(spatial: bool, batch: int) -> int:
    """FLOPs of the matrix products of one training step on snake, as dense products.

    The target network's forward, the online forward, and the online backward (a
    weight gradient and an input gradient per layer, except the first layer's input
    gradient). A convolution's multiply-adds are its weight's size per board cell.
    """
    import numpy as np

    from retro_gamer.dqn.network import build_network
    metadata = snake_metadata(spatial)
    metadata.board_size, metadata.observe_state, metadata.extras_size = (32, 16), list(SNAKE_EXTRAS), 2
    net, _ = build_network(metadata, {"hidden_sizes": SNAKE_HP["hidden_sizes"]}, rng=np.random.default_rng(0))
    cells = 32 * 16
    layer_macs = [w.size * (cells if w.ndim == 4 else 1) for name, w in net.params.items() if name.endswith("weight")]
    forward = sum(layer_macs)
    backward = 2 * forward - layer_macs[0]
    return 2 * batch * (2 * forward + backward)


def matmul_rate() -> float:
    """This machine's float32 matrix-product rate, FLOP/s, best of 10: the shape of the
    CNN's largest product (its im2col columns times the second convolution's filters)."""
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal((32768, 288), dtype=np.float32)
    b = rng.standard_normal((288, 64), dtype=np.float32)
    out = np.empty((32768, 64), np.float32)
    best = float("inf")
    for _ in range(10):
        started = time.perf_counter()
        np.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - started)
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] / best


def floors() -> list[str]:
    """The physical floors: the bare game, and matrix products against one training step."""
    import random

    from retro.examples.snake import create_game
    from retro.input import ProgrammaticInput
    from retro.views.headless import HeadlessView
    random.seed(0)
    keys, turns, started = SNAKE_ACTIONS + [None], 0, time.perf_counter()
    while time.perf_counter() - started < 3.0:
        game = create_game()
        game.input_source, game.view = ProgrammaticInput(), HeadlessView()
        game.start()
        while game.playing:
            game.input_source.press(random.choice(keys))
            game.step()
            turns += 1
    game_rate = turns / (time.perf_counter() - started)
    rate = matmul_rate()
    python_start = min(_wall_time([sys.executable, "-c", "pass"]) for _ in range(5))
    lines = [f"bare snake game, random keys, no learning: {game_rate:,.0f} steps/s",
             f"starting Python (python -c pass): {python_start:.3f} s",
             f"float32 matrix product (32768x288 @ 288x64): {rate / 1e9:.0f} GFLOP/s"]
    batch, train_every = SNAKE_HP["batch_size"], SNAKE_HP["train_every"]
    for spatial, name in ((False, "MLP"), (True, "CNN")):
        flops = training_step_flops(spatial, batch)
        lines.append(f"{name} training step, batch {batch}, as dense products: {flops / 1e9:.3f} GFLOP "
                     f"-> at most {rate * train_every / flops:,.0f} steps/s at train_every {train_every}")
    return lines


def machine() -> list[str]:
    import numpy as np
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = "?"
    try:
        config = np.show_config(mode="dicts")
        info = config["Build Dependencies"]["blas"]
        blas = f"{info.get('name')} {info.get('version')}"
    except Exception:  # an older NumPy without mode="dicts"
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return [f"CPU: {cpu}, {os.cpu_count()} cores; load average at start {load:.1f}",
            f"Python {platform.python_version()}, NumPy {np.__version__} with {blas}; "
            f"published side: {TORCH} (CPU), {PUBLISHED}"]


def print_table() -> None:
    header = ("figure", "ours", "published", "ratio", "target", "met")
    widths = [max(len(str(row[i])) for row in [header, *ROWS]) for i in range(len(header))]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in ROWS:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="short runs, to check that everything works")
    parser.add_argument("--only", default="mlp,cnn,replay,policy,help,learning,floor",
                        help="comma-separated scenarios")
    parser.add_argument("--rounds", type=int, default=2, help="alternations per throughput scenario")
    parser.add_argument("--engine", default="fast", choices=["fast", "plain"], help="our engine (default: fast)")
    parser.add_argument("--torch-threads", type=int,
                        help="torch.set_num_threads(N) on the published side (default: torch's own choice, "
                             "as a user gets it); its OpenMP threads wait for each other on a busy machine")
    args = parser.parse_args()
    if args.torch_threads:
        os.environ["BENCH_TORCH_THREADS"] = str(args.torch_threads)
    if args.worker:
        print(json.dumps(WORKERS[args.worker](args.side, json.loads(args.options))))
        return

    os.environ["BENCH_ENGINE"] = args.engine       # read by the workers of our side
    only = set(args.only.split(","))
    quick = args.quick
    started = time.perf_counter()
    published_python()
    for line in machine():
        print(line)
    if "mlp" in only:
        record("snake MLP training", alternate("training", args.rounds, spatial=False,
                                               episodes=20 if quick else 300, seed=0),
               "steps/s", ">= 3.3x", "higher")
    if "cnn" in only:
        record("snake CNN training", alternate("training", args.rounds, spatial=True,
                                               episodes=3 if quick else 30, seed=0),
               "steps/s", ">= 1.2x", "higher", fmt="{:,.1f}")
    if "replay" in only:
        turns = 2000 if quick else 50_000
        record(f"replay memory after {turns:,} turns", alternate("replay", 1, capacity=50_000, turns=turns,
                                                                 seed=0),
               "MB", "<= 0.1x", "lower", pick=min, scale=1e-6, fmt="{:,.1f}")
    if "policy" in only:
        results = alternate("policy", args.rounds, calls=1000 if quick else 5000, seed=0)
        record("get_action on snake", results, "calls/s", "", "higher")
        record("get_action with the game step", {side: [{**r, "value": r["with_step"]} for r in runs]
                                                 for side, runs in results.items()},
               "turns/s", ">= 3.5x", "higher")
    if "help" in only:
        record("retro-gamer --help", help_wall_time(2 if quick else 5), "s", "<= 0.2x", "lower",
               pick=min, fmt="{:.3f}")
    if "learning" in only:
        learning_rows(seeds=[0, 1] if quick else [0, 1, 2, 3, 4], episodes=50 if quick else 300,
                      budget=0.5 if quick else 2.0, games=50 if quick else 200)
    print_table()
    if "floor" in only:
        print("\nPhysical floors on this machine:")
        for line in floors():
            print(f"  {line}")
    print(f"\n(ran in {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
