"""retro-gamer, NumPy edition: Deep Q-Learning for retro-games terminal games.

The public API is imported lazily, so ``retro-gamer --help`` starts without loading
NumPy or the trainer.
"""
from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "GameMetadata": "retro_gamer.game.description",
    "GameEnvironment": "retro_gamer.game.environment",
    "DQNTrainer": "retro_gamer.run.trainer",
    "TrainedPolicy": "retro_gamer.policy",
    "PolicyInput": "retro_gamer.policy",
    "RetroGamerError": "retro_gamer.errors",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'retro_gamer' has no attribute {name!r}")
