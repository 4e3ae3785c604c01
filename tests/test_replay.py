"""Replay memory: compact storage checked against a plain list of full transitions,
prioritized sampling checked against its formulas, and exact save/restore."""
from __future__ import annotations

import io
from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retro_gamer.errors import CheckpointError
from retro_gamer.replay import (
    ALPHA, BETA, PRIORITY_EPSILON, PrioritizedReplayMemory, ReplayBatch, ReplayMemory, SumTree,
    make_replay_memory,
)


# ---------------------------------------------------------------- helpers

def make_state(state_id: int, n_cells: int, n_extras: int = 2):
    """A state that knows its own id: extras[0] = id, codes derived from the id."""
    codes = ((state_id * 7 + np.arange(n_cells) * 3) % 6).astype(np.uint8)
    extras = np.full(n_extras, -0.5, dtype=np.float32)
    extras[0] = state_id
    return codes, extras


class Player:
    """Plays episodes into a memory and into a reference deque of full (s, a, r, s', done) tuples."""

    def __init__(self, memory: ReplayMemory, n_cells: int):
        self.memory, self.n_cells = memory, n_cells
        self.reference = deque(maxlen=memory.capacity)
        self.next_id = 0

    def new_state(self):
        self.next_id += 1
        return make_state(self.next_id, self.n_cells)

    def episode(self, length: int, ending: str, after_each_turn=None):
        state = self.new_state()
        for turn in range(length):
            last = turn == length - 1
            done = last and ending == "done"
            next_state = self.new_state()
            action, reward = self.next_id % 5, float(self.next_id) / 4
            over = last and ending != "stopped"
            self.memory.add(state, action, reward, next_state, done=done, episode_over=over)
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
    codes = np.array([t[0][0] for t in transitions]).reshape(batch.state_codes.shape)
    np.testing.assert_array_equal(batch.state_codes, codes)
    np.testing.assert_array_equal(batch.state_extras, np.array([t[0][1] for t in transitions]))
    np.testing.assert_array_equal(batch.actions, [t[1] for t in transitions])
    np.testing.assert_array_equal(batch.rewards, np.array([t[2] for t in transitions], dtype=np.float32))
    dones = np.array([t[4] for t in transitions], dtype=bool)
    np.testing.assert_array_equal(batch.dones, dones.astype(np.float32))
    # A terminal transition's next state is never read, so only the others are compared.
    next_codes = np.array([t[3][0] for t in transitions]).reshape(batch.next_codes.shape)
    next_extras = np.array([t[3][1] for t in transitions])
    np.testing.assert_array_equal(batch.next_codes[~dones], next_codes[~dones])
    np.testing.assert_array_equal(batch.next_extras[~dones], next_extras[~dones])
    return set(state_ids)


# ---------------------------------------------------------------- the compact storage, against the reference

# "stopped": the episode ends without episode_over, as when training is interrupted mid-episode.
episode_lists = st.lists(st.tuples(st.integers(1, 12), st.sampled_from(["done", "cut", "stopped"])),
                         min_size=1, max_size=40)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(capacity=st.integers(7, 50), n_cells=st.integers(0, 5), prioritized=st.booleans(),
       episodes=episode_lists, seed=st.integers(0, 2**32 - 1))
def test_every_sample_matches_the_reference(capacity, n_cells, prioritized, episodes, seed):
    memory = make_replay_memory(capacity, n_cells, 2, prioritized)
    player = Player(memory, n_cells)
    rng = np.random.default_rng(seed)

    def sample_and_check():
        assert len(memory) == len(player.reference)
        batch = memory.sample(16, rng)
        check_batch(batch, player.reference)
        if prioritized:  # shuffle the priorities so every kind of slot gets drawn
            memory.update_priorities(batch.indices, rng.normal(size=16) * 10)

    for length, ending in episodes:
        player.episode(length, ending, after_each_turn=sample_and_check)

    # With this many draws every transition in memory shows up (miss chance < 50 * 0.98**4000).
    memory.update_priorities(np.arange(len(memory)), np.ones(len(memory)))
    drawn = check_batch(memory.sample(4000, rng), player.reference)
    assert drawn == {int(t[0][1][0]) for t in player.reference}


