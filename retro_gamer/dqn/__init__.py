"""The textbook DQN in plain NumPy: read it in this order.

    layers.py   linear, ReLU and the 3x3 convolution, each forward next to its backward
    network.py  the MLP and the CNN built from them; build_network
    loss.py     the Huber loss
    optim.py    gradient clipping and Adam
    replay.py   the replay memory, uniform and prioritized
    agent.py    the DQN agent and the episode loop, which run every engine's parts

This package is the "plain" engine (engine = "plain" in config.toml): build_network,
Adam and clip_grad_norm below are what agent.py asks of an engine. retro_gamer.fast
offers the same three names, faster.
"""
from retro_gamer.dqn.network import build_network
from retro_gamer.dqn.optim import Adam, clip_grad_norm

__all__ = ["build_network", "Adam", "clip_grad_norm"]
