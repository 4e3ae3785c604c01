"""Replay memory: the agent's store of past turns, replayed at random to train the network.

DQN does not learn from the turn it has just played. Consecutive turns are nearly the
same, and learning from them in order would make the network chase its latest
experience; instead every turn is stored as a transition (state, action, reward,
next state, done) and each learning step learns from a batch drawn at random from the
last ``capacity`` transitions.

- ``ReplayMemory`` draws every stored transition equally often.
- ``PrioritizedReplayMemory`` (Schaul et al. 2016, the "proportional" variant) draws a
  transition more often the more its last TD error showed the network was wrong about
  it, and returns importance-sampling weights that undo the bias this introduces.

A state is a pair (codes, extras): the board as one byte per cell (network.one_hot
explains the codes) and the float32 extras. It is expanded to the network's float32
one-hot only for the sampled batch, so a snake board costs 512 bytes instead of 12 KB.
"""
from typing import NamedTuple

import numpy as np

ALPHA = 0.6               # how strongly priorities shape sampling: 0 is uniform, 1 fully proportional
BETA = 0.4                # how much the importance-sampling weights correct for that: 1 corrects fully
PRIORITY_EPSILON = 1e-6   # keeps a transition with zero TD error drawable


class ReplayBatch(NamedTuple):
    """B sampled transitions, states still compact."""
    state_codes: np.ndarray     # (B, cells) uint8
    state_extras: np.ndarray    # (B, E) float32
    actions: np.ndarray         # (B,) int64
    rewards: np.ndarray         # (B,) float32
    next_codes: np.ndarray      # (B, cells) uint8
    next_extras: np.ndarray     # (B, E) float32
    dones: np.ndarray           # (B,) float32, 1.0 = terminal: no future reward
    weights: np.ndarray | None  # (B,) importance-sampling weights, None when uniform
    indices: np.ndarray         # (B,) slots, to hand back to update_priorities


