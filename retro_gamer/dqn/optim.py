"""How the weights move after each learning step: gradient clipping, then Adam.

Both work in place on dicts name -> array (the network's params, and the gradients its
backward returns).
"""
import math

import numpy as np


def clip_grad_norm(grads: dict, max_norm: float = 10.0) -> float:
    """Scale all gradients together so that their global L2 norm is at most max_norm.

    grads: dict name -> array, changed in place. Returns the norm before clipping.
    The rule of torch.nn.utils.clip_grad_norm_: factor max_norm / (norm + 1e-6), applied
    when it is below 1. One unlucky batch (a huge TD error) then moves the weights no
    further than max_norm allows, and the gradient keeps its direction.
    """
    norm = math.sqrt(sum(float(np.sum(np.square(g, dtype=np.float64))) for g in grads.values()))
    factor = max_norm / (norm + 1e-6)
    if factor < 1.0:
        for g in grads.values():
            g *= g.dtype.type(factor)
    return norm


class Adam:
    """Adam (Kingma and Ba, 2015) with bias correction, the update of torch.optim.Adam.

    For every weight w with gradient g, at step t:
        m = beta1 * m + (1 - beta1) * g          running mean of the gradient
        v = beta2 * v + (1 - beta2) * g * g      running mean of its square
        m_hat = m / (1 - beta1**t)               both start at zero: correct for it
        v_hat = v / (1 - beta2**t)
        w -= lr * m_hat / (sqrt(v_hat) + eps)
    Each weight's step is scaled by its own gradient history: a weight whose gradient
    keeps its sign moves about lr per step, a noisy one less.
    """

    def __init__(self, params: dict, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        """params: dict name -> array, updated in place by step(); lr: the learning rate."""
        self.params, self.lr = params, float(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.steps = 0
        self.m = {name: np.zeros_like(w) for name, w in params.items()}
        self.v = {name: np.zeros_like(w) for name, w in params.items()}

    def step(self, grads: dict) -> None:
        """One update of every parameter, in place; grads: dict name -> array like params."""
        self.steps += 1
        b1, b2, t = self.beta1, self.beta2, self.steps
        for name, w in self.params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * g * g
            m_hat = m / (1 - b1 ** t)
            v_hat = v / (1 - b2 ** t)
            w -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def state_dict(self) -> dict:
        """What a checkpoint keeps to continue exactly: steps, lr and both moments (copies)."""
        return {"steps": self.steps, "lr": self.lr,
                "m": {name: a.copy() for name, a in self.m.items()},
                "v": {name: a.copy() for name, a in self.v.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() returned; ValueError if it was saved for another network."""
        check_fits(self.params, state)
        for moment in ("m", "v"):
            for name, value in state[moment].items():
                getattr(self, moment)[name][...] = value
        self.steps, self.lr = int(state["steps"]), float(state["lr"])


def check_fits(params: dict, state: dict) -> None:
    """ValueError unless the saved moments have the names and shapes of ``params``."""
    for moment in ("m", "v"):
        saved = state[moment]
        if saved.keys() != params.keys() or any(np.shape(saved[n]) != p.shape for n, p in params.items()):
            raise ValueError("the saved optimiser state belongs to a network of another shape")