@pytest.mark.parametrize("capacity", [1, 2, 3])
@pytest.mark.parametrize("prioritized", [False, True])
def test_tiny_memories(capacity, prioritized):
    memory = make_replay_memory(capacity, 3, 2, prioritized)
    player = Player(memory, 3)
    rng = np.random.default_rng(capacity)

    def sample_and_check():
        check_batch(memory.sample(8, rng), player.reference)

    for length, ending in [(3, "cut"), (1, "done"), (2, "done"), (1, "cut"), (4, "cut"), (2, "cut")]:
        player.episode(length, ending, after_each_turn=sample_and_check)


def test_many_short_cut_episodes_grow_the_side_store():
    # 120 one-turn cut episodes in a memory of 50: every stored transition needs its own cut row.
    memory = ReplayMemory(50, 4, 2)
    player = Player(memory, 4)
    for _ in range(120):
        player.episode(1, "cut")
    assert len(memory.cut_codes) == 50
    rng = np.random.default_rng(0)
    drawn = check_batch(memory.sample(3000, rng), player.reference)
    assert len(drawn) == 50


def test_no_board_only_extras():
    memory = ReplayMemory(5, 0, 2)
    player = Player(memory, 0)
    player.episode(4, "cut")
    player.episode(3, "done")
    batch = memory.sample(200, np.random.default_rng(1))
    assert batch.state_codes.shape == (200, 0) and batch.next_codes.shape == (200, 0)
    check_batch(batch, player.reference)


def test_each_state_is_stored_once():
    # A 10-turn episode that goes on: 10 states in their slots, the 11th in `pending`, no cut rows used.
    memory = ReplayMemory(20, 3, 2)
    player = Player(memory, 3)
    state = player.new_state()
    for _ in range(10):
        next_state = player.new_state()
        memory.add(state, 0, 0.0, next_state, done=False, episode_over=False)
        state = next_state
    assert memory.state_extras[:10, 0].tolist() == list(range(1, 11))
    assert memory.pending_extras[0] == 11
    assert (memory.cut_row == -1).all()


def test_batch_shapes_and_dtypes():
    memory = ReplayMemory(10, 6, 2)
    Player(memory, 6).episode(7, "done")
    batch = memory.sample(5, np.random.default_rng(0))
    assert batch.weights is None
    assert batch.state_codes.shape == (5, 6) and batch.state_codes.dtype == np.uint8
    assert batch.state_extras.dtype == np.float32 and batch.next_extras.dtype == np.float32
    assert batch.actions.dtype == np.int64 and batch.indices.dtype == np.int64
    assert batch.rewards.dtype == np.float32 and batch.dones.dtype == np.float32


def test_terminal_next_state_is_zeros():
    # Slot 1 holds the next episode's first state, which is not the terminal transition's next state.
    memory = ReplayMemory(4, 3, 2)
    player = Player(memory, 3)
    player.episode(1, "done")
    player.episode(2, "cut")
    batch = memory.sample(50, np.random.default_rng(0))
    terminal = batch.dones == 1.0
    assert terminal.any() and memory.state_codes[1].any()
    assert not batch.next_codes[terminal].any() and not batch.next_extras[terminal].any()


def test_terminal_must_end_the_episode():
    memory = ReplayMemory(5, 2, 2)
    with pytest.raises(ValueError, match="episode_over=True"):
        memory.add(make_state(1, 2), 0, 0.0, make_state(2, 2), done=True, episode_over=False)


def test_resume_after_an_interrupted_episode():
    # Ctrl-C in the middle of an episode saves the memory with its episode going on; the
    # resumed run starts a new episode. The interrupted transition keeps its next state.
    memory = PrioritizedReplayMemory(6, 3, 2)
    player = Player(memory, 3)
    player.episode(4, "done")
    player.episode(3, "stopped")
    assert memory.episode_ongoing
    restored = PrioritizedReplayMemory(6, 3, 2)
    restored.load_state_dict(save_and_load(memory.state_dict()))
    player.memory = restored
    player.episode(2, "cut")
    assert len(restored) == 6
    drawn = check_batch(restored.sample(500, np.random.default_rng(0)), player.reference)
    assert drawn == {int(t[0][1][0]) for t in player.reference}


