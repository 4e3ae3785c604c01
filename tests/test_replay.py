"""dqn/replay.py: the replay memory checked against a plain list of transitions, prioritized
sampling against its formulas, the sum-tree against a cumulative sum, and exact save/restore."""
import io
from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retro_gamer.dqn.replay import (ALPHA, BETA, PRIORITY_EPSILON, PrioritizedReplayMemory, ReplayBatch,
                                    ReplayMemory, SumTree, make_replay_memory)


# ---------------------------------------------------------------- helpers

def make_state(state_id: int, n_cells: int, n_extras: int = 2):
    """A state that knows its own id: extras[0] = id, codes derived from the id."""
    codes = ((state_id * 7 + np.arange(n_cells) * 3) % 6).astype(np.uint8)
    extras = np.full(n_extras, -0.5, dtype=np.float32)
    extras[0] = state_id
    return codes, extras


class Player:
    """Plays episodes into a memory and into a reference deque of (s, a, r, s', done) tuples."""

    def __init__(self, memory: ReplayMemory, n_cells: int):
        self.memory, self.n_cells = memory, n_cells
        self.reference = deque(maxlen=memory.capacity)
        self.next_id = 0

    def new_state(self):
        self.next_id += 1
        return make_state(self.next_id, self.n_cells)

    def episode(self, length: int, ends_in_done: bool = True, after_each_turn=None):
        state = self.new_state()
        for turn in range(length):
            done = ends_in_done and turn == length - 1
            next_state = self.new_state()
            action, reward = self.next_id % 5, float(self.next_id) / 4
            self.memory.add(state, action, reward, next_state, done)
            self.reference.append((state, action, reward, next_state, done))
            if after_each_turn:
                after_each_turn()
            state = next_state


def check_batch(batch: ReplayBatch, reference) -> set[int]:
    """Every sampled transition equals the reference transition with the same state id."""
    live = {int(t[0][1][0]): t for t in reference}
    state_ids = batch.state_extras[:, 0].astype(int).tolist()
    gone = set(state_ids) - set(live)
    assert not gone, f"sampled states {gone}, which are no longer in memory"
    transitions = [live[i] for i in state_ids]
    for got, expected in [(batch.state_codes, [t[0][0] for t in transitions]),
                          (batch.state_extras, [t[0][1] for t in transitions]),
                          (batch.actions, [t[1] for t in transitions]),
                          (batch.rewards, np.array([t[2] for t in transitions], np.float32)),
                          (batch.next_codes, [t[3][0] for t in transitions]),
                          (batch.next_extras, [t[3][1] for t in transitions]),
                          (batch.dones, np.array([t[4] for t in transitions], np.float32))]:
        np.testing.assert_array_equal(got, np.array(expected).reshape(got.shape))
    return set(state_ids)


# ---------------------------------------------------------------- the memory, against the reference

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capacity=st.integers(1, 30), n_cells=st.integers(0, 5), prioritized=st.booleans(),
       episodes=st.lists(st.tuples(st.integers(1, 12), st.booleans()), min_size=1, max_size=20),
       seed=st.integers(0, 2**32 - 1))
def test_every_sample_matches_the_reference(capacity, n_cells, prioritized, episodes, seed):
    memory = make_replay_memory(capacity, n_cells, 2, prioritized)
    assert isinstance(memory, PrioritizedReplayMemory) == prioritized
    player = Player(memory, n_cells)
    rng = np.random.default_rng(seed)

    def sample_and_check():
        assert len(memory) == len(player.reference)
        batch = memory.sample(16, rng)
        check_batch(batch, player.reference)
        if prioritized:  # shuffle the priorities so every kind of slot gets drawn
            memory.update_priorities(batch.indices, rng.normal(size=16) * 10)

    for length, ends_in_done in episodes:
        player.episode(length, ends_in_done, after_each_turn=sample_and_check)

    # With this many draws every transition in memory shows up (miss chance < 30 * (29/30)**4000).
    memory.update_priorities(np.arange(len(memory)), np.ones(len(memory)))
    drawn = check_batch(memory.sample(4000, rng), player.reference)
    assert drawn == {int(t[0][1][0]) for t in player.reference}


