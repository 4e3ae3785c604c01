"""Charts of a run's learning curves: drawn with text in the terminal, or saved as a figure.

The terminal charts need no library: each column of a chart is one bar built from the
eighth-height blocks ' ▁▂▃▄▅▆▇█', so a chart three lines high shows 24 levels. When there
are more values than columns, each column shows the mean of its share of the values,
which smooths a noisy per-episode curve the way a moving average would.

``save_figure`` draws the same four curves with matplotlib, an optional extra
(``pip install "retro-gamer-numpy[plot]"``), imported only when a figure is asked for.
"""
from __future__ import annotations

import math
from pathlib import Path

from retro_gamer.errors import RetroGamerError

BLOCKS = " ▁▂▃▄▅▆▇█"
FIGURE_FORMATS = (".png", ".svg", ".pdf")
LABEL_WIDTH = 9  # room for labels such as '-1234.5' beside the y axis


def resample(values: list[float], width: int) -> list[float]:
    """At most ``width`` values: the mean of each of ``width`` consecutive, equal shares.

    NaN values are left out of the means; a share holding only NaN stays NaN.
    """
    if len(values) <= width:
        return list(values)
    columns = []
    for column in range(width):
        share = values[column * len(values) // width:(column + 1) * len(values) // width]
        finite = [v for v in share if not math.isnan(v)]
        columns.append(sum(finite) / len(finite) if finite else math.nan)
    return columns


def bar_heights(values: list[float], levels: int) -> list[int]:
    """Each value as a bar height from 1 (the smallest value) to ``levels`` (the largest).

    A flat series sits at half height; NaN becomes 0, an empty column.
    """
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return [0] * len(values)
    low, high = min(finite), max(finite)
    heights = []
    for value in values:
        if math.isnan(value):
            heights.append(0)
        elif high == low:
            heights.append(max(1, levels // 2))
        else:
            heights.append(1 + round((value - low) / (high - low) * (levels - 1)))
    return heights


def sparkline(values: list[float], width: int) -> str:
    """A one-line chart of ``values``, at most ``width`` characters."""
    return "".join(BLOCKS[h] for h in bar_heights(resample(values, width), len(BLOCKS) - 1))


def chart_rows(values: list[float], width: int, height: int) -> list[str]:
    """A bar chart ``height`` lines high and at most ``width`` columns, top line first."""
    heights = bar_heights(resample(values, width), height * 8)
    rows = []
    for row in reversed(range(height)):
        rows.append("".join(BLOCKS[min(8, max(0, h - row * 8))] for h in heights))
    return rows


def format_value(value: float | None) -> str:
    """A number short enough for an axis label: '-22.3', '0.938', '1.2e+04', '3.0e-05'."""
    if value is None or math.isnan(value):
        return "-"
    size = abs(value)
    if size >= 10000 or 0 < size < 0.001:
        return f"{value:.1e}"
    if size < 1 and value != 0:
        return f"{value:.3f}"
    return f"{value:.1f}"


def labelled_chart(title: str, episodes: list[float], values: list[float],
                   width: int, height: int) -> list[str]:
    """A chart with a title, the largest and smallest value beside the y axis and the
    first and last episode under it. Every line is exactly ``width`` characters."""
    plot_width = max(1, width - LABEL_WIDTH - 1)
    finite = [v for v in values if not math.isnan(v)]
    lines = [_fit(f"{title}  (last {format_value(values[-1])})" if values else title, width)]
    if not finite:
        lines += [_fit(" " * LABEL_WIDTH + "│ no data yet", width)] * height
        return lines + [_fit(" " * LABEL_WIDTH + "└", width), _fit("", width)]
    rows = chart_rows(values, plot_width, height)
    for index, row in enumerate(rows):
        label = ""
        if index == 0:
            label = format_value(max(finite))
        elif index == height - 1:
            label = format_value(min(finite))
        tick = "┤" if label else "│"
        lines.append(_fit(f"{label:>{LABEL_WIDTH}}{tick}{row}", width))
    drawn = len(rows[0])
    lines.append(_fit(" " * LABEL_WIDTH + "└" + "─" * drawn, width))
    first, last = f"{episodes[0]:g}", f"{episodes[-1]:g}"
    middle = max(1, drawn - len(first) - len(last))
    axis = first + ("episode" if middle > 9 else "").center(middle) + last
    lines.append(_fit(" " * (LABEL_WIDTH + 1) + axis, width))
    return lines


def compact_chart(title: str, values: list[float], width: int, height: int) -> list[str]:
    """A small chart for the training display: title and last value, the bars, then the
    range. ``height + 2`` lines, each exactly ``width`` characters."""
    finite = [v for v in values if not math.isnan(v)]
    last = format_value(values[-1]) if values else "-"
    lines = [_fit(f"{title}  {last}", width)]
    if finite:
        # Few checkpoints yet: give each one up to three columns so the bars can be seen.
        repeat = max(1, min(3, width // len(values)))
        widened = [value for value in values for _ in range(repeat)]
        lines += [_fit(row, width) for row in chart_rows(widened, width, height)]
        lines.append(_fit(f"{format_value(min(finite))} .. {format_value(max(finite))}", width))
    else:
        lines += [_fit("", width)] * height + [_fit("", width)]
    return lines


def side_by_side(panels: list[list[str]], gap: int = 2) -> list[str]:
    """Place equally tall panels (lists of equal-width lines) next to each other."""
    spacer = " " * gap
    return [spacer.join(parts).rstrip() for parts in zip(*panels)]


def grid(panels: list[list[str]], per_row: int, gap: int = 2) -> list[str]:
    """Panels ``per_row`` to a line, rows of panels separated by a blank line."""
    lines = []
    for start in range(0, len(panels), per_row):
        if lines:
            lines.append("")
        lines += side_by_side(panels[start:start + per_row], gap)
    return lines


def terminal_plot(curves: list[tuple[str, list[float], list[float]]],
                  width: int, height: int = 8) -> str:
    """Text charts of several curves (title, episodes, values), fitted to ``width``.

    Two charts to a row when the terminal is wide enough, otherwise one under another.
    """
    per_row = 2 if width >= 2 * 40 + 2 else 1
    panel_width = (width - 2 * (per_row - 1)) // per_row
    panels = [labelled_chart(title, episodes, values, panel_width, height)
              for title, episodes, values in curves]
    return "\n".join(grid(panels, per_row))


def learning_curves(run_dir: str | Path) -> tuple[list[tuple[str, list[float], list[float]]], str]:
    """The four curves of a run (reward, steps, loss, epsilon) and where they come from.

    Per episode from episodes.csv when there is one; otherwise the checkpoint averages
    of training.log. Returns ([] , "") when the run has no history yet.
    """
    from retro_gamer.run.records import read_checkpoint_history, read_episodes

    episodes = read_episodes(run_dir)
    if episodes:
        x = episodes["episode"]
        curves = [
            ("total reward per episode", x, episodes["total_reward"]),
            ("steps per episode", x, episodes["steps"]),
            # An episode with no learning step has no loss: leave a gap, not a zero.
            ("average loss", x, [loss if loss > 0 else math.nan for loss in episodes["avg_loss"]]),
            ("epsilon (exploration)", x, episodes["epsilon"]),
        ]
        return curves, f"{len(x)} episodes from episodes.csv"
    history = read_checkpoint_history(run_dir)
    if not history:
        return [], ""
    x = [record["episode"] for record in history]

    def column(key):
        return [math.nan if record[key] is None else record[key] for record in history]

    curves = [
        ("average reward", x, column("avg_reward")),
        ("average steps", x, column("avg_steps")),
        ("average loss", x, column("avg_loss")),
        ("epsilon (exploration)", x, column("epsilon")),
    ]
    return curves, f"{len(x)} checkpoints from training.log"


def save_figure(curves: list[tuple[str, list[float], list[float]]], path: str | Path,
                title: str) -> None:
    """Save the curves as a 2x2 figure (PNG, SVG or PDF, from the file's extension)."""
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise RetroGamerError(
            f"Cannot save a figure as '{path.name}': the file name must end in "
            f"{', '.join(FIGURE_FORMATS)} so the format is clear. "
            f"Example: --output {path.stem or 'curves'}.png"
        )
    try:
        import matplotlib
    except ImportError:
        raise RetroGamerError(
            "Saving a figure needs matplotlib, which is an optional extra of retro-gamer. "
            "Install it with:  pip install \"retro-gamer-numpy[plot]\"  "
            "(or leave out --output to draw the charts in the terminal, which needs nothing more)."
        ) from None
    # Agg draws to files only, so saving works on a server with no display.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 7))
    for axis, (curve_title, episodes, values) in zip(axes.flat, curves):
        axis.plot(episodes, values, linewidth=1)
        axis.set_title(curve_title)
        axis.set_xlabel("episode")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150)
    plt.close(figure)


def _fit(text: str, width: int) -> str:
    return text[:width].ljust(width)
