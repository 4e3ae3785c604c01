"""The one kind of error a user is meant to read.

A ``RetroGamerError`` is a problem the user can fix (a typo in config.toml, a missing
checkpoint, a game that crashed). Its message says what happened, why it matters and
what to do; the command line prints it as it is, never with a traceback.
It subclasses ``ValueError`` so code written for the published package, which raised
``ValueError`` for the same problems, keeps working.
"""


class RetroGamerError(ValueError):
    """A problem the user can fix; the message explains how."""


class ConfigError(RetroGamerError):
    """config.toml, [tool.retro-gamer] or a hyperparameter is wrong."""


class GameError(RetroGamerError):
    """The game could not be loaded, or it misbehaved while being played."""


class CheckpointError(RetroGamerError):
    """A checkpoint is missing, broken, unsafe or does not fit this run."""