def test_shift_codes_renumbers_every_stored_board():
    # Egocentric crop with 2 characters: codes 1, 2, and 3 = off-board. Two characters are
    # added before the off-board channel, which becomes code 5.
    memory = ReplayMemory(6, 4, 2)
    board = np.array([0, 1, 2, 3], dtype=np.uint8)
    extras = np.zeros(2, np.float32)
    memory.add((board, extras), 0, 0.0, (board, extras + 1), done=False, episode_over=True)  # cut row
    memory.add((board, extras), 0, 0.0, (board, extras + 2), done=False, episode_over=False)  # pending
    memory.shift_codes(from_code=3, by=2)
    shifted = [0, 1, 2, 5]
    np.testing.assert_array_equal(memory.state_codes[:2], [shifted, shifted])
    np.testing.assert_array_equal(memory.pending_codes, shifted)
    np.testing.assert_array_equal(memory.cut_codes[memory.cut_row[0]], shifted)
    assert not memory.state_codes[2:].any()
    batch = memory.sample(20, np.random.default_rng(0))
    assert (batch.next_codes == shifted).all()


def test_empty_memory_cannot_be_sampled():
    for memory in (ReplayMemory(5, 2, 2), PrioritizedReplayMemory(5, 2, 2)):
        with pytest.raises(ValueError, match="empty"):
            memory.sample(4, np.random.default_rng(0))


# ---------------------------------------------------------------- the sum-tree

@pytest.mark.parametrize("capacity", [1, 2, 5, 8, 37])
def test_sum_tree_find_agrees_with_a_cumulative_sum(capacity):
    # Integer priorities keep every sum exact, so the tree must agree with searchsorted exactly.
    rng = np.random.default_rng(capacity)
    tree = SumTree(capacity)
    priorities = rng.integers(0, 5, size=capacity).astype(np.float64)
    priorities[0] = 1.0
    tree.set_many(np.arange(capacity), priorities)
    assert tree.total() == priorities.sum() and tree.max() == priorities.max()
    targets = rng.random(500) * priorities.sum()
    targets[:2] = [0.0, priorities.sum() - 1e-9]
    if capacity > 1:
        targets[2] = priorities[0]  # exactly on a boundary: the interval [p0, p0+p1) is slot 1's
    expected = np.searchsorted(np.cumsum(priorities), targets, side="right")
    np.testing.assert_array_equal(tree.find(targets), expected)


def test_sum_tree_single_and_batched_updates_agree():
    rng = np.random.default_rng(3)
    one_by_one, batched = SumTree(13), SumTree(13)
    for _ in range(5):
        slots = rng.integers(0, 13, size=6)
        values = rng.random(6)
        for slot, value in zip(slots, values):  # the last value of a repeated slot wins
            one_by_one.set(int(slot), value)
        batched.set_many(slots, values)
        np.testing.assert_array_equal(one_by_one.sums, batched.sums)
        np.testing.assert_array_equal(one_by_one.maxima, batched.maxima)
    assert batched.total() == pytest.approx(batched.leaves.sum())


def test_target_just_above_total_lands_on_a_real_slot():
    tree = SumTree(6)
    tree.set_many(np.arange(3), np.array([0.1, 0.2, 0.3]))
    assert tree.find(np.array([tree.total() * (1 + 1e-12)]))[0] == 2


# ---------------------------------------------------------------- prioritized sampling

def filled_prioritized(capacity=10, td_errors=None):
    memory = PrioritizedReplayMemory(capacity, 3, 2)
    Player(memory, 3).episode(capacity, "done")
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
    player.episode(1, "done")
    assert memory.tree.leaves[0] == 1.0  # empty memory: priority 1
    memory.update_priorities(np.array([0]), np.array([3.0]))
    player.episode(2, "cut")
    expected = (3.0 + PRIORITY_EPSILON) ** ALPHA
    assert memory.tree.leaves[1] == memory.tree.leaves[2] == pytest.approx(expected)
    memory.update_priorities(np.arange(3), np.array([0.5, 0.2, 0.1]))
    player.episode(1, "done")
    assert memory.tree.leaves[3] == pytest.approx((0.5 + PRIORITY_EPSILON) ** ALPHA)


