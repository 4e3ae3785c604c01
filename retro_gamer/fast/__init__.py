"""The fast engine: dqn/'s parts made faster, with the same interfaces and the same numbers.

    network.py      build_network: one-hot boards as row lookups (a window's off-board
                    channel, dense, as one product), convolutions near the occupied
                    cells only (sparse_conv.py), parameters in one flat vector
    optim.py        Adam and clip_grad_norm over that flat vector
    blas.py         training_threads: an MLP's matrix products on one thread
    observation.py  dense_observation: GameEnvironment's observation written from the
                    occupied cells, instead of one_hot of the whole board's codes

dqn/agent.py runs these parts exactly as it runs dqn/'s: engine = "fast" (the default)
in config.toml. tests/test_engines.py proves each part computes what its plain twin does.
"""
from retro_gamer.fast.blas import training_threads
from retro_gamer.fast.network import build_network
from retro_gamer.fast.optim import Adam, clip_grad_norm

__all__ = ["build_network", "Adam", "clip_grad_norm", "training_threads"]
