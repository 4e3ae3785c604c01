"""training.log ([INIT] lines describing the network, a header per session, a line per checkpoint) and
episodes.csv (a row per episode): small, so rewritten atomically at each addition, never half-written."""
import contextlib
import csv
import io
import math
import re
from pathlib import Path

from retro_gamer.run.files import atomic_write_text

LOG_FILE = "training.log"
EPISODES_FILE = "episodes.csv"
EPISODE_COLUMNS = ("episode", "total_reward", "steps", "epsilon", "avg_loss", "seconds")
EPISODES_HEADER = ",".join(EPISODE_COLUMNS) + "\n"


def format_duration(seconds: float) -> str:
    """12 -> '0m12s', 3725 -> '1h02m05s', as training.log writes times."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def parse_duration(text: str) -> float | None:
    """The seconds of a duration such as '0m12s', '1h02m03s' or '45s'; None if unreadable."""
    match = re.match(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$", text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def checkpoint_line(record: dict) -> str:
    """The training.log line of a checkpoint record (name, first_episode, episode, averages, times)."""
    return (f"[{record['name']}]  ep={record['first_episode']:04d}-{record['episode']:04d}"
            f"  avg_reward={record['avg_reward']:+.1f}  avg_steps={record['avg_steps']:.0f}"
            f"  epsilon={record['epsilon']:.3f}  avg_loss={record['avg_loss']:.1f}"
            f"  time={format_duration(record['seconds'])}  total={format_duration(record['total_seconds'])}")


def parse_checkpoint_line(line: str) -> dict | None:
    """A checkpoint line's fields (None where one is missing) and the line itself; None for other lines.
    "[ep_0100]" starts it, then key=value fields (older logs pad a value: "avg_reward= -4.1")."""
    line = line.strip()
    start = re.match(r"\[(?P<name>ep_\d+|final)\]", line)
    fields = dict(re.findall(r"(\w+)=\s*(\S+)", line[start.end():])) if start else {}
    episodes = re.fullmatch(r"(\d+)-(\d+)", fields.get("ep", ""))
    if not episodes:
        return None
    averages = {key: _number(fields.get(key)) for key in ("avg_reward", "avg_steps", "epsilon", "avg_loss")}
    return {"name": start.group("name"), "first_episode": int(episodes.group(1)),
            "episode": int(episodes.group(2)), **averages, "seconds": parse_duration(fields.get("time", "")),
            "total_seconds": parse_duration(fields.get("total", "")), "line": line}


def _number(text: str | None) -> float | None:
    with contextlib.suppress(TypeError, ValueError):
        value = float(text)
        return None if math.isinf(value) else value
    return None


def read_text(path: Path) -> str:
    """A record's text, ready for more lines even if damaged or edited by hand: bytes that are not
    UTF-8 (or NUL) become replacement characters, and a last line gets its missing newline."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    return (text if not text or text.endswith("\n") else text + "\n").replace("\0", "\ufffd")


def append_log(run_dir, line: str) -> None:
    path = Path(run_dir) / LOG_FILE
    atomic_write_text(path, read_text(path) + line + "\n")


def append_episodes(run_dir, rows: list[dict]) -> None:
    """Add episodes.csv rows: dicts of EPISODE_COLUMNS."""
    path = Path(run_dir) / EPISODES_FILE
    lines = [f"{r['episode']},{r['total_reward']:.6g},{r['steps']},{r['epsilon']:.6g},{r['avg_loss']:.6g},"
             f"{r['seconds']:.4f}\n" for r in rows]
    atomic_write_text(path, (read_text(path) or EPISODES_HEADER) + "".join(lines))


def keep_episodes_up_to(run_dir, episode: int) -> None:
    """Drop the episodes.csv rows after ``episode``: training resumes from a checkpoint before them."""
    path = Path(run_dir) / EPISODES_FILE
    rows = read_text(path).splitlines()[1:]
    kept = [row for row in rows if row.split(",")[0].isdecimal() and int(row.split(",")[0]) <= episode]
    if len(kept) != len(rows):
        atomic_write_text(path, EPISODES_HEADER + "".join(row + "\n" for row in kept))


def read_checkpoint_history(run_dir) -> list[dict]:
    """training.log's checkpoint lines, parsed, by episode; of an episode logged twice, the later one."""
    lines = read_text(Path(run_dir) / LOG_FILE).splitlines()
    by_episode = {record["episode"]: record for record in map(parse_checkpoint_line, lines) if record}
    return [record for _, record in sorted(by_episode.items())]


def read_episodes(run_dir) -> dict[str, list[float]]:
    """episodes.csv's columns, name -> values by episode; {} if none. A row that cannot be read (a hand
    edit, a file cut short) is skipped, and of an episode recorded twice the later row is kept."""
    rows = {}
    for row in csv.DictReader(io.StringIO(read_text(Path(run_dir) / EPISODES_FILE))):
        with contextlib.suppress(KeyError, TypeError, ValueError, OverflowError):  # int(inf): OverflowError
            values = {name: float(row[name]) for name in EPISODE_COLUMNS}
            rows[int(values["episode"])] = values
    ordered = [values for _, values in sorted(rows.items())]
    return {name: [row[name] for row in ordered] for name in EPISODE_COLUMNS} if ordered else {}
