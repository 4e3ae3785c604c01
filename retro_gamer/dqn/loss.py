"""The loss DQN minimises: how far Q(s, a) is from its TD target r + gamma * max Q_target(s', a').

Huber loss (delta = 1) is the squared error for small errors and the absolute error for
large ones. Early in training, and whenever a surprising reward arrives, TD errors can be
large; with a squared error one such sample would dominate the batch's gradient. Huber
caps each sample's gradient at 1 in size, so learning stays steady.
"""
import numpy as np


def huber_loss(q: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None):
    """Mean Huber loss over the batch, and its gradient with respect to q.

    q: (B,) Q-values of the actions taken; target: (B,) TD targets (constants: no gradient
    flows into the target network); weights: (B,) importance-sampling weights of
    prioritized replay, or None -> (loss, d_q (B,) = dLoss/dq).
    """
    error = q - target
    d_per_sample = np.clip(error, -1.0, 1.0)          # the derivative: the error, capped at +-1
    # With c the capped error, c * (error - c / 2) is 0.5 * error**2 where |error| <= 1
    # and |error| - 0.5 beyond: both pieces of the Huber loss in one expression.
    per_sample = d_per_sample * (error - 0.5 * d_per_sample)
    if weights is not None:
        # Prioritized replay draws some transitions more often than others; the weights undo
        # that bias, so the expected gradient is the one of uniform sampling.
        per_sample = per_sample * weights
        d_per_sample = d_per_sample * weights
    return float(np.mean(per_sample)), (d_per_sample / len(q)).astype(q.dtype, copy=False)