def test_uniform_memory_has_no_weights_and_ignores_priorities():
    memory = ReplayMemory(10, 3, 2)
    Player(memory, 3).episode(10, "done")
    memory.update_priorities(np.arange(10), np.arange(10.0))
    first = memory.sample(1000, np.random.default_rng(0))
    assert first.weights is None
    assert np.bincount(first.indices, minlength=10).min() > 60


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
    for length, ending in [(5, "cut"), (6, "done"), (4, "cut"), (3, "done")]:
        player.episode(length, ending)
    original.update_priorities(np.arange(12), np.linspace(0.1, 3, 12))
    # Save in the middle of an episode, so `pending` matters too.
    state = player.new_state()
    next_state = player.new_state()
    original.add(state, 1, 0.5, next_state, done=False, episode_over=False)

    restored = make_replay_memory(capacity, 4, 2, prioritized)
    restored.load_state_dict(save_and_load(original.state_dict()))
    assert len(restored) == len(original) and restored.nbytes == original.nbytes

    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    assert batches_equal(original.sample(20, rng_a), restored.sample(20, rng_b))
    later = player.new_state()
    for memory in (original, restored):
        memory.add(next_state, 2, -1.0, later, done=True, episode_over=True)
        memory.update_priorities(np.array([3, 7]), np.array([4.0, 0.01]))
    for _ in range(3):
        assert batches_equal(original.sample(20, rng_a), restored.sample(20, rng_b))


@pytest.mark.parametrize("prioritized", [False, True])
def test_only_the_slots_in_use_are_saved_and_older_full_size_files_still_load(prioritized):
    memory = make_replay_memory(50, 4, 2, prioritized)
    Player(memory, 4).episode(7, "done")
    state = memory.state_dict()
    assert state["state_codes"].shape == (7, 4) and state["cut_row"].shape == (7,)
    # The first session's files held every slot, the unused ones empty, and no capacity.
    older = {name: value for name, value in state.items() if name != "capacity"}
    for name, fill in [("state_codes", 0), ("state_extras", 0), ("actions", 0), ("rewards", 0), ("dones", 0),
                       ("cut_row", -1)] + ([("priorities", 0)] if prioritized else []):
        full = np.full((50, *state[name].shape[1:]), fill, state[name].dtype)
        full[:7] = state[name]
        older[name] = full
    new, old = make_replay_memory(50, 4, 2, prioritized), make_replay_memory(50, 4, 2, prioritized)
    new.load_state_dict(save_and_load(state))
    old.load_state_dict(save_and_load(older))
    assert batches_equal(new.sample(30, np.random.default_rng(1)), old.sample(30, np.random.default_rng(1)))
    for name in ReplayMemory.SLOT_ARRAYS:
        np.testing.assert_array_equal(getattr(new, name), getattr(old, name), err_msg=name)


def test_state_dict_is_plain_arrays():
    memory = PrioritizedReplayMemory(5, 2, 2)
    Player(memory, 2).episode(3, "cut")
    for name, value in memory.state_dict().items():
        assert isinstance(value, np.ndarray) and value.dtype != object, name


def test_uniform_memory_loads_into_a_prioritized_one():
    uniform = ReplayMemory(8, 2, 2)
    Player(uniform, 2).episode(5, "done")
    prioritized = PrioritizedReplayMemory(8, 2, 2)
    prioritized.load_state_dict(uniform.state_dict())
    np.testing.assert_array_equal(prioritized.tree.leaves, [1, 1, 1, 1, 1, 0, 0, 0])
    assert set(prioritized.sample(500, np.random.default_rng(0)).indices) == set(range(5))


def test_mismatched_sizes_raise_a_checkpoint_error():
    saved = ReplayMemory(8, 4, 2).state_dict()
    with pytest.raises(CheckpointError, match="memory_capacity=10") as error:
        ReplayMemory(10, 4, 2).load_state_dict(saved)
    assert "it was saved with memory_capacity=8" in str(error.value)
    with pytest.raises(CheckpointError, match="pending_codes"):
        ReplayMemory(8, 5, 2).load_state_dict(saved)
    with pytest.raises(CheckpointError, match="memory_capacity=8"):
        PrioritizedReplayMemory(10, 4, 2).load_state_dict(PrioritizedReplayMemory(8, 4, 2).state_dict())
    damaged = PrioritizedReplayMemory(8, 2, 2)
    Player(damaged, 2).episode(3, "done")
    damaged = damaged.state_dict()
    damaged["priorities"] = damaged["priorities"][:2]
    with pytest.raises(CheckpointError, match="priorities"):
        PrioritizedReplayMemory(8, 2, 2).load_state_dict(damaged)
    del saved["rewards"]
    with pytest.raises(CheckpointError, match="rewards is missing"):
        ReplayMemory(8, 4, 2).load_state_dict(saved)


# ---------------------------------------------------------------- size

@pytest.mark.parametrize("prioritized", [False, True])
def test_snake_sized_memory_fits_in_60_megabytes(prioritized):
    memory = make_replay_memory(50_000, 512, 2, prioritized)
    assert memory.nbytes <= 60_000_000
