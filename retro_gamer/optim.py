"""How the network's weights move after each training step: gradient clipping and Adam.

Both work in place on dicts name -> array (net.params, net.grads). When the arrays are
views tiling one flat vector (a dict with a .flat attribute, as network.py makes them),
the whole network is updated as that one vector: a dozen NumPy calls per step instead
of a dozen per parameter array.
"""
from __future__ import annotations

import math
import os
import queue
import threading

import numpy as np

from retro_gamer.blas import axpy
from retro_gamer.errors import CheckpointError


def _flat_vector(arrays: dict) -> np.ndarray | None:
    """The one vector all of these arrays are views of, or None (then: array by array)."""
    return getattr(arrays, "flat", None)


# Squares are summed in blocks of 2**18 values, each in float32 by NumPy, the blocks
# together in a Python (64-bit) float: rounding stays near 1e-6 even over millions of values.
_SUM_BLOCK = 1 << 18


def clip_grad_norm(grads: dict, max_norm: float = 10.0) -> float:
    """Scale all gradients together so that their global L2 norm is at most max_norm.

    grads: dict name -> array, changed in place. Returns the norm before clipping.
    Same rule as torch.nn.utils.clip_grad_norm_: factor max_norm / (norm + 1e-6),
    applied only when it is below 1. One unlucky batch (a huge TD error) then moves
    the weights no further than max_norm allows, and the gradient keeps its direction.
    """
    flat = _flat_vector(grads)
    arrays = [flat] if flat is not None else list(grads.values())
    sparse = getattr(grads, "nonzero_rows", None)
    if flat is not None and sparse is not None:
        # Rows known to be zero add nothing to the norm: sum the others only.
        arrays = [flat[:sparse.start], _rows(flat, sparse)[sparse.rows], flat[sparse.stop:]]
    total = 0.0
    for array in arrays:
        values = array.ravel(order="K")
        for start in range(0, values.size, _SUM_BLOCK):
            block = values[start:start + _SUM_BLOCK]
            total += float(np.dot(block, block))
    total_norm = math.sqrt(total)
    factor = max_norm / (total_norm + 1e-6)
    if factor < 1.0:
        for array in [flat] if flat is not None else arrays:
            array *= array.dtype.type(factor)
    return total_norm


def _rows(flat: np.ndarray, sparse) -> np.ndarray:
    """flat[sparse.start:sparse.stop] as a (rows, width) view."""
    return flat[sparse.start:sparse.stop].reshape(-1, sparse.width)


# Two speed-ups for Adam, eight passes over every weight that has a gradient:
# - NumPy lets go of Python's global lock while it loops over an array, so a second
#   thread updating the other half of the weight vector runs on a second CPU core.
#   Waking it costs some 50 microseconds, so it only takes on large updates: the
#   CNN's, not an MLP's mostly gradient-free first layer (see Adam.step).
# - Each half goes through in blocks of 2**18 values (1 MB per array), so a block
#   stays in the CPU cache through all the passes instead of travelling from memory
#   once per pass.
_BLOCK = 1 << 18


class _SecondCore:
    """A daemon thread that runs one job at a time: the second half of Adam's vector.

    Being a daemon, it never holds up the interpreter's exit; and the caller always
    waits for its job to end, even through a Ctrl-C, so no weight is still being
    written when a checkpoint is saved. Each job comes with an Event that the thread
    sets when the job is done: an Event is a state, so a Ctrl-C can interrupt the
    waiting but never make the wait miss the end of the job.
    """

    def __init__(self):
        self._owner_pid = None

    def start(self, job) -> None:
        if self._owner_pid != os.getpid():
            # First use, or a process forked from one that had the thread: threads do
            # not survive os.fork(), so this process starts its own.
            self._jobs, self._finished, self._error = queue.SimpleQueue(), None, None
            threading.Thread(target=self._serve, daemon=True, name="adam-second-half").start()
            self._owner_pid = os.getpid()
        self.wait()   # a job that an interrupted step left behind ends first
        finished = threading.Event()
        self._jobs.put((job, finished))
        self._finished = finished

    def wait(self) -> None:
        """Block until the job has ended; then re-raise its error, or a Ctrl-C that came meanwhile."""
        finished, interrupted = self._finished, None
        while finished is not None and not finished.is_set():
            try:
                finished.wait()
            except KeyboardInterrupt as stop:
                interrupted = stop
        error, self._error = self._error, None
        if error is not None:
            raise error
        if interrupted is not None:
            raise interrupted

    def _serve(self) -> None:
        while True:
            job, finished = self._jobs.get()
            try:
                job()
            except BaseException as error:   # handed to the caller by wait()
                self._error = error
            finally:
                finished.set()