class ReplayMemory:
    """The last ``capacity`` transitions in a ring buffer, sampled uniformly with replacement."""

    ARRAYS = ("state_codes", "state_extras", "actions", "rewards", "next_codes", "next_extras", "dones")

    def __init__(self, capacity: int, n_cells: int, n_extras: int):
        self.capacity = capacity
        self.state_codes = np.zeros((capacity, n_cells), np.uint8)
        self.state_extras = np.zeros((capacity, n_extras), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.next_codes = np.zeros((capacity, n_cells), np.uint8)
        self.next_extras = np.zeros((capacity, n_extras), np.float32)
        self.dones = np.zeros(capacity, bool)
        self.position = 0          # the slot add() writes next: the oldest transition once full
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return sum(getattr(self, name).nbytes for name in self.ARRAYS)

    def add(self, state, action: int, reward: float, next_state, done: bool) -> None:
        """Store one turn; state and next_state are (codes (cells,), extras (E,)) pairs. done: the
        game ended, no future to value (an episode cut by the turn limit is not done)."""
        slot = self.position
        self.state_codes[slot], self.state_extras[slot] = state
        self.actions[slot], self.rewards[slot], self.dones[slot] = action, reward, done
        self.next_codes[slot], self.next_extras[slot] = next_state
        self.position = (slot + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplayBatch:
        """batch_size transitions drawn uniformly with replacement (weights None)."""
        return self._batch(rng.integers(0, self.size, size=batch_size), None)

    def update_priorities(self, indices, td_errors) -> None:
        """Uniform sampling has no priorities: nothing to do."""

    def _batch(self, indices: np.ndarray, weights) -> ReplayBatch:
        return ReplayBatch(self.state_codes[indices], self.state_extras[indices], self.actions[indices],
                           self.rewards[indices], self.next_codes[indices], self.next_extras[indices],
                           self.dones[indices].astype(np.float32), weights, indices)

    def state_dict(self) -> dict:
        """Everything needed to restore the memory exactly, as arrays: the slots in use
        (they fill in order from slot 0) and where the next one goes."""
        state = {name: getattr(self, name)[:self.size] for name in self.ARRAYS}
        return {**state, "position": np.array(self.position), "capacity": np.array(self.capacity)}

    def load_state_dict(self, state) -> None:
        """Restore what state_dict() returned; ValueError when it does not fit this memory."""
        size = len(state["actions"])
        for name in self.ARRAYS:
            mine = getattr(self, name)
            saved = np.asarray(state[name])
            if saved.shape != (size, *mine.shape[1:]) or saved.dtype != mine.dtype:
                raise ValueError(f"the saved {name} does not fit this memory")
        if int(state["capacity"]) != self.capacity or not 0 <= int(state["position"]) < self.capacity:
            raise ValueError(f"it was saved with memory_capacity = {int(state['capacity'])}")
        for name in self.ARRAYS:
            getattr(self, name)[:size] = state[name]
        self.size, self.position = size, int(state["position"])


class SumTree:
    """Priorities of ``capacity`` slots in a binary tree whose every node holds the sum of
    its two children.

    Node 1 is the root, node n has children 2n and 2n + 1, the leaves n_leaves ... 2 n_leaves - 1
    are the slots (spare leaves stay 0). Finding where a running total of priorities passes a
    target walks one path from the root: log2(capacity) steps, not a pass over every priority.
    Each node also keeps the largest priority below it: the largest of all is at the root.
    """

    def __init__(self, capacity: int):
        self.depth = max(0, (capacity - 1).bit_length())
        self.n_leaves = 1 << self.depth
        self.sums = np.zeros(2 * self.n_leaves)
        self.maxima = np.zeros(2 * self.n_leaves)
        self.capacity = capacity

    @property
    def leaves(self) -> np.ndarray:
        """(capacity,) the priority of each slot."""
        return self.sums[self.n_leaves:self.n_leaves + self.capacity]

    def total(self) -> float:
        return float(self.sums[1])

    def max(self) -> float:
        return float(self.maxima[1])

    def set(self, slots, values) -> None:
        """slots (B,), values (B,): the leaves, then their ancestors level by level. Each
        parent is recomputed from its two children, so repeated slots stay exact."""
        nodes = np.asarray(slots, np.int64) + self.n_leaves
        self.sums[nodes] = self.maxima[nodes] = values
        for _ in range(self.depth):
            nodes = nodes // 2
            self.sums[nodes] = self.sums[2 * nodes] + self.sums[2 * nodes + 1]
            self.maxima[nodes] = np.maximum(self.maxima[2 * nodes], self.maxima[2 * nodes + 1])

    def find(self, targets: np.ndarray) -> np.ndarray:
        """targets (B,) in [0, total) -> slots (B,): the slot i with
        sum(priorities[:i]) <= target < sum(priorities[:i + 1])."""
        nodes = np.ones(len(targets), np.int64)
        remaining = np.asarray(targets, np.float64)
        for _ in range(self.depth):
            left = 2 * nodes
            # Go right past the left subtree's sum; never into an empty subtree, where
            # rounding could otherwise send a target a hair above the total.
            go_right = (remaining >= self.sums[left]) & (self.sums[left + 1] > 0)
            remaining = np.where(go_right, remaining - self.sums[left], remaining)
            nodes = left + go_right
        return nodes - self.n_leaves


class PrioritizedReplayMemory(ReplayMemory):
    """Proportional prioritized replay: P(i) = p_i^alpha / sum_k p_k^alpha, with
    p_i = |TD error of i| + 1e-6, and importance-sampling weights w_i = (N * P(i))^-beta,
    divided by the batch's largest so that they only ever scale updates down."""

    def __init__(self, capacity: int, n_cells: int, n_extras: int, alpha: float = ALPHA, beta: float = BETA):
        super().__init__(capacity, n_cells, n_extras)
        self.alpha, self.beta = alpha, beta
        self.tree = SumTree(capacity)

    def add(self, state, action: int, reward: float, next_state, done: bool) -> None:
        # A new transition gets the largest priority in memory (1 in an empty one), so that
        # it is surely replayed soon and gets a priority of its own from its TD error.
        self.tree.set([self.position], [self.tree.max() if self.size else 1.0])
        super().add(state, action, reward, next_state, done)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplayBatch:
        """Stratified, as in the paper: the total priority is cut into batch_size equal
        segments and one target drawn in each, so a batch spreads over the memory."""
        segment = self.tree.total() / batch_size
        indices = self.tree.find((np.arange(batch_size) + rng.random(batch_size)) * segment)
        probabilities = self.tree.leaves[indices] / self.tree.total()
        weights = (self.size * probabilities) ** -self.beta
        return self._batch(indices, (weights / weights.max()).astype(np.float32))

    def update_priorities(self, indices, td_errors) -> None:
        """indices (B,) of a batch, td_errors (B,) its TD errors: the new priorities."""
        priorities = (np.abs(np.asarray(td_errors, np.float64)) + PRIORITY_EPSILON) ** self.alpha
        self.tree.set(indices, priorities)

    def state_dict(self) -> dict:
        return {**super().state_dict(), "priorities": self.tree.leaves[:self.size].copy()}

    def load_state_dict(self, state) -> None:
        """A uniform memory's state loads too: every transition then gets priority 1."""
        size = len(state["actions"])
        priorities = np.asarray(state.get("priorities", np.ones(size)), np.float64)
        if priorities.shape != (size,) or not np.all(np.isfinite(priorities) & (priorities >= 0)):
            raise ValueError("the saved priorities do not fit the saved transitions")
        super().load_state_dict(state)
        self.tree.set(np.arange(self.capacity), np.concatenate([priorities, np.zeros(self.capacity - size)]))


def make_replay_memory(capacity: int, n_cells: int, n_extras: int, prioritized: bool) -> ReplayMemory:
    """The replay memory the settings ask for (prioritize_experiences)."""
    return (PrioritizedReplayMemory if prioritized else ReplayMemory)(capacity, n_cells, n_extras)
