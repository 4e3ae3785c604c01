"""Replay memory: the agent's store of past turns, replayed at random to train the network.

DQN does not learn from the turn it has just played. Consecutive turns are nearly the
same, and learning from them in order would make the network chase its latest
experience; instead every turn is stored as a transition (state, action, reward,
next state, done) and each training step learns from a batch drawn at random from the
last `capacity` transitions.

- ``ReplayMemory`` draws every stored transition equally often.
- ``PrioritizedReplayMemory`` (Schaul et al. 2016, the "proportional" variant) draws a
  transition more often the more its last TD error showed the network was wrong about it,
  and returns importance-sampling weights that undo the bias this introduces.

How a transition is stored compactly
------------------------------------
A state arrives as a pair (codes, extras): one uint8 board code per cell (the layout is in
observation.py) and the float32 extras. It stays in that form here and is expanded to the
network's float32 one-hot only for the sampled batch, so a snake board costs 512 bytes
instead of 12 KB. Slot i holds the *state* of transition i. Its *next state* is not stored
beside it: while the episode goes on it is the state of transition i+1, already in slot
i+1. There are three exceptions:
  * done (terminal): the TD target is just the reward, the next state is never read,
    so it is not stored at all (the batch shows zeros there);
  * the newest transition of an episode still going on: its next state is not in slot
    i+1 yet, so it waits in the one ``pending`` row until the next add() writes it there;
  * the last transition of an episode cut by max_turns_per_episode (or stopped by an
    interruption): it is not terminal, its target bootstraps from the next state, and no
    later slot holds that state, so it goes to a small side store of ``cut`` rows (one per
    cut episode in memory).
So every state is stored once, one byte per cell: 50,000 snake turns take about 27 MB.
Why the ring buffer may overwrite freely: slots are overwritten in order, so slot i+1 is
overwritten only after transition i itself has left the memory; the one transition whose
next slot is about to be overwritten is the newest, and its next state is in ``pending``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from retro_gamer.errors import CheckpointError

ALPHA = 0.6  # how strongly priorities shape sampling: 0 is uniform, 1 fully proportional
BETA = 0.4  # how much the importance-sampling weights correct for that: 1 corrects fully
PRIORITY_EPSILON = 1e-6  # keeps a transition with zero TD error drawable
# Room for this many cut episodes in memory at once before the side store doubles
# (with the default 2,000-turn limit, 32 rows serve any memory_capacity up to 64,000).
INITIAL_CUT_ROWS = 32


class ReplayBatch(NamedTuple):
    """B sampled transitions, states still compact (expand with observation.expand_observations)."""

    state_codes: np.ndarray  # (B, n_cells) uint8
    state_extras: np.ndarray  # (B, n_extras) float32
    actions: np.ndarray  # (B,) int64
    rewards: np.ndarray  # (B,) float32
    next_codes: np.ndarray  # (B, n_cells) uint8, zeros where done
    next_extras: np.ndarray  # (B, n_extras) float32, zeros where done
    dones: np.ndarray  # (B,) float32, 1.0 = terminal (no future reward)
    weights: np.ndarray | None  # (B,) float32 importance-sampling weights; None when uniform
    indices: np.ndarray  # (B,) int64 slots, to hand back to update_priorities


class ReplayMemory:
    """The last `capacity` transitions in a ring buffer, sampled uniformly with replacement.

    States are (codes, extras) pairs: codes (n_cells,) uint8, extras (n_extras,) float32;
    n_cells is 0 when the observation has no board. Every array is allocated up front,
    except that the side store of cut episodes doubles if ever too small.
    """

    def __init__(self, capacity: int, n_cells: int, n_extras: int):
        if capacity < 1 or n_cells < 0 or n_extras < 0:
            raise ValueError(f"replay memory needs capacity >= 1 and sizes >= 0, got "
                             f"capacity={capacity}, n_cells={n_cells}, n_extras={n_extras}")
        self.capacity, self.n_cells, self.n_extras = capacity, n_cells, n_extras
        # Slot i: transition i's state, action, reward and done flag.
        self.state_codes = np.zeros((capacity, n_cells), dtype=np.uint8)
        self.state_extras = np.zeros((capacity, n_extras), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.dones = np.zeros(capacity, dtype=bool)
        # The next state of the newest transition while its episode goes on.
        self.pending_codes = np.zeros(n_cells, dtype=np.uint8)
        self.pending_extras = np.zeros(n_extras, dtype=np.float32)
        # Final next states of cut episodes; cut_row[i] is transition i's row, -1 if not cut.
        cut_rows = min(INITIAL_CUT_ROWS, capacity)
        self.cut_codes = np.zeros((cut_rows, n_cells), dtype=np.uint8)
        self.cut_extras = np.zeros((cut_rows, n_extras), dtype=np.float32)
        self.cut_row = np.full(capacity, -1, dtype=np.int64)
        self.position = 0  # the slot add() writes next: the oldest transition once full
        self.size = 0
        self.episode_ongoing = False  # True: the newest transition's next state is pending

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes held by the memory's arrays."""
        arrays = (self.state_codes, self.state_extras, self.actions, self.rewards, self.dones,
                  self.pending_codes, self.pending_extras, self.cut_codes, self.cut_extras,
                  self.cut_row)
        return sum(a.nbytes for a in arrays)

    def add(self, state, action: int, reward: float, next_state, done: bool, episode_over: bool) -> None:
        """Store one turn. state, next_state: (codes (n_cells,), extras (n_extras,)) pairs.

        episode_over: the episode ended here, either done (terminal) or cut by the turn limit.
        While an episode goes on, `state` is the previous call's `next_state`; a `state` that
        is not means that episode stopped early, and its last transition is kept as cut.
        """
        codes, extras = state
        next_codes, next_extras = next_state
        if done and not episode_over:
            raise ValueError("add(): a terminal transition (done=True) must also have episode_over=True")
        if self.episode_ongoing and not self._is_pending(codes, extras):
            # The previous episode stopped without episode_over (training was interrupted in the
            # middle of it) and a new one begins: like a cut episode, its last transition keeps
            # its next state for bootstrapping.
            self._store_cut((self.position - 1) % self.capacity, self.pending_codes, self.pending_extras)
        slot = self.position
        self.state_codes[slot] = codes  # while an episode goes on, this moves `pending` into its slot
        self.state_extras[slot] = extras
        self.actions[slot] = action
        self.rewards[slot] = reward
        self.dones[slot] = done
        self.cut_row[slot] = -1  # frees the cut row of the transition overwritten here, if any
        if not episode_over:
            self.pending_codes[:] = next_codes
            self.pending_extras[:] = next_extras
        elif not done:
            self._store_cut(slot, next_codes, next_extras)
        self.episode_ongoing = not episode_over
        self.position = (slot + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def _is_pending(self, codes, extras) -> bool:
        """True when (codes, extras) is the pending next state: the episode goes on.

        Compared byte for byte, in the dtypes the memory stores: the same answer as
        np.array_equal for a state add() copied into `pending`, at a tenth of the cost,
        which matters in a check made on every turn.
        """
        return (np.asarray(codes, np.uint8).tobytes() == self.pending_codes.tobytes()
                and np.asarray(extras, np.float32).tobytes() == self.pending_extras.tobytes())

    def _store_cut(self, slot: int, next_codes: np.ndarray, next_extras: np.ndarray) -> None:
        """Keep the next state of the cut transition in `slot` in a free cut row."""
        row = self._free_cut_row()
        self.cut_codes[row] = next_codes
        self.cut_extras[row] = next_extras
        self.cut_row[slot] = row

    def _free_cut_row(self) -> int:
        # A scan of cut_row, but it runs once per cut episode, not once per turn.
        in_use = np.zeros(len(self.cut_codes), dtype=bool)
        in_use[self.cut_row[self.cut_row >= 0]] = True
        free = np.flatnonzero(~in_use)
        if free.size:
            return int(free[0])
        # More cut episodes in memory than rows (short turn limit): double the side store.
        # It never needs more than `capacity` rows, one per stored transition.
        rows = len(self.cut_codes)
        extra = max(1, min(rows, self.capacity - rows))
        self.cut_codes = np.concatenate([self.cut_codes, np.zeros((extra, self.n_cells), np.uint8)])
        self.cut_extras = np.concatenate([self.cut_extras, np.zeros((extra, self.n_extras), np.float32)])
        return rows

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplayBatch:
        """batch_size transitions drawn uniformly with replacement (weights None)."""
        self._check_not_empty()
        indices = rng.integers(0, self.size, size=batch_size, dtype=np.int64)
        return self._gather(indices, weights=None)

    def update_priorities(self, indices, td_errors) -> None:
        """Uniform sampling has no priorities: nothing to do."""

    def shift_codes(self, from_code: int, by: int) -> None:
        """Renumber stored boards after `by` channels were inserted before code `from_code`'s channel.

        An egocentric crop's off-board channel is the last one; when the character set grows,
        its code moves up, and boards stored earlier must follow or they would show walls as
        one of the new characters. Every code >= from_code goes up by `by`.
        """
        if from_code + by > 255:
            raise ValueError(f"board codes are uint8 (at most 255): cannot move code {from_code} up by {by}")
        for codes in (self.state_codes, self.pending_codes, self.cut_codes):
            codes[codes >= from_code] += by

    def _check_not_empty(self) -> None:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay memory: add() some turns first")

    def _gather(self, indices: np.ndarray, weights: np.ndarray | None) -> ReplayBatch:
        """The batch of the transitions in slots `indices` (B,), next states found as the module docstring says."""
        next_slots = (indices + 1) % self.capacity
        next_codes = self.state_codes[next_slots]
        next_extras = self.state_extras[next_slots]
        # The exceptions are rare in a batch: each masked copy runs only when one is there.
        rows = self.cut_row[indices]
        cut = rows >= 0
        if cut.any():
            next_codes[cut] = self.cut_codes[rows[cut]]
            next_extras[cut] = self.cut_extras[rows[cut]]
        if self.episode_ongoing:
            newest = indices == (self.position - 1) % self.capacity
            if newest.any():
                next_codes[newest] = self.pending_codes
                next_extras[newest] = self.pending_extras
        dones = self.dones[indices]
        if dones.any():
            next_codes[dones] = 0  # slot i+1 already holds the next episode's first state
            next_extras[dones] = 0.0
        return ReplayBatch(
            state_codes=self.state_codes[indices], state_extras=self.state_extras[indices],
            actions=self.actions[indices], rewards=self.rewards[indices],
            next_codes=next_codes, next_extras=next_extras, dones=dones.astype(np.float32),
            weights=weights, indices=indices)

    # The arrays with one entry per slot. Until the memory is full, only the first `size`
    # slots are in use (they fill in order), and only those are saved.
    SLOT_ARRAYS = ("state_codes", "state_extras", "actions", "rewards", "dones", "cut_row")

    def state_dict(self, copy: bool = True) -> dict[str, np.ndarray]:
        """Everything needed to restore the memory exactly; plain numeric arrays (np.savez-able).

        The per-slot arrays hold the `size` slots in use. copy=False gives views of the
        memory's own arrays, for a caller that saves them at once (a checkpoint): copying
        25 MB first would only cost time.
        """
        keep = np.copy if copy else np.asarray
        state = {name: keep(getattr(self, name)[:self.size]) for name in self.SLOT_ARRAYS}
        state.update({
            "capacity": np.array(self.capacity, dtype=np.int64),
            "pending_codes": keep(self.pending_codes), "pending_extras": keep(self.pending_extras),
            "cut_codes": keep(self.cut_codes), "cut_extras": keep(self.cut_extras),
            "position": np.array(self.position, dtype=np.int64), "size": np.array(self.size, dtype=np.int64),
            "episode_ongoing": np.array(self.episode_ongoing),
        })
        return state

    def load_state_dict(self, d) -> None:
        """Restore from state_dict()'s arrays; CheckpointError if they were saved for other sizes."""
        self._check_saved_shapes(d)
        # Older checkpoints saved every slot, used or not; the unused ones were empty.
        saved = len(d["actions"])
        for name in self.SLOT_ARRAYS:
            array = getattr(self, name)
            array[:saved] = d[name]
            array[saved:] = -1 if name == "cut_row" else 0
        self.pending_codes[:] = d["pending_codes"]
        self.pending_extras[:] = d["pending_extras"]
        self.cut_codes = np.array(d["cut_codes"], dtype=np.uint8)
        self.cut_extras = np.array(d["cut_extras"], dtype=np.float32)
        self.position = int(d["position"])
        self.size = int(d["size"])
        self.episode_ongoing = bool(d["episode_ongoing"])

    def _check_saved_shapes(self, d) -> None:
        cap, cells, extras = self.capacity, self.n_cells, self.n_extras
        cut_rows = np.shape(d["cut_codes"])[0] if "cut_codes" in d else 0
        # Saved: the slots in use; older checkpoints saved all of them, and no capacity.
        if "capacity" in d:
            saved_capacity, slots = int(d["capacity"]), int(d["size"]) if "size" in d else 0
        else:
            saved_capacity = slots = len(d["actions"]) if "actions" in d else cap
        expected = {
            "state_codes": (slots, cells), "state_extras": (slots, extras), "actions": (slots,),
            "rewards": (slots,), "dones": (slots,), "pending_codes": (cells,), "pending_extras": (extras,),
            "cut_codes": (cut_rows, cells), "cut_extras": (cut_rows, extras), "cut_row": (slots,),
            "position": (), "size": (), "episode_ongoing": (),
        }
        problems = [f"  - it was saved with memory_capacity={saved_capacity}"] if saved_capacity != cap else []
        problems += [f"  - {name} is missing" for name in expected if name not in d]
        problems += [f"  - {name} has shape {np.shape(d[name])}, this memory needs {shape}"
                     for name, shape in expected.items()
                     if name in d and np.shape(d[name]) != shape and saved_capacity == cap]
        if not problems and not (0 <= int(d["size"]) <= cap and 0 <= int(d["position"]) < cap):
            problems.append(f"  - size {int(d['size'])} / position {int(d['position'])} do not fit capacity {cap}")
        if problems:
            raise CheckpointError(
                f"The saved replay memory does not fit this run's memory (memory_capacity={cap}, "
                f"{cells} board cells, {extras} extra values per state):\n" + "\n".join(problems) + "\n"
                "It was saved with another memory_capacity or another observation (board size, character "
                "set, observe_state). Resume with the config.toml it was saved with, or start training "
                "from scratch so the memory is refilled.")


class SumTree:
    """Priorities of `capacity` slots in a binary tree whose every node holds the sum of its children.

    Node 1 is the root, node n has children 2n and 2n+1, and the leaves n_leaves..2*n_leaves-1
    are the slots (n_leaves is capacity rounded up to a power of two; extra leaves stay 0).
    Finding the slot where a running total of priorities passes a target walks one path from
    the root, log2(capacity) steps instead of a pass over all priorities. Each node also keeps
    the maximum of its subtree, so the largest priority is always at the root.
    """

    def __init__(self, capacity: int):
        self.depth = max(0, (capacity - 1).bit_length())
        self.n_leaves = 1 << self.depth
        self.sums = np.zeros(2 * self.n_leaves, dtype=np.float64)
        self.maxima = np.zeros(2 * self.n_leaves, dtype=np.float64)
        self.capacity = capacity

    @property
    def leaves(self) -> np.ndarray:
        """(capacity,) the priority of each slot (a view)."""
        return self.sums[self.n_leaves:self.n_leaves + self.capacity]

    def total(self) -> float:
        return float(self.sums[1])

    def max(self) -> float:
        return float(self.maxima[1])

    def set(self, slot: int, value: float) -> None:
        """One slot's priority, then its ancestors. A plain loop: for one slot it is
        several times faster than the batched NumPy version below."""
        node = slot + self.n_leaves
        self.sums[node] = self.maxima[node] = value
        sums, maxima = self.sums, self.maxima
        for _ in range(self.depth):
            node //= 2
            sums[node] = sums[2 * node] + sums[2 * node + 1]
            maxima[node] = max(maxima[2 * node], maxima[2 * node + 1])

    def set_many(self, slots: np.ndarray, values: np.ndarray) -> None:
        """slots (B,) int, values (B,): all B paths to the root are updated level by level.

        Each parent is recomputed from its two children, so a slot repeated in `slots` (the
        last value wins) and two slots sharing an ancestor both leave exact sums.
        """
        nodes = np.asarray(slots, dtype=np.int64) + self.n_leaves
        self.sums[nodes] = values
        self.maxima[nodes] = values
        for _ in range(self.depth):
            nodes = nodes // 2
            left = 2 * nodes
            self.sums[nodes] = self.sums[left] + self.sums[left + 1]
            self.maxima[nodes] = np.maximum(self.maxima[left], self.maxima[left + 1])

    def find(self, targets: np.ndarray) -> np.ndarray:
        """targets (B,) in [0, total) -> slots (B,) int64: the slot i with
        sum(priorities[:i]) <= target < sum(priorities[:i+1]).

        All B targets walk down together: at each level a target goes right when it lies
        past the left subtree's sum, and leaves that sum behind.
        """
        nodes = np.ones(len(targets), dtype=np.int64)
        remaining = np.asarray(targets, dtype=np.float64)
        for _ in range(self.depth):
            left = 2 * nodes
            left_sums = self.sums[left]
            # Never step into an empty subtree: rounding can leave a target a hair above the total.
            go_right = (remaining >= left_sums) & (self.sums[left + 1] > 0)
            remaining = np.where(go_right, remaining - left_sums, remaining)
            nodes = left + go_right
        return nodes - self.n_leaves


class PrioritizedReplayMemory(ReplayMemory):
    """Proportional prioritized replay: P(i) = p_i^alpha / sum_k p_k^alpha, p_i = |TD error_i| + 1e-6.

    The sum-tree holds p_i^alpha per slot. sample() returns importance-sampling weights
    w_i = (N * P(i))^-beta / max_batch(w): prioritized draws over-represent surprising
    transitions, and weighting their loss down keeps the update closer to the uniform one.
    """

    def __init__(self, capacity: int, n_cells: int, n_extras: int, alpha: float = ALPHA, beta: float = BETA):
        super().__init__(capacity, n_cells, n_extras)
        self.alpha, self.beta = alpha, beta
        self.tree = SumTree(capacity)

    @property
    def nbytes(self) -> int:
        return super().nbytes + self.tree.sums.nbytes + self.tree.maxima.nbytes

    def add(self, state, action: int, reward: float, next_state, done: bool, episode_over: bool) -> None:
        # A new transition gets the largest priority in memory, so it is sure to be replayed
        # soon and get a priority of its own from its TD error (1.0 when the memory is empty).
        priority = self.tree.max() if self.size else 1.0
        slot = self.position
        super().add(state, action, reward, next_state, done, episode_over)
        self.tree.set(slot, priority)

    def sample(self, batch_size: int, rng: np.random.Generator) -> ReplayBatch:
        """batch_size transitions drawn in proportion to priority, with their importance-sampling weights.

        Stratified, as in the PER paper: the total priority is cut into batch_size equal
        segments and one target is drawn uniformly in each, so a batch spreads over the memory.
        """
        self._check_not_empty()
        total = self.tree.total()
        segment = total / batch_size
        targets = (np.arange(batch_size) + rng.random(batch_size)) * segment
        indices = self.tree.find(targets)
        probabilities = self.tree.leaves[indices] / total
        weights = (self.size * probabilities) ** -self.beta
        weights /= weights.max()
        return self._gather(indices, weights.astype(np.float32))

    def update_priorities(self, indices, td_errors) -> None:
        """indices (B,) from the batch, td_errors (B,): priority = |TD error| + 1e-6."""
        priorities = np.abs(np.asarray(td_errors, dtype=np.float64)) + PRIORITY_EPSILON
        self.tree.set_many(indices, priorities ** self.alpha)

    def state_dict(self, copy: bool = True) -> dict[str, np.ndarray]:
        d = super().state_dict(copy)
        # p^alpha per slot in use; the tree is rebuilt from them
        d["priorities"] = np.array(self.tree.leaves[:self.size], copy=copy)
        return d

    def load_state_dict(self, d) -> None:
        """Restore; a uniform memory's arrays load too, every stored transition getting priority 1.0."""
        if "priorities" in d and "actions" in d and np.shape(d["priorities"]) != np.shape(d["actions"]):
            raise CheckpointError(
                f"The saved replay memory has {len(d['actions'])} transitions but priorities of shape "
                f"{np.shape(d['priorities'])}: the file was not written by this package, or was damaged. "
                "Resume from an earlier checkpoint, or start training from scratch.")
        super().load_state_dict(d)
        priorities = np.zeros(self.capacity)
        if "priorities" in d:
            priorities[:len(d["priorities"])] = d["priorities"]
        else:
            priorities[:self.size] = 1.0
        self.tree.set_many(np.arange(self.capacity), priorities)


def make_replay_memory(capacity: int, n_cells: int, n_extras: int, prioritized: bool) -> ReplayMemory:
    """The replay memory the config asks for (prioritize_experiences)."""
    if prioritized:
        return PrioritizedReplayMemory(capacity, n_cells, n_extras)
    return ReplayMemory(capacity, n_cells, n_extras)