def test_batch_shapes_and_dtypes():
    for memory in (ReplayMemory(10, 6, 2), PrioritizedReplayMemory(10, 6, 2)):
        Player(memory, 6).episode(7)
        batch = memory.sample(5, np.random.default_rng(0))
        assert batch.state_codes.shape == batch.next_codes.shape == (5, 6)
        assert batch.state_extras.shape == batch.next_extras.shape == (5, 2)
        assert batch.state_codes.dtype == batch.next_codes.dtype == np.uint8
        assert batch.state_extras.dtype == batch.next_extras.dtype == np.float32
        assert batch.actions.dtype == np.int64 and batch.indices.dtype == np.int64
        assert batch.rewards.dtype == np.float32 and batch.dones.dtype == np.float32
        assert all(a.shape == (5,) for a in (batch.actions, batch.rewards, batch.dones, batch.indices))
        assert batch.weights is None if type(memory) is ReplayMemory else batch.weights.shape == (5,)


def test_the_ring_overwrites_the_oldest_transitions():
    memory = ReplayMemory(4, 3, 2)
    player = Player(memory, 3)
    player.episode(6, ends_in_done=False)              # 6 turns into 4 slots: the first 2 are gone
    assert len(memory) == 4 and memory.position == 2
    # Slots 0 and 1 hold turns 5 and 6, slots 2 and 3 turns 3 and 4 (turn k starts in state k).
    np.testing.assert_array_equal(memory.state_extras[:, 0], [5, 6, 3, 4])
    np.testing.assert_array_equal(memory.next_extras[:, 0], [6, 7, 4, 5])
    drawn = check_batch(memory.sample(400, np.random.default_rng(0)), player.reference)
    assert drawn == {3, 4, 5, 6}


def test_terminal_transitions_are_marked_done_and_keep_their_next_state():
    memory = ReplayMemory(8, 3, 2)
    player = Player(memory, 3)
    player.episode(1)                                   # a one-turn episode that ends the game
    player.episode(3, ends_in_done=False)               # cut by the turn limit: not done
    batch = memory.sample(200, np.random.default_rng(0))
    terminal = batch.dones == 1.0
    assert terminal.any() and (~terminal).any()
    np.testing.assert_array_equal(batch.state_extras[terminal, 0], 1)
    check_batch(batch, player.reference)


def test_no_board_only_extras():
    memory = ReplayMemory(5, 0, 2)
    player = Player(memory, 0)
    player.episode(4, ends_in_done=False)
    player.episode(3)
    batch = memory.sample(200, np.random.default_rng(1))
    assert batch.state_codes.shape == (200, 0) and batch.next_codes.shape == (200, 0)
    check_batch(batch, player.reference)


def test_uniform_memory_has_no_weights_and_ignores_priorities():
    memory = ReplayMemory(10, 3, 2)
    Player(memory, 3).episode(10)
    memory.update_priorities(np.arange(10), np.arange(10.0))
    batch = memory.sample(1000, np.random.default_rng(0))
    assert batch.weights is None
    counts = np.bincount(batch.indices, minlength=10)
    assert counts.min() > 60 and counts.max() < 140


# ---------------------------------------------------------------- the sum-tree

@pytest.mark.parametrize("capacity", [1, 2, 5, 8, 37])
def test_sum_tree_find_agrees_with_a_cumulative_sum(capacity):
    # Integer priorities keep every sum exact, so the tree must agree with searchsorted exactly.
    rng = np.random.default_rng(capacity)
    tree = SumTree(capacity)
    priorities = rng.integers(0, 5, size=capacity).astype(np.float64)
    priorities[0] = 1.0
    tree.set(np.arange(capacity), priorities)
    assert tree.total() == priorities.sum() and tree.max() == priorities.max()
    np.testing.assert_array_equal(tree.leaves, priorities)
    targets = rng.random(500) * priorities.sum()
    targets[:2] = [0.0, priorities.sum() - 1e-9]
    if capacity > 1:
        targets[2] = priorities[0]  # exactly on a boundary: the interval [p0, p0+p1) is slot 1's
    expected = np.searchsorted(np.cumsum(priorities), targets, side="right")
    np.testing.assert_array_equal(tree.find(targets), expected)


