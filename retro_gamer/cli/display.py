"""The training display: how far training has gone, and how learning is going.

In a terminal, a dashboard redrawn in place: charts of the checkpoint averages of the whole run, then a
progress bar and the last episode. Otherwise (CI, a pipe, a file): the checkpoint lines of training.log.
"""
import sys
from time import perf_counter

from blessed import Terminal

from retro_gamer.cli.charts import chart_grid, checkpoint_curves, format_value
from retro_gamer.run.records import format_duration

START_MESSAGE = "Press Ctrl-C to stop; progress is saved."
REDRAW_SECONDS = 0.1  # fast games finish hundreds of episodes a second; redraw ~10 times a second


class TrainingDisplay:
    """A training session's progress. start_episode: the first episode this session plays (those before
    count as done); history: the checkpoint records of earlier sessions. Call ``start()``, pass
    ``on_episode`` and ``on_checkpoint`` to DQNTrainer.train, then ``close()``."""

    def __init__(self, total_episodes: int, start_episode: int, history=(), stream=None, terminal=None):
        self.total_episodes, self.start_episode = total_episodes, start_episode
        self.episodes_done = start_episode - 1
        self.history, self.last_episode = list(history), None
        self.stream = stream if stream is not None else sys.stdout   # sys.stdout is None under pythonw
        self.live = terminal is not None or getattr(self.stream, "isatty", bool)()
        self.terminal = Terminal(stream=self.stream) if self.live and terminal is None else terminal
        self._started, self._lines_on_screen, self._last_draw = perf_counter(), 0, 0.0

    def start(self) -> None:
        print(START_MESSAGE, file=self.stream, flush=True)
        if self.live:
            self._draw()

    def on_episode(self, stats: dict) -> None:
        """stats: episode, total_reward, steps, epsilon, avg_loss, seconds."""
        self.last_episode = stats
        self.episodes_done = stats["episode"]
        if self.live and (perf_counter() - self._last_draw >= REDRAW_SECONDS
                          or self.episodes_done >= self.total_episodes):
            self._draw(only_progress=True)

    def on_checkpoint(self, record: dict) -> None:
        """record: name, episode, avg_reward, avg_steps, epsilon, avg_loss, line, ..."""
        self.history.append(record)
        self.episodes_done = max(self.episodes_done, record["episode"])
        if self.live:
            self._draw()
        else:
            print(record["line"], file=self.stream, flush=True)

    def close(self) -> None:
        """Leave the cursor on a fresh line below the display."""
        if self.live and self._lines_on_screen:
            self._draw()
            print(file=self.stream, flush=True)
            self._lines_on_screen = 0

    def chart_lines(self, width: int) -> list[str]:
        """The four checkpoint charts, four across on a wide terminal, else two by two (or one by one)."""
        if not self.history:
            return ["Charts of the checkpoint averages appear here after the first checkpoint."[:width]]
        return chart_grid(checkpoint_curves(self.history), width, height=3, min_width=26)

    def progress_lines(self, width: int) -> list[str]:
        """The bar with episodes done/total, percentage, elapsed and remaining time and the rate;
        under it the last episode's reward, steps, epsilon and loss."""
        done, total = self.episodes_done, self.total_episodes
        fraction = done / total if total else 1.0
        elapsed = perf_counter() - self._started
        played = done - (self.start_episode - 1)
        rate = played / elapsed if elapsed > 0 and played > 0 else 0.0
        fields = {"percent": f"{fraction:4.0%}", "elapsed": f"{format_duration(elapsed)} elapsed",
                  "left": f"{format_duration((total - done) / rate) if rate else '--'} left",
                  "speed": f"{rate * 60:.1f} ep/min" if 0 < rate < 1 else f"{rate:.1f} ep/s"}
        head = f"{done}/{total} episodes"
        # A narrow terminal gives up the least useful figures before the bar gets under 10 cells.
        for spare in ("elapsed", "speed", "left"):
            if len(head) + len("  ".join(fields.values())) + 4 + 10 > width:
                del fields[spare]
        tail = "  ".join(fields.values())
        cells = max(10, width - len(head) - len(tail) - 4)
        full, eighths = divmod(round(max(0.0, min(1.0, fraction)) * cells * 8), 8)
        bar = ("█" * full + (" ▏▎▍▌▋▊▉"[eighths] if full < cells else "")).ljust(cells)
        lines = [f"{head} ▕{bar}▏ {tail}", ""]
        if (last := self.last_episode) is not None:
            lines[1] = (f"last episode {last['episode']}:  reward {format_value(last['total_reward'])}"
                        f"  steps {last['steps']}  epsilon {last['epsilon']:.3f}"
                        f"  loss {format_value(last.get('avg_loss'))}")
        return [line[:width] for line in lines]

    def _draw(self, only_progress: bool = False) -> None:
        """Redraw in place: go up to the first line to redraw, clear what is stale, write the lines."""
        width = max(20, self.terminal.width - 1)  # writing the last column makes some terminals wrap
        if only_progress and self._lines_on_screen:  # the bar and the last episode: the last two lines
            lines, up, clear = self.progress_lines(width), 1, ""
        else:
            lines = self.chart_lines(width) + self.progress_lines(width)
            up, clear = self._lines_on_screen - 1, self.terminal.clear_eos
            self._lines_on_screen = len(lines)
        text = "\n".join(line + self.terminal.clear_eol for line in lines)
        print("\r" + (self.terminal.move_up(up) if up > 0 else "") + clear + text, end="",
              file=self.stream, flush=True)
        self._last_draw = perf_counter()
