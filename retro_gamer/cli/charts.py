"""Charts of learning curves, drawn with text (by `plot` and the training display) or saved as a figure.

A text chart's column is a bar of eighth-height blocks, so three lines show 24 levels; with more values
than columns, a column shows the mean of its share, smoothing a noisy curve like a moving average.
"""
import math
from pathlib import Path

from retro_gamer.errors import RetroGamerError
from retro_gamer.run.records import read_checkpoint_history, read_episodes

BLOCKS = " ▁▂▃▄▅▆▇█"
FIGURE_FORMATS = (".png", ".svg", ".pdf")
LABEL_WIDTH = 9  # room for labels such as '-1234.5' beside the y axis
CHECKPOINT_FIGURES = ("avg_reward", "avg_steps", "avg_loss", "epsilon")  # keys of a checkpoint record
MARKS, OVERLAP = "●○▲△■□◆◇★☆", "+"  # one mark per run in an overlay; + where runs meet
Curve = tuple[str, list[float], list[float]]  # a chart's title, its episodes (x) and its values (y)


def resample(values: list[float], width: int) -> list[float]:
    """At most ``width`` values: the mean of each of ``width`` equal shares (NaN left out; all NaN: NaN)."""
    if len(values) <= width:
        return list(values)
    bounds = [column * len(values) // width for column in range(width + 1)]
    shares = [[v for v in values[start:end] if not math.isnan(v)] for start, end in zip(bounds, bounds[1:])]
    return [sum(share) / len(share) if share else math.nan for share in shares]


def bar_heights(values: list[float], levels: int) -> list[int]:
    """Bar heights: 1 for the smallest value to ``levels`` for the largest; half if all equal; 0 for NaN."""
    finite = [v for v in values if not math.isnan(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    if high == low:
        return [0 if math.isnan(v) else max(1, levels // 2) for v in values]
    return [0 if math.isnan(v) else 1 + round((v - low) / (high - low) * (levels - 1)) for v in values]


def chart_rows(values: list[float], width: int, height: int) -> list[str]:
    """A bar chart ``height`` lines high and at most ``width`` columns, top line first."""
    heights = bar_heights(resample(values, width), height * 8)
    return ["".join(BLOCKS[min(8, max(0, h - row * 8))] for h in heights)
            for row in reversed(range(height))]


def format_value(value: float | None) -> str:
    """A number short enough for an axis label: '-22.3', '0.938', '1.2e+04', '3.0e-05'; '-' for none."""
    if value is None or math.isnan(value):
        return "-"
    if abs(value) >= 10000 or 0 < abs(value) < 0.001:
        return f"{value:.1e}"
    return f"{value:.3f}" if 0 < abs(value) < 1 else f"{value:.1f}"


def labelled_chart(title: str, episodes: list, values: list[float], width: int, height: int) -> list[str]:
    """A chart: the title and the last value, the largest and smallest value beside the y axis, the
    first and last episode under it; ``height + 3`` lines, each exactly ``width`` characters."""
    finite = [v for v in values if not math.isnan(v)]
    title = f"{title}  (last {format_value(values[-1] if values else None)})"
    if not finite:
        return _framed(title, [" no data yet"] * height, None, None, width)
    columns = max(1, width - LABEL_WIDTH - 1)
    repeat = max(1, min(3, columns // len(values)))  # few values yet: up to 3 columns each, to be seen
    rows = chart_rows([value for value in values for _ in range(repeat)], columns, height)
    return _framed(title, rows, (min(finite), max(finite)), (episodes[0], episodes[-1]), width)


def overlay_chart(title: str, runs: list, width: int, height: int) -> list[str]:
    """Several runs' curves on one chart, as labelled_chart lays it out: runs are (mark, episodes,
    values); a run's values are averaged per column and marked there, + where two runs meet. The y
    axis spans every run, the x axis the longest."""
    finite = [v for _, _, values in runs for v in values if not math.isnan(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    columns, last = max(1, width - LABEL_WIDTH - 1), max((x[-1] for _, x, _ in runs if x), default=1)
    grid = [[" "] * columns for _ in range(height)]
    for mark, episodes, values in runs:
        shares: dict[int, list[float]] = {}
        for episode, value in zip(episodes, values):
            if not math.isnan(value):
                shares.setdefault(min(columns - 1, int(episode / last * columns)), []).append(value)
        for column, share in shares.items():
            level = (sum(share) / len(share) - low) / (high - low) if high > low else 0.5
            row = grid[height - 1 - round(level * (height - 1))]
            row[column] = mark if row[column] in (" ", mark) else OVERLAP
    return _framed(title, ["".join(row) for row in grid], (low, high) if finite else None, (1, last), width)


def _framed(title: str, rows: list[str], y_range, x_range, width: int) -> list[str]:
    """A chart's ``rows`` under its title, the y axis labelled with y_range (low, high), the x axis with
    x_range (first and last episode), either None when there is no data; lines of ``width`` characters."""
    labels = {len(rows) - 1: format_value(y_range[0]), 0: format_value(y_range[1])} if y_range else {}
    lines = [title] + [f"{labels.get(i, ''):>{LABEL_WIDTH}}{'┤' if i in labels else '│'}{row}"
                       for i, row in enumerate(rows)]
    first, last = (f"{episode:g}" for episode in x_range) if x_range else ("", "")
    middle = max(1, len(rows[0]) - len(first) - len(last))
    lines.append(" " * LABEL_WIDTH + "└" + "─" * len(rows[0]))
    lines.append(" " * LABEL_WIDTH + " " + first + ("episode" if middle > 9 else "").center(middle) + last)
    return [line[:width].ljust(width) for line in lines]


def chart_grid(curves: list, width: int, height: int, min_width: int, draw=labelled_chart) -> list[str]:
    """The charts of the curves (drawn by ``draw``), 4, 2 or 1 to a row: as many as get ``min_width``
    columns each."""
    per_row = next(n for n in (4, 2, 1) if n * min_width + 2 * (n - 1) <= width or n == 1)
    panel_width = (width - 2 * (per_row - 1)) // per_row
    panels = [draw(*curve, panel_width, height) for curve in curves]
    lines = []
    for start in range(0, len(panels), per_row):
        lines += [""] if lines else []
        lines += ["  ".join(parts).rstrip() for parts in zip(*panels[start:start + per_row])]
    return lines


def checkpoint_curves(history: list[dict]) -> list[Curve]:
    """The curves of the checkpoint averages (records of training.log's lines), one point per
    checkpoint; a figure missing from a hand-edited line is a gap (NaN)."""
    episodes = [record["episode"] for record in history]
    return [(key.replace("_", " "), episodes,
             [math.nan if record.get(key) is None else record[key] for record in history])
            for key in CHECKPOINT_FIGURES]


def learning_curves(run_dir: str | Path) -> tuple[list[Curve], str]:
    """A run's four curves (reward, steps, loss, epsilon) and where they come from: per episode from
    episodes.csv when there is one, else the checkpoint averages of training.log; ([], "") if neither."""
    episodes = read_episodes(run_dir)
    if not episodes:
        if history := read_checkpoint_history(run_dir):
            return checkpoint_curves(history), f"{len(history)} checkpoints from training.log"
        return [], ""
    # An episode with no learning step has no loss: leave a gap, not a zero.
    loss = [value if value > 0 else math.nan for value in episodes["avg_loss"]]
    titles = ("total reward per episode", "steps per episode", "average loss", "epsilon (exploration)")
    columns = (episodes["total_reward"], episodes["steps"], loss, episodes["epsilon"])
    source = f"{len(episodes['episode'])} episodes from episodes.csv"
    return [(title, episodes["episode"], values) for title, values in zip(titles, columns)], source


def save_figure(runs: list[tuple[str, list[Curve]]], path: str | Path, title: str) -> None:
    """Save the curves of one or more runs, (label, curves) each, as a 2x2 figure (PNG, SVG or PDF,
    from the file's extension); several runs share each chart, with a legend."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise RetroGamerError(f"Cannot save a figure as '{path.name}': the file name must end in "
                              f"{', '.join(FIGURE_FORMATS)} so the format is clear. Example: --output "
                              f"{path.stem or 'curves'}.png")
    try:  # matplotlib is an optional extra, imported only when a figure is asked for
        from matplotlib.figure import Figure  # a Figure of its own needs no display and no pyplot
    except ImportError:
        raise RetroGamerError("Saving a figure needs matplotlib, an optional extra of retro-gamer. Install "
                              "it with:  pip install \"retro-gamer-numpy[plot]\"  (or leave out --output to "
                              "draw the charts in the terminal, which needs nothing more).") from None
    figure = Figure(figsize=(12, 7), layout="tight")
    for k, axis in enumerate(figure.subplots(2, 2).flat):
        for label, curves in runs:
            axis.plot(curves[k][1], curves[k][2], linewidth=1, label=label)
        axis.set(title=runs[0][1][k][0], xlabel="episode")
        axis.grid(alpha=0.3)
        if len(runs) > 1:
            axis.legend(fontsize="small")
    figure.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