def test_sum_tree_set_with_repeated_slots_keeps_every_node_exact():
    rng = np.random.default_rng(3)
    batched, one_by_one = SumTree(13), SumTree(13)
    for _ in range(5):
        slots = rng.integers(0, 13, size=8)
        slots[1] = slots[0]                              # a batch often holds the same slot twice
        values = rng.integers(1, 9, size=8).astype(np.float64)
        values[1] = values[0]                            # (the same transition: the same TD error)
        batched.set(slots, values)
        for slot, value in zip(slots, values):
            one_by_one.set([slot], [value])
        np.testing.assert_array_equal(batched.sums, one_by_one.sums)
        np.testing.assert_array_equal(batched.maxima, one_by_one.maxima)
        # Every inner node is the sum (and the max) of its two children.
        inner = np.arange(1, batched.n_leaves)
        np.testing.assert_array_equal(batched.sums[inner],
                                      batched.sums[2 * inner] + batched.sums[2 * inner + 1])
        np.testing.assert_array_equal(batched.maxima[inner],
                                      np.maximum(batched.maxima[2 * inner], batched.maxima[2 * inner + 1]))
    assert batched.total() == batched.leaves.sum() and batched.max() == batched.leaves.max()


def test_target_just_above_total_lands_on_a_real_slot():
    tree = SumTree(6)
    tree.set(np.arange(3), np.array([0.1, 0.2, 0.3]))
    assert tree.find(np.array([tree.total() * (1 + 1e-12)]))[0] == 2


# ---------------------------------------------------------------- prioritized sampling

def filled_prioritized(capacity=10, td_errors=None):
    memory = PrioritizedReplayMemory(capacity, 3, 2)
    Player(memory, 3).episode(capacity)
    if td_errors is not None:
        memory.update_priorities(np.arange(capacity), td_errors)
    return memory


def test_sampling_frequencies_follow_priorities():
    td_errors = np.array([0.0, 0.1, 0.5, 1.0, 2.0, 4.0, -3.0, 0.2, 8.0, 0.05])
    memory = filled_prioritized(10, td_errors)
    rng = np.random.default_rng(11)
    counts = np.zeros(10)
    for _ in range(300):
        counts += np.bincount(memory.sample(64, rng).indices, minlength=10)
    p = (np.abs(td_errors) + PRIORITY_EPSILON) ** ALPHA
    expected = counts.sum() * p / p.sum()
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 30.0, (counts, expected)  # 9 degrees of freedom: 99.9% quantile is 27.9


def test_importance_weights_match_the_formula():
    td_errors = np.array([0.3, 1.0, 2.0, 0.01, 5.0, 0.7, 1.5, 0.0, 3.0, 0.4])
    memory = filled_prioritized(10, td_errors)
    batch = memory.sample(32, np.random.default_rng(5))
    p = (np.abs(td_errors) + PRIORITY_EPSILON) ** ALPHA
    probabilities = p[batch.indices] / p.sum()
    w = (10 * probabilities) ** -BETA
    np.testing.assert_allclose(batch.weights, w / w.max(), rtol=1e-6)
    assert batch.weights.dtype == np.float32 and batch.weights.max() == 1.0
    assert len(set(batch.indices)) > 1


def test_update_priorities_changes_the_distribution():
    memory = filled_prioritized(10, np.full(10, 0.1))
    rng = np.random.default_rng(2)
    before = np.bincount(memory.sample(1000, rng).indices, minlength=10)
    memory.update_priorities(np.array([4]), np.array([50.0]))
    after = np.bincount(memory.sample(1000, rng).indices, minlength=10)
    assert before[4] < 200 and after[4] > 800  # p_4 ~ 0.94 after the update


def test_new_experiences_get_the_current_maximum_priority():
    memory = PrioritizedReplayMemory(6, 2, 2)
    player = Player(memory, 2)
    player.episode(1)
    assert memory.tree.leaves[0] == 1.0  # empty memory: priority 1
    memory.update_priorities(np.array([0]), np.array([3.0]))
    player.episode(2)
    expected = (3.0 + PRIORITY_EPSILON) ** ALPHA
    assert memory.tree.leaves[1] == memory.tree.leaves[2] == pytest.approx(expected)
    memory.update_priorities(np.arange(3), np.array([0.5, 0.2, 0.1]))
    player.episode(1)
    assert memory.tree.leaves[3] == pytest.approx((0.5 + PRIORITY_EPSILON) ** ALPHA)


# ---------------------------------------------------------------- save and restore

