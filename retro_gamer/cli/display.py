"""The training display: how far training has gone, and how learning is going.

In a terminal it is a small live dashboard, redrawn in place::

    avg reward  8.7          avg steps  210.0        avg loss  5.4           epsilon  0.724
          ▃▃▃███            ▃▃▃███          ███                   ███
       ▅▅▅██████         ▅▅▅██████          ██████▅▅▅             ██████▅▅▅
    ▁▁▁█████████      ▁▁▁█████████          ████████████▁▁▁       ████████████▁▁▁
    -31.4 .. 8.7         47.0 .. 210.0      5.4 .. 7.2            0.724 .. 0.938
    512/1000 episodes ▕██████████████▍             ▏  51%  1m10s elapsed  1m07s left  7.3 ep/s
    last episode 512:  reward 12.0  steps 230  epsilon 0.724  loss 5.1

The charts show the checkpoint averages of training.log (one bar per checkpoint, so a
resumed run shows its whole history); the bar under them moves every episode. When the
output is not a terminal (CI, a pipe, a file) the display prints one plain line per
checkpoint instead, the same line training.log gets.
"""
from __future__ import annotations

import sys
from time import perf_counter

from retro_gamer.cli.charts import compact_chart, format_value, grid
from retro_gamer.run.records import format_duration

START_MESSAGE = "Press Ctrl-C to stop; progress is saved."
CHART_HEIGHT = 3
REDRAW_SECONDS = 0.1  # fast games finish hundreds of episodes a second; redraw ~10 times a second
CHARTS = (  # (title, key of a checkpoint record)
    ("avg reward", "avg_reward"),
    ("avg steps", "avg_steps"),
    ("avg loss", "avg_loss"),
    ("epsilon", "epsilon"),
)


