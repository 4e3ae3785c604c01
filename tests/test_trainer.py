"""The DQN trainer: real learning, exact resume, checkpoints, logs and messages."""
import json
import random
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from retro_gamer.run import checkpoints as ckpt
from retro_gamer.errors import CheckpointError, ConfigError
from retro_gamer.game.description import GameMetadata
from retro_gamer.run.trainer import DQNTrainer, TrainingInterrupted, grow_input_channels

sys.path.insert(0, str(Path(__file__).parent / "games"))
import reach  # noqa: E402

# Settings under which the reach game is learned in about a second.
FAST = dict(hidden_sizes=[64], batch_size=32, train_every=1, epsilon_decay=0.99, gamma=0.9,
            memory_capacity=5000, target_update_freq=100, learning_rate_decay=1.0)


def reach_metadata(**preprocessing):
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score", character_set=[">", "@"])
    for key, value in preprocessing.items():
        setattr(metadata, key, value)
    return metadata


def make_trainer(run_dir, create_game=reach.create_game, metadata=None, **hyperparams):
    settings = {**FAST, "seed": 7, **hyperparams}
    return DQNTrainer(create_game, metadata or reach_metadata(), run_dir, **settings)


def average_score(trainer, policy, episodes=300):
    """Mean total reward of `policy(trainer, state) -> action index` on fresh games."""
    env, total = trainer.env, 0.0
    for _ in range(episodes):
        env.new_episode()
        for _ in range(reach.TURN_LIMIT + 5):
            reward, done = env.advance(trainer.action_keys[policy(trainer, env.compact_observation())])
            total += reward
            if done:
                break
    return total / episodes


def greedy(trainer, state):
    codes, extras = state
    return int(trainer.agent.online.forward_codes(codes[None], extras[None])[0].argmax())


def uniformly_random(trainer, state):
    return random.randrange(len(trainer.action_keys))


@pytest.mark.parametrize("engine", ["fast", "plain"])
def test_trained_agent_beats_random_play_by_a_wide_margin(tmp_path, engine):
    trainer = make_trainer(tmp_path, training_episodes=500, engine=engine)
    trainer.train()
    random.seed(123)
    trained, baseline = average_score(trainer, greedy), average_score(trainer, uniformly_random)
    # The best possible average is about +7, random play about -4.
    assert trained > 5.0, (trained, baseline)
    assert trained - baseline > 8.0, (trained, baseline)


@pytest.mark.parametrize("options", [
    dict(prioritize_experiences=True),
    dict(double_dqn=True),
])
def test_variants_learn_too(tmp_path, options):
    trainer = make_trainer(tmp_path, training_episodes=500, **options)
    trainer.train()
    random.seed(5)
    assert average_score(trainer, greedy) - average_score(trainer, uniformly_random) > 6.0


def test_cnn_learns_through_the_sparse_convolutions(tmp_path, monkeypatch):
    # reach's 7 x 1 board is too full for the sparse path to pay; take it anyway, so that
    # learning is proven through fast/sparse_conv.py, as on a snake-sized board.
    from retro_gamer.fast import sparse_conv
    monkeypatch.setattr(sparse_conv, "MAX_ACTIVE_SHARE", 1.0)
    calls = []
    forward = sparse_conv.sparse_conv_forward
    monkeypatch.setattr("retro_gamer.fast.network.sparse_conv_forward", lambda *a: calls.append(1) or forward(*a))
    trainer = make_trainer(tmp_path, metadata=reach_metadata(spatial=True), training_episodes=300,
                           hidden_sizes=[16])
    trainer.train()
    random.seed(123)
    trained, baseline = average_score(trainer, greedy), average_score(trainer, uniformly_random)
    assert len(calls) > 1000 and trained > 5.0 and trained - baseline > 8.0, (len(calls), trained, baseline)