_second_core = _SecondCore()


def _blockwise(function, vectors: tuple, start: int, stop: int) -> None:
    """function(*blocks) on vectors[k][start:stop] for all k, _BLOCK values at a time."""
    for first in range(start, stop, _BLOCK):
        function(*(v[first:min(first + _BLOCK, stop)] for v in vectors))


def _on_two_cores(job, second_job) -> None:
    """Run job here and second_job on the second core; return when both are done."""
    _second_core.start(second_job)
    try:
        job()
    finally:
        _second_core.wait()


class Adam:
    """Adam with bias correction, the same update as torch.optim.Adam (no weight decay).

    For every weight w with gradient g, after step t:
        m = beta1 * m + (1 - beta1) * g          running mean of the gradient
        v = beta2 * v + (1 - beta2) * g * g      running mean of its square
        w -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)
    Each weight's step is scaled by its own gradient history: weights with steady
    gradients take steps of about lr, noisy ones smaller steps. The two divisions
    correct m and v for starting at zero.

    Three changes of variable save passes over the weights; they give the same
    numbers up to float32 rounding:
    - m and v are kept divided by (1 - beta1) and (1 - beta2), as
      m_sum = beta1 * m_sum + g and v_sum = beta2 * v_sum + g * g: the two factors
      move into the scalars of the last line.
    - v_sum is kept as its square root, v_root = sqrt(v_sum), so that its decay is a
      product too: sqrt(beta2 * v_sum) = sqrt(beta2) * v_root.
    - The decays are not applied to the vectors but to two numbers: m_sum is stored
      as m_scale * m_stored, v_root as v_scale * v_stored, and each step multiplies
      m_scale by beta1 and v_scale by sqrt(beta2). A gradient enters the stored
      vectors divided by the scale (m_stored += g / m_scale). A weight whose gradient
      is zero (most of an MLP's first layer, see network.NonzeroRows) then costs its
      moments nothing: only the three passes that move the weight. Before the scales
      get small, they are folded back into the vectors (a pass every 60-odd steps).
    ``m`` and ``v`` give the moments themselves, as torch.optim.Adam keeps them;
    state_dict() saves m_sum and v_sum.
    """

    def __init__(self, params: dict, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        """params: dict name -> array, updated in place by step(); lr: learning rate;
        0 < beta1, beta2 < 1 (the decays are kept as scales that must not reach zero)."""
        if not (0.0 < beta1 < 1.0 and 0.0 < beta2 < 1.0):
            raise ValueError(f"Adam needs 0 < beta1 < 1 and 0 < beta2 < 1; got beta1={beta1}, beta2={beta2}")
        self.params = params
        self.lr = float(lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.steps = 0
        self.m_scale = self.v_scale = 1.0
        self._flat_params = _flat_vector(params)
        if self._flat_params is not None:
            # The moments get the parameters' flat layout, so the flat path covers them too.
            self._flat_m_stored = np.zeros_like(self._flat_params)
            self._flat_v_stored = np.zeros_like(self._flat_params)
            self._flat_scratch = np.empty_like(self._flat_params)
            self.m_stored = {name: _same_view(p, self._flat_params, self._flat_m_stored) for name, p in params.items()}
            self.v_stored = {name: _same_view(p, self._flat_params, self._flat_v_stored) for name, p in params.items()}
        else:
            self.m_stored = {name: np.zeros_like(p) for name, p in params.items()}
            self.v_stored = {name: np.zeros_like(p) for name, p in params.items()}

    @property
    def m(self) -> dict:
        """The first moment of each parameter's gradient (torch's exp_avg), a copy."""
        return {name: s * s.dtype.type(self.m_scale * (1.0 - self.beta1)) for name, s in self.m_stored.items()}

    @property
    def v(self) -> dict:
        """The second moment of each parameter's gradient (torch's exp_avg_sq), a copy."""
        return {name: np.square(s * s.dtype.type(self.v_scale)) * s.dtype.type(1.0 - self.beta2)
                for name, s in self.v_stored.items()}

    def step(self, grads: dict) -> None:
        """One update of every parameter in place; grads: dict name -> array like params."""
        self.steps += 1
        if self.m_scale * self.beta1 < 1e-3 or self.v_scale * math.sqrt(self.beta2) < 1e-3:
            self._fold_scales()        # before a scale gets small enough to lose precision
        self.m_scale *= self.beta1
        self.v_scale *= math.sqrt(self.beta2)
        # With m = (1 - beta1) * m_scale * m_stored and sqrt(v) = sqrt(1 - beta2) * v_scale * v_stored,
        # the last line above is   w -= step_size * m_stored / (v_stored + eps_hat)   with
        # two scalars: the bias corrections, the (1 - beta) factors and the scales cost no pass.
        correction1 = (1.0 - self.beta1) / (1.0 - self.beta1 ** self.steps)
        correction2 = math.sqrt((1.0 - self.beta2) / (1.0 - self.beta2 ** self.steps))
        step_size = self.lr * correction1 / correction2 * self.m_scale / self.v_scale
        eps_hat = self.eps / correction2 / self.v_scale
        scalars = (step_size, eps_hat, 1.0 / self.m_scale, 1.0 / self.v_scale)
        flat_grads = _flat_vector(grads)
        if not (self._flat_params is not None and flat_grads is not None
                and getattr(grads, "layout", None) == getattr(self.params, "layout", ())):
            for name, w in self.params.items():
                self._update(w, grads[name], self.m_stored[name], self.v_stored[name], np.empty_like(w), *scalars)
        else:
            self._flat_step(flat_grads, getattr(grads, "nonzero_rows", None), scalars)

    def _flat_step(self, flat_grads: np.ndarray, sparse, scalars: tuple) -> None:
        """step() on the flat vectors; sparse: a network.NonzeroRows, or None."""
        def update(*blocks):
            self._update(*blocks, *scalars)

        vectors = (self._flat_params, flat_grads, self._flat_m_stored, self._flat_v_stored, self._flat_scratch)
        size = len(flat_grads)
        if sparse is None:
            _on_two_cores(lambda: _blockwise(update, vectors, 0, size // 2),
                          lambda: _blockwise(update, vectors, size // 2, size))
            return
        # Most of the first layer has no gradient this step. The rows that do are
        # updated on copies taken now (flattened, so that BLAS takes them); the whole
        # stretch then moves by its moments alone, and finally the copies go back over
        # their rows. All on this core: the work is small enough that waking the second
        # one costs what it saves.
        w, g, m_stored, v_stored = (_rows(v, sparse) for v in vectors[:4])
        touched = [a[sparse.rows] for a in (w, g, m_stored, v_stored)]
        update(*(a.reshape(-1) for a in touched), np.empty(touched[0].size, touched[0].dtype))
        _blockwise(update, vectors, 0, sparse.start)
        _blockwise(update, vectors, sparse.stop, size)
        step_size, eps_hat = scalars[:2]
        _blockwise(lambda *blocks: self._move(*blocks, step_size, eps_hat),
                   (self._flat_params, self._flat_m_stored, self._flat_v_stored, self._flat_scratch),
                   sparse.start, sparse.stop)
        w[sparse.rows], m_stored[sparse.rows], v_stored[sparse.rows] = touched[0], touched[2], touched[3]

    def _update(self, w, g, m_stored, v_stored, scratch, step_size, eps_hat, m_unscale, v_unscale):
        """The update for one block of weights, in place; scratch is the only temporary."""
        axpy(m_unscale, g, m_stored)                   # m_stored += g / m_scale
        np.multiply(v_stored, v_stored, out=v_stored)  # v_stored = sqrt(v_stored**2 + g**2 / v_scale**2)
        np.multiply(g, g, out=scratch)
        axpy(v_unscale * v_unscale, scratch, v_stored)
        np.sqrt(v_stored, out=v_stored)
        self._move(w, m_stored, v_stored, scratch, step_size, eps_hat)

    @staticmethod
    def _move(w, m_stored, v_stored, scratch, step_size, eps_hat):
        """w -= step_size * m_stored / (v_stored + eps_hat): all a weight without a gradient needs."""
        np.add(v_stored, w.dtype.type(eps_hat), out=scratch)
        np.divide(m_stored, scratch, out=scratch)
        axpy(-step_size, scratch, w)

    def _fold_scales(self) -> None:
        """Multiply the scales into the stored vectors, and start them again at 1."""
        if self._flat_params is not None:
            parts = [(self._flat_m_stored, self.m_scale), (self._flat_v_stored, self.v_scale)]
        else:
            parts = [(a, self.m_scale) for a in self.m_stored.values()]
            parts += [(a, self.v_scale) for a in self.v_stored.values()]
        for array, scale in parts:
            array *= array.dtype.type(scale)
        self.m_scale = self.v_scale = 1.0

    def decay_learning_rate(self, factor: float) -> None:
        """Multiply the learning rate by factor (the trainer does it once per episode that trained)."""
        self.lr *= factor

    def state_dict(self) -> dict:
        """What a checkpoint must keep to continue exactly: steps, lr, m_sum and v_sum per parameter.

        Folds the scales into the stored vectors first, so that this optimiser and one
        loaded from the result continue identically. (v_sum = v_root squared; the square
        root in load_state_dict gives v_root back exactly, a property of correctly
        rounded square roots, unless the square underflows: for v_root below 1e-19,
        which only a weight without a gradient for some 70,000 steps reaches, long
        after its m_sum and so its step have become zero.)
        """
        self._fold_scales()
        return {"steps": self.steps, "lr": self.lr,
                "m_sum": {name: a.copy() for name, a in self.m_stored.items()},
                "v_sum": {name: r * r for name, r in self.v_stored.items()}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what state_dict() returned."""
        mine = {"m_sum": self.m_stored, "v_sum": self.v_stored}
        for moment in ("m_sum", "v_sum"):
            saved = state[moment]
            bad = sorted(name for name in mine[moment].keys() | saved.keys()
                         if name not in mine[moment] or name not in saved
                         or np.shape(saved[name]) != mine[moment][name].shape)
            if bad:
                raise CheckpointError(
                    f"The saved optimiser state does not fit this network ({', '.join(bad)} missing or "
                    "of another shape). It was saved for a network of another shape; resume from a "
                    "checkpoint of this run, or start again with 'retro-gamer clean'.")
        for name, value in state["m_sum"].items():
            self.m_stored[name][...] = value
        for name, value in state["v_sum"].items():
            np.sqrt(np.asarray(value, self.v_stored[name].dtype), out=self.v_stored[name])
        self.m_scale = self.v_scale = 1.0
        self.steps = int(state["steps"])
        self.lr = float(state["lr"])


def _same_view(array: np.ndarray, flat: np.ndarray, other_flat: np.ndarray) -> np.ndarray:
    """The view of other_flat that sits where array sits in flat (same offset, shape, strides)."""
    offset = array.__array_interface__["data"][0] - flat.__array_interface__["data"][0]
    return np.ndarray(array.shape, array.dtype, buffer=other_flat, offset=offset, strides=array.strides)
