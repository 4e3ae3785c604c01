"""Reading a run's history back: the checkpoint lines of training.log and episodes.csv.

The trainer writes two records while it learns (SPEC §7):

- ``training.log``: one line per checkpoint, the average of the episodes since the last one::

    [ep_0100]  ep=0001-0100  avg_reward=-31.4  avg_steps=47  epsilon=0.938  avg_loss=7.2  time=0m12s  total=0m12s

- ``episodes.csv``: one row per episode: ``episode,total_reward,steps,epsilon,avg_loss,seconds``.

``info``, ``plot`` and the training display read them here. A checkpoint line becomes the
same dict the trainer hands to its ``on_checkpoint`` callback, so the display draws a
resumed run's old history and this session's new checkpoints alike.
Both readers are forgiving: a line or row they cannot read (a hand edit, a file cut short)
is skipped, and when training was resumed from an earlier checkpoint the later record of
an episode replaces the earlier one.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

LOG_FILE = "training.log"
EPISODES_FILE = "episodes.csv"
EPISODE_COLUMNS = ("episode", "total_reward", "steps", "epsilon", "avg_loss", "seconds")

# "[ep_0100]" or "[final]" at the start, then key=value fields; a value may be padded
# after the "=" ("avg_reward= -4.1" in older logs).
_LINE_START = re.compile(r"^\[(?P<name>ep_\d+|final)\]")
_FIELD = re.compile(r"(\w+)=\s*(\S+)")
_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float | None:
    """Seconds in a duration such as '0m12s', '1h02m03s' or '45s'; None if unreadable."""
    match = _DURATION.match(text)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_checkpoint_line(line: str) -> dict | None:
    """The fields of one training.log checkpoint line, or None for any other line.

    Returns a dict with name ('ep_0100'), episode, first_episode, avg_reward,
    avg_steps, epsilon, avg_loss, seconds, total_seconds (None where a field is
    missing) and line (the text itself).
    """
    line = line.strip()
    start = _LINE_START.match(line)
    if not start:
        return None
    fields = dict(_FIELD.findall(line[start.end():]))
    episodes = re.fullmatch(r"(\d+)-(\d+)", fields.get("ep", ""))
    if not episodes:
        return None
    record = {
        "name": start.group("name"),
        "first_episode": int(episodes.group(1)),
        "episode": int(episodes.group(2)),
        "line": line,
    }
    for key in ("avg_reward", "avg_steps", "epsilon", "avg_loss"):
        record[key] = _number(fields.get(key))
    record["seconds"] = parse_duration(fields.get("time", ""))
    record["total_seconds"] = parse_duration(fields.get("total", ""))
    return record


def read_checkpoint_history(run_dir: str | Path) -> list[dict]:
    """Every checkpoint line of RUN_DIR/training.log, parsed, ordered by episode.

    A run resumed from an earlier checkpoint logs some episodes again; the later
    line wins, since it describes the checkpoint files that exist now.
    """
    log = Path(run_dir) / LOG_FILE
    if not log.is_file():
        return []
    by_episode = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        record = parse_checkpoint_line(line)
        if record is not None:
            by_episode[record["episode"]] = record
    return [by_episode[episode] for episode in sorted(by_episode)]


def read_episodes(run_dir: str | Path) -> dict[str, list[float]]:
    """The columns of RUN_DIR/episodes.csv: name -> values, ordered by episode.

    Returns an empty dict when there is no file. Rows that cannot be read are
    skipped; a repeated episode keeps its latest row.
    """
    path = Path(run_dir) / EPISODES_FILE
    if not path.is_file():
        return {}
    rows = {}
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.DictReader(f)
        for row in reader:
            try:
                values = {name: float(row[name]) for name in EPISODE_COLUMNS}
            except (KeyError, TypeError, ValueError):
                continue
            rows[int(values["episode"])] = values
    ordered = [rows[episode] for episode in sorted(rows)]
    return {name: [row[name] for row in ordered] for name in EPISODE_COLUMNS} if ordered else {}


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return None if math.isinf(value) else value