def test_the_plain_engine_learns_with_a_cnn_too(tmp_path):
    trainer = make_trainer(tmp_path, metadata=reach_metadata(spatial=True), training_episodes=300,
                           hidden_sizes=[16], engine="plain")
    trainer.train()
    random.seed(123)
    trained, baseline = average_score(trainer, greedy), average_score(trainer, uniformly_random)
    assert trained > 5.0 and trained - baseline > 8.0, (trained, baseline)


def test_cnn_trains_and_checkpoints(tmp_path):
    trainer = make_trainer(tmp_path, metadata=reach_metadata(spatial=True), training_episodes=20,
                           hidden_sizes=[16])
    trainer.train()
    data = ckpt.read_checkpoint(tmp_path / "checkpoints" / "final.npz")
    assert data["model/conv.0.weight"].shape == (32, 2, 3, 3)
    assert data["model/mlp.0.weight"].shape == (16, 64 * 7)


def final_weights(run_dir):
    return ckpt.read_checkpoint(Path(run_dir) / "checkpoints" / "final.npz")


def assert_same_arrays(a, b, skip=("total_training_seconds",)):
    assert sorted(a) == sorted(b)
    for key in a:
        if key not in skip:
            assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("prioritized, engine", [(False, "fast"), (True, "fast"), (True, "plain")])
def test_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one(tmp_path, prioritized, engine):
    settings = dict(prioritize_experiences=prioritized, engine=engine)
    straight = make_trainer(tmp_path / "straight", training_episodes=200, **settings)
    straight.train()

    first = make_trainer(tmp_path / "resumed", training_episodes=100, **settings)
    first.train()
    random.seed(999)  # whatever happens in between must not matter
    np.random.seed(999)
    second = make_trainer(tmp_path / "resumed", training_episodes=200, **settings)
    assert second.resume() == tmp_path / "resumed" / "checkpoints" / "ep_0100.npz"
    assert second.resume_notices == []
    second.train()

    assert_same_arrays(final_weights(tmp_path / "straight"), final_weights(tmp_path / "resumed"))
    log = (tmp_path / "resumed" / "training.log").read_text()
    assert "=== Resumed from ep_0100.npz | " in log


def test_two_runs_with_the_same_seed_are_identical_and_other_seeds_differ(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        make_trainer(tmp_path / name, training_episodes=30, seed=seed).train()
    assert_same_arrays(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"))
    assert not np.array_equal(final_weights(tmp_path / "a")["model/net.0.weight"],
                              final_weights(tmp_path / "c")["model/net.0.weight"])


def test_run_directory_files(tmp_path):
    trainer = make_trainer(tmp_path, training_episodes=250)
    trainer.train()
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["ep_0100.npz", "ep_0200.npz", "ep_0250.npz", "final.npz", "replay_ep_0250.npz"]
    for path in (tmp_path / "checkpoints").iterdir():
        with np.load(path, allow_pickle=False) as archive:  # no pickle anywhere
            assert str(archive["format"]) == ckpt.FORMAT

    data = final_weights(tmp_path)
    assert int(data["episode"]) == 250 and int(data["total_steps"]) == trainer.total_steps
    assert float(data["epsilon"]) == pytest.approx(trainer.epsilon)
    assert float(data["learning_rate"]) == pytest.approx(trainer.agent.optimizer.lr)
    assert json.loads(str(data["config_snapshot"]))["character_set"] == [">", "@"]
    for moment in ("m", "v"):
        assert {k for k in data if k.startswith(f"adam/{moment}/")} == \
            {f"adam/{moment}/{k}" for k in trainer.agent.online.params}

    log = (tmp_path / "training.log").read_text().splitlines()
    assert log[0].startswith("[INIT]")
    assert re.fullmatch(r"=== Training started \| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d ===",
                        next(line for line in log if line.startswith("===")))
    lines = [line for line in log if line.startswith("[ep_")]
    pattern = (r"\[ep_(\d{4})\]  ep=(\d{4})-(\d{4})  avg_reward=[+-]\d+\.\d  avg_steps=\d+  "
               r"epsilon=\d\.\d{3}  avg_loss=\d+\.\d  time=\d+m\d\ds  total=\d+m\d\ds")
    assert [re.fullmatch(pattern, line).groups() for line in lines] == [
        ("0100", "0001", "0100"), ("0200", "0101", "0200"), ("0250", "0201", "0250")]

    rows = (tmp_path / "episodes.csv").read_text().splitlines()
    assert rows[0] == "episode,total_reward,steps,epsilon,avg_loss,seconds"
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(1, 251))
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".tmp-")]