def save_and_load(d: dict) -> dict:
    buffer = io.BytesIO()
    np.savez(buffer, **d)
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def batches_equal(a: ReplayBatch, b: ReplayBatch) -> bool:
    return all((x is None and y is None) or np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("capacity", [12, 40])       # 12: full and wrapped around; 40: partly filled
@pytest.mark.parametrize("prioritized", [False, True])
def test_state_dict_round_trip_gives_identical_future(prioritized, capacity):
    original = make_replay_memory(capacity, 4, 2, prioritized)
    player = Player(original, 4)
    for length, ends_in_done in [(5, False), (6, True), (4, False), (3, True)]:
        player.episode(length, ends_in_done)
    original.update_priorities(np.arange(12), np.linspace(0.1, 3, 12))

    restored = make_replay_memory(capacity, 4, 2, prioritized)
    restored.load_state_dict(save_and_load(original.state_dict()))
    assert len(restored) == len(original) and restored.position == original.position
    assert restored.nbytes == original.nbytes

    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert batches_equal(original.sample(20, rng_a), restored.sample(20, rng_b))
    for memory in (original, restored):
        memory.add(make_state(100, 4), 2, -1.0, make_state(101, 4), True)    # lands in the same slot
        memory.update_priorities(np.array([3, 7]), np.array([4.0, 0.01]))
    for _ in range(3):
        assert batches_equal(original.sample(20, rng_a), restored.sample(20, rng_b))


@pytest.mark.parametrize("prioritized", [False, True])
def test_only_the_slots_in_use_are_saved(prioritized):
    memory = make_replay_memory(50, 4, 2, prioritized)
    Player(memory, 4).episode(7)
    state = memory.state_dict()
    for name in ReplayMemory.ARRAYS:
        assert len(state[name]) == 7, name
    assert state["state_codes"].shape == (7, 4) and int(state["capacity"]) == 50
    if prioritized:
        assert state["priorities"].shape == (7,)
    for name, value in state.items():           # plain arrays: np.load(allow_pickle=False) reads them
        assert isinstance(value, np.ndarray) and value.dtype != object, name


def test_uniform_memory_loads_into_a_prioritized_one():
    uniform = ReplayMemory(8, 2, 2)
    Player(uniform, 2).episode(5)
    prioritized = PrioritizedReplayMemory(8, 2, 2)
    prioritized.load_state_dict(save_and_load(uniform.state_dict()))
    np.testing.assert_array_equal(prioritized.tree.leaves, [1, 1, 1, 1, 1, 0, 0, 0])
    assert set(prioritized.sample(500, np.random.default_rng(0)).indices) == set(range(5))


def test_mismatched_sizes_raise_a_value_error():
    saved = ReplayMemory(8, 4, 2)
    Player(saved, 4).episode(3)
    saved = saved.state_dict()
    with pytest.raises(ValueError, match="memory_capacity = 8"):
        ReplayMemory(10, 4, 2).load_state_dict(saved)
    with pytest.raises(ValueError, match="state_codes"):
        ReplayMemory(8, 5, 2).load_state_dict(saved)                   # another board size
    with pytest.raises(ValueError, match="state_extras"):
        ReplayMemory(8, 4, 3).load_state_dict(saved)                   # other extras
    with pytest.raises(ValueError, match="memory_capacity = 8"):
        PrioritizedReplayMemory(10, 4, 2).load_state_dict(PrioritizedReplayMemory(8, 4, 2).state_dict())
    damaged = PrioritizedReplayMemory(8, 2, 2)
    Player(damaged, 2).episode(3)
    damaged = damaged.state_dict()
    damaged["priorities"] = damaged["priorities"][:2]
    with pytest.raises(ValueError, match="priorities"):
        PrioritizedReplayMemory(8, 2, 2).load_state_dict(damaged)


# ---------------------------------------------------------------- size

@pytest.mark.parametrize("prioritized", [False, True])
def test_snake_sized_memory_fits_in_64_megabytes(prioritized):
    # 50,000 transitions of snake's 32 x 16 board and 2 extras: a byte per cell, both states.
    memory = make_replay_memory(50_000, 512, 2, prioritized)
    size = memory.nbytes + (memory.tree.sums.nbytes + memory.tree.maxima.nbytes if prioritized else 0)
    assert 50_000 * 2 * 512 < size < 64 * 2**20
