"""How long `retro-gamer --help` takes, wall clock (best of N runs).

The command line imports NumPy, blessed, retro-games and the trainer only inside the
command that needs them, so asking for help should cost little more than starting
Python itself (printed alongside for comparison). The published package takes ~1.3 s.

    python tests/benchmarks/cli_startup.py [N]
"""
import shutil
import subprocess
import sys
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10


def best_wall_time(command: list[str]) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    script = shutil.which("retro-gamer")
    command = [script, "--help"] if script else [
        sys.executable, "-c", "import sys; from retro_gamer.cli import main; sys.exit(main())", "--help"]
    help_time = best_wall_time(command)
    python_time = best_wall_time([sys.executable, "-c", "pass"])
    print(f"retro-gamer --help : {help_time * 1000:6.0f} ms  (best of {RUNS}; {' '.join(command[:1])})")
    print(f"python -c pass     : {python_time * 1000:6.0f} ms  (the floor: starting Python)")
    print(f"retro-gamer's own  : {(help_time - python_time) * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