def test_complete_run_does_nothing_more(tmp_path):
    make_trainer(tmp_path, training_episodes=20).train()
    again = make_trainer(tmp_path, training_episodes=20)
    again.resume()
    assert again.complete
    before = (tmp_path / "training.log").read_text()
    again.train()
    assert (tmp_path / "training.log").read_text() == before


def test_ctrl_c_keeps_the_finished_episodes_and_resumes_after_them(tmp_path):
    trainer = make_trainer(tmp_path, training_episodes=200)

    def stop_at_episode_137(stats):
        if stats["episode"] == 137:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as stopped:
        trainer.train(on_episode=stop_at_episode_137)
    assert stopped.value.checkpoint == tmp_path / "checkpoints" / "ep_0137.npz"
    assert int(ckpt.read_checkpoint(stopped.value.checkpoint)["episode"]) == 137
    assert len((tmp_path / "episodes.csv").read_text().splitlines()) == 1 + 137

    resumed = make_trainer(tmp_path, training_episodes=200)
    assert resumed.resume().name == "ep_0137.npz"
    assert resumed.episode == 137
    resumed.train()
    rows = (tmp_path / "episodes.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 201))


def test_resuming_an_earlier_checkpoint_drops_the_later_episode_rows(tmp_path):
    make_trainer(tmp_path, training_episodes=200).train()
    trainer = make_trainer(tmp_path, training_episodes=200)
    trainer.resume("ep_0100")
    assert trainer.episode == 100
    rows = (tmp_path / "episodes.csv").read_text().splitlines()[1:]
    assert int(rows[-1].split(",")[0]) == 100


def test_changed_shape_is_refused_with_the_fields_that_changed(tmp_path):
    make_trainer(tmp_path, training_episodes=100).train()
    changed = make_trainer(tmp_path, training_episodes=200, hidden_sizes=[32],
                           metadata=GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score",
                                                 character_set=[">", "@", "#"]))
    with pytest.raises(CheckpointError) as refused:
        changed.resume()
    message = str(refused.value)
    assert message.startswith("Cannot resume from ep_0100.npz: incompatible changes detected in config.toml.")
    assert "  character_set\n    was : ['>', '@']\n    now : ['>', '@', '#']\n    why : " in message
    assert "  hidden_sizes\n    was : [64]\n    now : [32]" in message
    assert "retro-gamer clean" in message


def test_training_hyperparameters_may_change_on_resume(tmp_path):
    make_trainer(tmp_path, training_episodes=100).train()
    trainer = make_trainer(tmp_path, training_episodes=120, learning_rate=0.0005, batch_size=16)
    trainer.resume()
    trainer.train()
    assert trainer.episode == 120


def test_broken_latest_checkpoint_offers_the_previous_one(tmp_path):
    make_trainer(tmp_path, training_episodes=200).train()
    latest = tmp_path / "checkpoints" / "ep_0200.npz"
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as refused:
        make_trainer(tmp_path, training_episodes=300).resume()
    assert "ep_0200.npz is damaged" in str(refused.value)
    assert "--resume ep_0100" in str(refused.value)


def test_reference_spellings_are_accepted(tmp_path):
    trainer = DQNTrainer(reach.create_game, reach_metadata(), tmp_path, n_layers=3, layer_size=16,
                         lr_decay=0.9, training_episodes=1, seed=1)
    assert trainer.hp["hidden_sizes"] == [16, 16, 16]
    assert trainer.hp["learning_rate_decay"] == 0.9