class TrainingDisplay:
    """Shows a training session's progress.

    total_episodes: the run's training_episodes; start_episode: the first episode this
    session plays (so episodes before it count as done); history: the checkpoint records
    of earlier sessions (runlog.read_checkpoint_history). Pass ``on_episode`` and
    ``on_checkpoint`` to DQNTrainer.train, call ``start()`` before and ``close()`` after.
    """

    def __init__(self, total_episodes: int, start_episode: int, history=(),
                 stream=None, terminal=None):
        self.total_episodes = total_episodes
        self.start_episode = start_episode
        self.episodes_done = start_episode - 1
        self.history = list(history)
        self.last_episode = None
        self.stream = stream if stream is not None else sys.stdout
        self.live = terminal is not None or _is_terminal(self.stream)
        if self.live and terminal is None:
            from blessed import Terminal
            terminal = Terminal(stream=self.stream)
        self.terminal = terminal
        self._started = perf_counter()
        self._lines_on_screen = 0
        self._last_draw = 0.0

    # --- the trainer's callbacks -------------------------------------------------------

    def start(self) -> None:
        self._write(START_MESSAGE + "\n")
        self._started = perf_counter()
        if self.live:
            self._draw_all()

    def on_episode(self, stats: dict) -> None:
        """stats: episode, total_reward, steps, epsilon, avg_loss, seconds."""
        self.last_episode = stats
        self.episodes_done = stats["episode"]
        if self.live:
            now = perf_counter()
            if now - self._last_draw >= REDRAW_SECONDS or self.episodes_done >= self.total_episodes:
                self._draw_progress()

    def on_checkpoint(self, stats: dict) -> None:
        """stats: name, episode, avg_reward, avg_steps, epsilon, avg_loss, line, ..."""
        self.history.append(stats)
        self.episodes_done = max(self.episodes_done, stats["episode"])
        if self.live:
            self._draw_all()
        else:
            self._write(stats["line"] + "\n")

    def close(self) -> None:
        """Leave the cursor on a fresh line below the display."""
        if self.live and self._lines_on_screen:
            self._draw_all()
            self._write("\n")
            self._lines_on_screen = 0

    # --- what is drawn ----------------------------------------------------------------

    def chart_lines(self, width: int) -> list[str]:
        """The four checkpoint charts, four across on a wide terminal, else two by two."""
        if not self.history:
            waiting = "Charts of the checkpoint averages appear here after the first checkpoint."
            return [waiting[:width]]
        across = 4 if width >= 4 * 20 + 3 * 2 else 2
        panel_width = (width - 2 * (across - 1)) // across
        if panel_width < 8:
            return []
        panels = []
        for title, key in CHARTS:
            values = [_as_float(record.get(key)) for record in self.history]
            panels.append(compact_chart(title, values, panel_width, CHART_HEIGHT))
        return grid(panels, across)

    def progress_lines(self, width: int) -> list[str]:
        """Two lines: the bar with episodes done/total, percentage, elapsed and remaining
        time and the rate; then the last episode's reward, epsilon and loss."""
        done, total = self.episodes_done, self.total_episodes
        fraction = done / total if total else 1.0
        elapsed = perf_counter() - self._started
        played = done - (self.start_episode - 1)
        rate = played / elapsed if elapsed > 0 and played > 0 else 0.0
        left = format_duration((total - done) / rate) if rate else "--"
        speed = f"{rate:.1f} ep/s" if rate >= 1 or not rate else f"{rate * 60:.1f} ep/min"
        fields = {"percent": f"{fraction:4.0%}", "elapsed": f"{format_duration(elapsed)} elapsed",
                  "left": f"{left} left", "speed": speed}
        head = f"{done}/{total} episodes"
        # On a narrow terminal, give up the least useful figures before the bar gets short.
        for spare in ("elapsed", "speed", "left"):
            if len(head) + len("  ".join(fields.values())) + 4 + 10 <= width:
                break
            del fields[spare]
        tail = "  ".join(fields.values())
        bar_width = max(10, width - len(head) - len(tail) - 4)
        bar_line = f"{head} ▕{_bar(fraction, bar_width)}▏ {tail}"[:width]
        if self.last_episode is None:
            return [bar_line, ""]
        last = self.last_episode
        figures = (
            f"last episode {last['episode']}:  reward {format_value(last['total_reward'])}"
            f"  steps {last['steps']}  epsilon {last['epsilon']:.3f}"
            f"  loss {format_value(_as_float(last.get('avg_loss')))}"
        )
        return [bar_line, figures[:width]]

    # --- drawing in place ---------------------------------------------------------------

    def _width(self) -> int:
        # One column short of the edge: writing the last column makes some terminals wrap.
        return max(20, self.terminal.width - 1)

    def _draw_all(self) -> None:
        width = self._width()
        lines = self.chart_lines(width) + self.progress_lines(width)
        self._rewind()
        clear = self.terminal.clear_eol
        self._write("\n".join(line + clear for line in lines))
        self._lines_on_screen = len(lines)
        self._last_draw = perf_counter()

    def _draw_progress(self) -> None:
        if not self._lines_on_screen:
            self._draw_all()
            return
        clear = self.terminal.clear_eol
        bar_line, figures = self.progress_lines(self._width())
        self._write("\r" + self.terminal.move_up(1) + bar_line + clear + "\n" + figures + clear)
        self._last_draw = perf_counter()

    def _rewind(self) -> None:
        """Move the cursor back to the first line of what was drawn last time."""
        if self._lines_on_screen > 1:
            self._write(self.terminal.move_up(self._lines_on_screen - 1))
        self._write("\r" + self.terminal.clear_eos)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _bar(fraction: float, width: int) -> str:
    """A horizontal bar with eighth-of-a-cell resolution."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    partial = " ▏▎▍▌▋▊▉"[part] if full < width else ""
    return ("█" * full + partial).ljust(width)


def _as_float(value) -> float:
    return float("nan") if value is None else float(value)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
