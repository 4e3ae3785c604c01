"""The errors a user is meant to read, and how their messages are written.

A ``RetroGamerError`` is a problem the user can fix; its message says what happened, why it matters and what
to do, and the command line prints it without a traceback. A file with several problems gets one message
listing them all, each with the corrected line: a learner fixes a config in one go."""
import difflib
import json
import re
import textwrap


class RetroGamerError(ValueError):
    """A problem the user can fix; the message explains how. A ValueError, as the published package raised."""


class ConfigError(RetroGamerError):
    """config.toml, [tool.retro-gamer] or a hyperparameter is wrong."""


class GameError(RetroGamerError):
    """The game could not be loaded, or it misbehaved while being played."""


class CheckpointError(RetroGamerError):
    """A checkpoint is missing, broken, unsafe or does not fit this run."""


def toml_value(value) -> str:
    """``value`` as a TOML file shows it, in messages and in config.toml. Text is escaped: a config or a game
    from someone else must not be able to hide text in, or take over, the learner's terminal."""
    if value is None:
        return "(not set)"
    if isinstance(value, (bool, str)):  # true, false and "text", as JSON writes them
        text = json.dumps(value, ensure_ascii=False)
        return "".join(c if c.isprintable() else f"\\U{ord(c):08x}" for c in text)  # TOML's escape
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return repr(value)


def toml_key(key: str) -> str:
    """A key as TOML writes it: bare when it can be, else quoted."""
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else toml_value(key)


def problem(setting: str, why: str, fix: str) -> str:
    """One entry of an error report: the setting as written, why it is wrong, the fix."""
    why = textwrap.fill(why, width=84, initial_indent="   ", subsequent_indent="   ")
    fix = "\n".join("   " + line for line in ("Fix: " + fix).splitlines())
    return f"{setting}\n{why}\n{fix}"


def problem_report(problems: list[str], where: str, then: str) -> str:
    """All problems of one file or section as a single numbered message."""
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    entries = [f"{number}. " + text.replace("\n", "\n ") for number, text in enumerate(problems, 1)]
    return f"Found {count} in {where}:\n\n" + "\n\n".join(entries) + f"\n\n{then}"


def unknown_key_problem(key: str, value, known, where: str) -> str:
    """A key nobody reads: most often a typo, so the closest real name is suggested."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    fix = (f"did you mean {close[0]}? Write: {close[0]} = {toml_value(value)}" if close
           else "remove it; the keys this section understands are: " + ", ".join(known))
    return problem(f"{toml_key(key)} = {toml_value(value)}",
                   f"{where} has no setting called {toml_key(key)}. A misspelt setting would be silently "
                   "ignored and the default used instead, so it stops here.", fix)