def test_bad_hyperparameters_are_all_reported_at_once(tmp_path):
    with pytest.raises(ConfigError) as refused:
        DQNTrainer(reach.create_game, reach_metadata(), tmp_path, learning_rate=-1, batch_size=0,
                   gamma=2)
    message = str(refused.value)
    assert "learning_rate" in message and "batch_size" in message and "gamma" in message


def test_cut_episodes_respect_max_turns(tmp_path):
    trainer = make_trainer(tmp_path, training_episodes=10, max_turns_per_episode=3, epsilon=0.0,
                           epsilon_min=0.0)
    steps = []
    trainer.train(on_episode=lambda stats: steps.append(stats["steps"]))
    assert max(steps) <= 3


def test_discovered_characters_are_written_to_config_and_log(tmp_path):
    metadata = GameMetadata(actions=["KEY_LEFT", "KEY_RIGHT"], reward="score")
    trainer = make_trainer(tmp_path, metadata=metadata, training_episodes=1, exploration_turns=50)
    assert trainer.metadata.character_set == [">", "@"]
    assert 'character_set = [">", "@"]' in (tmp_path / "config.toml").read_text()
    assert "found 2 characters" in (tmp_path / "training.log").read_text()


@pytest.mark.parametrize("spatial", [False, True])
def test_grown_input_layer_computes_what_the_old_one_did(spatial):
    from retro_gamer.dqn.network import build_network, one_hot

    old_meta = GameMetadata(actions=["a"], reward="r", character_set=["x", "y"], board_size=(4, 3),
                            spatial=spatial, extras_size=2)
    new_meta = GameMetadata(actions=["a"], reward="r", character_set=["x", "y", "z"], board_size=(4, 3),
                            spatial=spatial, extras_size=2)
    old_net, _ = build_network(old_meta, {"hidden_sizes": [8]}, rng=np.random.default_rng(0))
    new_net, _ = build_network(new_meta, {"hidden_sizes": [8]}, rng=np.random.default_rng(1))
    new_net.load_params(grow_input_channels(old_net.params, new_meta, old_meta.board_shape, 2, 1))
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 3, size=(5, 12)).astype(np.uint8)   # only the old characters
    extras = rng.normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(
        new_net.forward(one_hot(codes, extras, 3, spatial)),
        old_net.forward(one_hot(codes, extras, 2, spatial)), rtol=1e-6)


def test_extend_strategy_grows_the_network_for_a_new_character(tmp_path):
    trainer = make_trainer(tmp_path, create_game=reach.create_game_with_surprise,
                           training_episodes=3, unknown_character_strategy="extend")
    trainer.train()
    assert trainer.metadata.character_set == [">", "@", "?"]
    assert trainer.agent.online.params["net.0.weight"].shape == (64, 3 * 7)
    assert 'character_set = [">", "@", "?"]' in (tmp_path / "config.toml").read_text()
    assert "New character(s) ['?']" in (tmp_path / "training.log").read_text()
    # The grown run resumes: its checkpoint and config agree.
    again = make_trainer(tmp_path, create_game=reach.create_game_with_surprise, training_episodes=5,
                         unknown_character_strategy="extend",
                         metadata=reach_metadata(character_set=[">", "@", "?"]))
    again.resume()
    again.train()


def test_ignore_strategy_keeps_the_character_set(tmp_path):
    trainer = make_trainer(tmp_path, create_game=reach.create_game_with_surprise, training_episodes=3)
    trainer.train()
    assert trainer.metadata.character_set == [">", "@"]


def test_learning_rate_and_epsilon_edited_between_sessions_take_effect(tmp_path):
    make_trainer(tmp_path, training_episodes=100).train()
    untouched = make_trainer(tmp_path, training_episodes=200)
    untouched.resume()
    assert untouched.resume_notices == []
    assert untouched.agent.optimizer.lr == pytest.approx(0.001)   # learning_rate_decay is 1.0 in FAST
    assert untouched.epsilon == pytest.approx(max(0.05, 0.99 ** 100))

    edited = make_trainer(tmp_path, training_episodes=200, learning_rate=0.0002, epsilon=0.5)
    edited.resume()
    assert edited.agent.optimizer.lr == pytest.approx(0.0002) and edited.epsilon == 0.5
    assert len(edited.resume_notices) == 2
    assert "learning_rate was changed in config.toml (0.001 -> 0.0002)" in edited.resume_notices[0]


def test_a_loss_that_runs_away_stops_training_with_advice_and_no_broken_checkpoint(tmp_path):
    from retro_gamer.run.trainer import TrainingDiverged

    def huge_rewards():
        game = reach.create_game()
        game.state["score"] = 0.0
        return game

    trainer = make_trainer(tmp_path, create_game=huge_rewards, training_episodes=300)
    original_advance = trainer.env.advance
    calls = []

    def advance(key):
        reward, done = original_advance(key)
        calls.append(1)
        return (float("inf") if len(calls) > 1500 else reward), done

    trainer.env.advance = advance
    with pytest.raises(TrainingDiverged) as stopped:
        trainer.train()
    message = str(stopped.value)
    assert "the loss became" in message and "learning_rate" in message
    assert "kept in checkpoint" in message
    for path in (tmp_path / "checkpoints").glob("ep_*.npz"):
        data = ckpt.read_checkpoint(path)
        assert all(np.all(np.isfinite(v)) for k, v in data.items() if k.startswith(("model/", "target/")))


def test_a_run_trained_with_one_engine_continues_with_the_other(tmp_path):
    make_trainer(tmp_path, training_episodes=100, engine="fast").train()
    plain = make_trainer(tmp_path, training_episodes=200, engine="plain")
    assert plain.resume().name == "ep_0100.npz" and plain.resume_notices == []
    assert len(plain.agent.memory) == plain.total_steps         # the replay memory came along
    plain.train()
    log = (tmp_path / "training.log").read_text()
    assert "[INIT] Engine: fast" in log and "[INIT] Engine: plain from episode 101" in log
    assert int(final_weights(tmp_path)["episode"]) == 200
    back = make_trainer(tmp_path, training_episodes=300, engine="fast")
    assert back.resume().name == "ep_0200.npz"


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even the trainer's clean-up."""


def test_a_kill_between_the_replay_memory_and_its_checkpoint_leaves_a_consistent_pair(tmp_path, monkeypatch):
    import retro_gamer.run.trainer as trainer_module

    make_trainer(tmp_path, training_episodes=100).train()
    memory_at_100 = make_trainer(tmp_path, training_episodes=100)
    memory_at_100.resume()
    real_save = trainer_module.atomic_save_npz

    def killed_before_the_checkpoint(path, arrays):
        if Path(path).name == "ep_0200.npz":
            raise Killed
        real_save(path, arrays)

    monkeypatch.setattr(trainer_module, "atomic_save_npz", killed_before_the_checkpoint)
    with pytest.raises(Killed):
        make_trainer(tmp_path, training_episodes=200).train()
    monkeypatch.undo()
    assert (tmp_path / "checkpoints" / "replay_ep_0200.npz").exists()      # written before the kill
    again = make_trainer(tmp_path, training_episodes=200)
    assert again.resume().name == "ep_0100.npz" and again.resume_notices == []
    for name in ("state_codes", "actions", "rewards"):
        assert np.array_equal(getattr(again.agent.memory, name), getattr(memory_at_100.agent.memory, name))


def test_a_missing_replay_memory_is_said_in_the_resume_notices(tmp_path):
    make_trainer(tmp_path, training_episodes=100).train()
    (tmp_path / "checkpoints" / "replay_ep_0100.npz").unlink()
    again = make_trainer(tmp_path, training_episodes=200)
    again.resume()
    assert len(again.agent.memory) == 0
    assert "replay memory of ep_0100.npz (replay_ep_0100.npz) is not there" in again.resume_notices[0]
