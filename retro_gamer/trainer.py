"""The DQN trainer: play, remember, learn, and save — the whole algorithm in one place.

Read ``_play_episode`` and ``_learn`` top to bottom: they are Deep Q-Learning as it is
taught (Mnih et al., 2015).

    for every turn:
        choose an action, epsilon-greedy on the online network's Q-values
        play it; store (state, action, reward, next_state, done) in the replay memory
        every `train_every` turns, learn from a random batch of remembered turns:
            td_target = r + gamma * max_a Q_target(s', a) * (1 - done)
            loss      = Huber(Q_online(s, a), td_target)
            backprop, clip the gradient norm to 10, Adam step
        every `target_update_freq` learning steps, copy the online network into the target network
    after every episode: decay epsilon (and the learning rate, if the episode learned)

Everything around that loop is bookkeeping: checkpoints every 100 episodes, a log line
per checkpoint, exact resume, and never losing finished work on Ctrl-C.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import random
import signal
import threading
import time
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from retro_gamer import checkpoints as ckpt
from retro_gamer.blas import blas_threads
from retro_gamer.config import resolve_hyperparams, save_trainer_config
from retro_gamer.environment import GameEnvironment, discover_characters
from retro_gamer.errors import CheckpointError, ConfigError, GameError, RetroGamerError
from retro_gamer.files import (atomic_save_npz, atomic_write_bytes, atomic_write_text, describe_write_error,
                               remove_temporaries)
from retro_gamer.losses import huber_loss
from retro_gamer.metadata import GameMetadata, problem_report
from retro_gamer.network import build_network
from retro_gamer.optim import Adam, clip_grad_norm
from retro_gamer.replay import make_replay_memory

CHECKPOINT_EVERY = 100
# [training] values that decay during training: editing one between sessions restarts it
# from the edited value (see _apply_edited_starting_values).
EDITABLE_STARTING_VALUES = ("learning_rate", "epsilon")
MAX_GRAD_NORM = 10.0
EPISODES_CSV_HEADER = "episode,total_reward,steps,epsilon,avg_loss,seconds\n"

# Settings that fix the network's shape or the meaning of its inputs and outputs.
# A checkpoint trained with other values cannot be resumed: the weights would not fit,
# or they would answer a different question. Each comes with the reason a user reads.
SHAPE_FIXING_FIELDS = {
    "actions": "the actions the agent can take (changes the output layer size)",
    "reward": "the reward signal: Q-values learned for the old reward mean nothing for the new one",
    "character_set": "the set of board characters (changes input layer size)",
    "board_size": "the board dimensions (changes input layer size)",
    "observation_function": "how observations are computed (changes the input)",
    "spatial": "CNN or MLP (changes the network architecture)",
    "board": "whether the board is part of the observation (changes input layer size)",
    "observe_state": "the game-state values appended to the observation (changes input layer size)",
    "observe_state_sizes": "how many numbers each observe_state key holds (changes input layer size)",
    "egocentric": "whether the board is cropped around the player (changes the input)",
    "egocentric_player": "which agent the egocentric crop follows (changes what the input means)",
    "egocentric_radius": "the size of the egocentric crop (changes input layer size)",
    "hidden_sizes": "the hidden layer sizes (changes the network's shape)",
}


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training; ``checkpoint`` is the file that kept the finished episodes."""

    def __init__(self, checkpoint: Path | None, episode: int):
        super().__init__(f"training stopped after episode {episode}")
        self.checkpoint = checkpoint
        self.episode = episode


class TrainingDiverged(RetroGamerError):
    """The loss became NaN or infinite: the Q-values have run away."""

    def __init__(self, loss, learning_rate=None):
        if isinstance(loss, str):         # re-raised with more words
            super().__init__(loss)
            return
        super().__init__(
            f"Training stopped: the loss became {loss}, so the Q-values have run away and any "
            f"further step would fill the network with NaN. This happens when the learning rate "
            f"is too high for the game (learning_rate = {learning_rate}) or when its rewards are "
            f"very large. Lower learning_rate ten times in config.toml (or scale the game's "
            f"rewards down), then run 'retro-gamer clean RUN_DIR' and train again."
        )


class DQNTrainer:
    """Trains a Deep Q-Network to play one game, writing everything into ``run_dir``.

    ``create_game``: zero-argument function returning a new ``retro.game.Game``.
    ``metadata``: the game's GameMetadata. ``preprocessing``: the [preprocessing] settings
    (spatial, board, observe_state, egocentric, ...). ``hyperparams``: any [training] or
    [model] key (also the reference page's spellings n_layers, layer_size, lr_decay).
    """

    def __init__(
        self,
        create_game: Callable,
        metadata: GameMetadata,
        run_dir: str | Path,
        preprocessing: dict | None = None,
        **hyperparams,
    ):
        self.hp = resolve_hyperparams(hyperparams)
        self.metadata = _apply_preprocessing(metadata, preprocessing or {})
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = self.run_dir / ckpt.CHECKPOINT_DIR
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)

        # One seed fixes everything random: the games (they use Python's `random`),
        # character discovery, exploration and replay sampling (NumPy's generator).
        seed = self.hp.get("seed")
        if seed is not None:
            random.seed(seed)
        self.rng = np.random.default_rng(seed)

        if self.metadata.uses_board and not self.metadata.character_set:
            self.metadata.character_set = discover_characters(
                create_game, self.metadata.actions, self.hp["exploration_turns"], self.rng
            )
            self.discovered_characters = True
        else:
            self.discovered_characters = False

        self.env = GameEnvironment(
            create_game, self.metadata,
            unknown_character_strategy=self.hp["unknown_character_strategy"],
        )
        self.env.measure_observation()  # sets metadata.extras_size and observe_state_sizes
        # The agent presses one of the actions, or nothing: the no-op is the last output.
        self.action_keys = list(self.metadata.actions) + [None]

        self.online_network, self.rationale = build_network(self.metadata, self.hp, rng=self.rng)
        self.target_network, _ = build_network(self.metadata, self.hp, rng=self.rng)
        self.target_network.load_params(self.online_network.params)
        self.optimizer = Adam(self.online_network.params, lr=self.hp["learning_rate"])
        self.memory = self._new_memory()

        self.epsilon = float(self.hp["epsilon"])
        self.total_steps = 0        # turns played, over all sessions
        self.train_steps = 0        # learning steps (gradient updates)
        self.episode = 0            # last finished episode
        self.total_training_seconds = 0.0
        self.resumed_from: Path | None = None
        self.resume_notices: list[str] = []
        self._episode_rows: list[str] = []   # episodes.csv rows not yet written

        save_trainer_config(self.run_dir, self.metadata, self.hp)
        self.log_path = self.run_dir / "training.log"
        if not self.log_path.exists():
            lines = [self.rationale]
            if self.discovered_characters:
                lines.append(
                    f"[INIT] character_set was not given: found {len(self.metadata.character_set)} "
                    f"characters in {self.hp['exploration_turns']} random turns: {self.metadata.character_set}"
                )
            atomic_write_text(self.log_path, "\n".join(lines) + "\n")

    # ------------------------------------------------------------------ building blocks

    def _new_memory(self):
        n_cells = self.env.n_cells
        return make_replay_memory(
            self.hp["memory_capacity"], n_cells, self.metadata.extras_size,
            self.hp["prioritize_experiences"],
        )

    @property
    def start_episode(self) -> int:
        """The first episode the next call to train() will play."""
        return self.episode + 1

    @property
    def complete(self) -> bool:
        return self.episode >= self.hp["training_episodes"]

    @property
    def learning_rate(self) -> float:
        return self.optimizer.lr

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> "DQNTrainer":
        """A trainer for the run described by ``run_dir/config.toml``."""
        from retro_gamer.config import read_config
        from retro_gamer.games import load_game_factory

        config = read_config(run_dir)
        create_game = load_game_factory(config.game)
        return cls(create_game, config.metadata, run_dir, **config.hyperparams)

    # ------------------------------------------------------------------ the DQN algorithm

    def choose_action(self, state) -> int:
        """Epsilon-greedy: explore with probability epsilon, otherwise take the best-looking action."""
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(len(self.action_keys)))
        codes, extras = state
        return int(self.online_network.forward_one(codes, extras).argmax())

    def _play_episode(self) -> dict:
        """Play one episode, learning as it goes. Returns its statistics."""
        started = time.perf_counter()
        self.env.new_episode()
        state = self.env.compact_observation()
        total_reward, losses, turn = 0.0, [], 0
        # Read once, not on every turn.
        max_turns, train_every, batch_size = (
            self.hp["max_turns_per_episode"], self.hp["train_every"], self.hp["batch_size"])
        for turn in range(1, max_turns + 1):
            action = self.choose_action(state)
            reward, done = self.env.advance(self.action_keys[action])
            next_state = self.env.compact_observation()
            if self.env.new_characters:
                state = self._extend_character_set(state)
                next_state = self.env.compact_observation()
            # An episode cut by max_turns_per_episode did not really end: its last
            # transition still bootstraps from next_state, so it is not marked done.
            episode_over = done or turn == max_turns
            self.memory.add(state, action, reward, next_state, done, episode_over)
            self.total_steps += 1
            total_reward += reward

            if self.total_steps % train_every == 0 and len(self.memory) >= batch_size:
                losses.append(self._learn())

            state = next_state  # easy to overlook: the next turn starts from here
            if done:
                break
        return {
            "total_reward": total_reward,
            "steps": turn,
            "avg_loss": float(np.mean(losses)) if losses else 0.0,
            "learned": bool(losses),
            "seconds": time.perf_counter() - started,
        }

    def _learn(self) -> float:
        """One learning step on a random batch from the replay memory. Returns the loss."""
        batch = self.memory.sample(self.hp["batch_size"], self.rng)
        rows = np.arange(len(batch.actions))

        # The TD target comes from the target network: a copy that stays still between
        # refreshes, so the network is not chasing a target that moves with every step.
        next_q = self.target_network.forward_codes(batch.next_codes, batch.next_extras)
        if self.hp["double_dqn"]:
            # Double DQN: the online network chooses the next action and the target
            # network values it; taking the max of one noisy estimate overestimates Q.
            best = self.online_network.forward_codes(batch.next_codes, batch.next_extras).argmax(axis=1)
            next_value = next_q[rows, best]
        else:
            next_value = next_q.max(axis=1)
        td_target = batch.rewards + self.hp["gamma"] * next_value * (1.0 - batch.dones)

        q_values = self.online_network.forward_codes(batch.state_codes, batch.state_extras)
        q_taken = q_values[rows, batch.actions]
        loss, dq_taken = huber_loss(q_taken, td_target, batch.weights)
        if not np.isfinite(loss):
            raise TrainingDiverged(loss, self.hp["learning_rate"])   # before the weights take it in
        # Only the Q-value of the action that was taken gets a gradient.
        dq = np.zeros_like(q_values)
        dq[rows, batch.actions] = dq_taken
        grads = self.online_network.backward(dq)
        clip_grad_norm(grads, MAX_GRAD_NORM)
        self.optimizer.step(grads)
        self.memory.update_priorities(batch.indices, q_taken - td_target)

        self.train_steps += 1
        if self.train_steps % self.hp["target_update_freq"] == 0:
            self.target_network.load_params(self.online_network.params)
        return float(loss)

    # ------------------------------------------------------------------ the training loop

    def train(self, on_checkpoint: Callable | None = None, on_episode: Callable | None = None) -> None:
        """Play episodes until ``training_episodes`` are done.

        Saves a checkpoint every 100 episodes and at the end (also as final.npz).
        ``on_episode(stats)`` is called after each episode and ``on_checkpoint(stats)``
        after each checkpoint. Finished episodes are never lost: on Ctrl-C they are saved
        in a checkpoint and TrainingInterrupted is raised; when the game crashes they are
        saved and the GameError says where; when a file cannot be written (a full disk)
        a CheckpointError says what failed, and the checkpoints already saved are intact.
        """
        # An MLP's matrix products are small: one BLAS thread is faster (see blas.py).
        with blas_threads(None if self.metadata.spatial else 1):
            self._train(on_checkpoint, on_episode)

    def _train(self, on_checkpoint, on_episode) -> None:
        if self.complete:
            return
        header = (
            f"=== Resumed from {self.resumed_from.name}" if self.resumed_from else "=== Training started"
        )
        self._saved_episode = self.episode
        self._saved_checkpoint = self.resumed_from
        block: list[dict] = []
        block_started = time.perf_counter()
        try:
            self._append_log(f"{header} | {datetime.now():%Y-%m-%d %H:%M:%S} ===")
            while not self.complete:
                stats = self._play_episode()
                # A finished episode is counted entirely or not at all: a Ctrl-C in the
                # middle of its bookkeeping would save a checkpoint without its csv row.
                with _interrupts_deferred():
                    self._finish_episode(stats, block)
                if on_episode:
                    on_episode(stats)
                if self.episode % CHECKPOINT_EVERY == 0 or self.complete:
                    summary = self._checkpoint(block, time.perf_counter() - block_started)
                    block, block_started = [], time.perf_counter()
                    if on_checkpoint:
                        on_checkpoint(summary)
        except KeyboardInterrupt:
            self._keep_finished_episodes(block, block_started)
            raise TrainingInterrupted(self._saved_checkpoint, self._saved_episode) from None
        except (GameError, TrainingDiverged) as error:
            # The episode that failed is lost; the ones before it are not.
            self._keep_finished_episodes(block, block_started)
            raise type(error)(f"{error}\n\n{self._kept_sentence()}") from error
        except BrokenPipeError:
            # Whoever read the progress lines stopped reading (train RUN | head): keep the work.
            self._keep_finished_episodes(block, block_started)
            raise
        except OSError as error:
            raise CheckpointError(self._write_failed_message(error)) from error
        except Exception:
            # Whatever else stopped training (a callback, a bug), the finished episodes are
            # saved first; if even that fails, the original error is the one worth seeing.
            with contextlib.suppress(Exception):
                self._keep_finished_episodes(block, block_started)
            raise

    def _finish_episode(self, stats: dict, block: list[dict]) -> None:
        """Count a played episode: decay epsilon (and the learning rate, if it learned), record it."""
        self.episode += 1
        self.epsilon = max(self.hp["epsilon_min"], self.epsilon * self.hp["epsilon_decay"])
        if stats["learned"]:
            self.optimizer.lr *= self.hp["learning_rate_decay"]
        stats.update(episode=self.episode, epsilon=self.epsilon)
        block.append(stats)
        self._episode_rows.append(
            f"{self.episode},{stats['total_reward']:.6g},{stats['steps']},{self.epsilon:.6g},"
            f"{stats['avg_loss']:.6g},{stats['seconds']:.4f}\n"
        )

    def _keep_finished_episodes(self, block: list[dict], block_started: float) -> None:
        """After training stopped early, save the episodes finished since the last checkpoint."""
        if self.episode == self._saved_episode:
            return
        try:
            self._checkpoint(block, time.perf_counter() - block_started)
        except KeyboardInterrupt:
            # A second Ctrl-C was held back until the checkpoint was complete.
            pass
        except OSError as error:
            raise CheckpointError(self._write_failed_message(error)) from error

    def _kept_sentence(self) -> str:
        if self._saved_checkpoint is None:
            return "No episode had finished, so there was nothing to keep."
        return (f"Episodes 1-{self._saved_episode} are kept in checkpoint {self._saved_checkpoint.name}; "
                f"'retro-gamer train {self.run_dir}' resumes from there.")

    def _write_failed_message(self, error: OSError) -> str:
        if self._saved_checkpoint is None:
            kept = "No checkpoint had been saved yet, so training will start again from episode 1."
        else:
            kept = (f"The checkpoints already saved are intact: the latest, {self._saved_checkpoint.name}, "
                    f"holds episodes 1-{self._saved_episode}.")
        return (f"{describe_write_error(error)}\nTraining stopped after episode {self.episode}. {kept}\n"
                f"Then run 'retro-gamer train {self.run_dir}' to resume.")

    def _checkpoint(self, block: list[dict], seconds: float) -> dict:
        """Save ep_NNNN.npz (and final.npz at the end), the replay memory, episodes.csv and a log line."""
        with _interrupts_deferred():
            return self._write_checkpoint(block, seconds)

    def _write_checkpoint(self, block: list[dict], seconds: float) -> dict:
        # The order matters to a process killed halfway. episodes.csv goes first: rows of
        # episodes that no checkpoint holds are dropped again on resume. The checkpoint
        # goes before final.npz, the replay memory and the log line, which refer to it.
        self.total_training_seconds += seconds
        name = ckpt.checkpoint_name(self.episode)
        path = self.checkpoint_dir / f"{name}.npz"
        self._write_episode_rows()
        arrays = self._checkpoint_arrays()
        atomic_save_npz(path, arrays)
        self._saved_episode, self._saved_checkpoint = self.episode, path
        if self.complete:
            atomic_save_npz(self.checkpoint_dir / "final.npz", arrays)
        replay = {f"memory/{k}": v for k, v in self.memory.state_dict(copy=False).items()}
        atomic_save_npz(self.checkpoint_dir / ckpt.REPLAY_FILE, ckpt.save_arrays({
            "episode": np.array(self.episode), **replay,
        }))

        learned = [s["avg_loss"] for s in block if s["learned"]]
        summary = {
            "name": name,
            "episode": self.episode,
            "first_episode": self.episode - len(block) + 1,
            "avg_reward": float(np.mean([s["total_reward"] for s in block])) if block else 0.0,
            "avg_steps": float(np.mean([s["steps"] for s in block])) if block else 0.0,
            "epsilon": self.epsilon,
            "avg_loss": float(np.mean(learned)) if learned else 0.0,
            "seconds": seconds,
            "total_seconds": self.total_training_seconds,
        }
        summary["line"] = (
            f"[{name}]  ep={summary['first_episode']:04d}-{self.episode:04d}"
            f"  avg_reward={summary['avg_reward']:+.1f}"
            f"  avg_steps={summary['avg_steps']:.0f}"
            f"  epsilon={self.epsilon:.3f}"
            f"  avg_loss={summary['avg_loss']:.1f}"
            f"  time={format_duration(seconds)}"
            f"  total={format_duration(self.total_training_seconds)}"
        )
        self._append_log(summary["line"])
        return summary

    def _checkpoint_arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"model/{k}": v for k, v in self.online_network.params.items()}
        arrays.update({f"target/{k}": v for k, v in self.target_network.params.items()})
        arrays.update(_adam_arrays(self.optimizer.state_dict()))
        py_version, py_state, py_gauss = random.getstate()
        arrays.update({
            "epsilon": np.array(self.epsilon),
            "total_steps": np.array(self.total_steps),
            "train_steps": np.array(self.train_steps),
            "episode": np.array(self.episode),
            "total_training_seconds": np.array(self.total_training_seconds),
            "rng/python": np.array(json.dumps([py_version, list(py_state), py_gauss])),
            "rng/numpy": np.array(json.dumps(self.rng.bit_generator.state)),
            "config_snapshot": np.array(json.dumps(self.config_snapshot())),
            "starting_values": np.array(json.dumps({key: self.hp[key] for key in EDITABLE_STARTING_VALUES})),
        })
        return ckpt.save_arrays(arrays)

    # ------------------------------------------------------------------ resuming

    def config_snapshot(self) -> dict:
        """The shape-fixing settings, stored in every checkpoint for the compatibility check."""
        current = {f.name: getattr(self.metadata, f.name) for f in fields(self.metadata)}
        current["hidden_sizes"] = list(self.hp["hidden_sizes"])
        snapshot = {key: current.get(key) for key in SHAPE_FIXING_FIELDS}
        # JSON has no tuples: compare lists with lists.
        return json.loads(json.dumps(snapshot))

    def resume(self, checkpoint: str | Path | None = None) -> Path | None:
        """Load the named checkpoint, or the latest one. Returns the file loaded, or None.

        Temporary files that a killed process left behind are deleted first; they are
        never loaded. When the checkpoint cannot be read, the error names the newest
        earlier checkpoint that can.
        """
        for folder in (self.run_dir, self.checkpoint_dir):
            remove_temporaries(folder)
        if checkpoint is None:
            path = ckpt.latest_checkpoint(self.run_dir)
        else:
            path = ckpt.resolve_checkpoint(self.run_dir, str(checkpoint))
        if path is None:
            # A fresh start: rows a killed session wrote before its first checkpoint go.
            self._truncate_episode_log(0)
            return None
        try:
            data = ckpt.read_checkpoint(path, path.name)
        except CheckpointError as error:
            raise CheckpointError(self._unreadable_message(error, path)) from None
        self._restore(data, path)
        final = self.checkpoint_dir / "final.npz"
        if self.complete and not final.is_file():
            # A process killed between the last checkpoint and final.npz: finish its work.
            atomic_write_bytes(final, path.read_bytes())
        return path

    def _unreadable_message(self, error: CheckpointError, path: Path) -> str:
        previous = ckpt.previous_checkpoint(self.run_dir, path)
        if previous is None:
            return f"{error}\n\nThe file is {path}; no earlier checkpoint of this run can be read."
        return (
            f"{error}\n\nThe file is {path}. The previous checkpoint, {previous.name}, reads "
            f"correctly: resume from it with 'retro-gamer train {self.run_dir} --resume {previous.stem}' "
            f"(training then writes {path.name} again when it gets there), or move {path.name} "
            f"out of the folder."
        )

    def load_checkpoint(self, path: str | Path) -> None:
        """Restore everything a checkpoint holds, so training continues exactly where it stopped."""
        path = Path(path)
        self._restore(ckpt.read_checkpoint(path, path.name), path)

    def _restore(self, data: dict[str, np.ndarray], path: Path) -> None:
        try:
            self._check_compatibility(ckpt.json_entry(data, "config_snapshot"), path)
            self.online_network.load_params(ckpt.model_params(data, "model/"))
            self.target_network.load_params(ckpt.model_params(data, "target/"))
            self.optimizer.load_state_dict(_adam_state(data))
            epsilon, episode = float(data["epsilon"]), int(data["episode"])
            counters = [int(data["total_steps"]), int(data["train_steps"]), episode]
            if not (0.0 <= epsilon <= 1.0 and min(counters) >= 0):
                raise ValueError(f"epsilon {epsilon}, counters {counters}")
            self.epsilon = epsilon
            self.total_steps, self.train_steps, self.episode = counters
            self.total_training_seconds = float(data["total_training_seconds"])
            py_version, py_state, py_gauss = ckpt.json_entry(data, "rng/python")
            random.setstate((py_version, tuple(py_state), py_gauss))
            self.rng.bit_generator.state = ckpt.json_entry(data, "rng/numpy")
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as error:
            if isinstance(error, CheckpointError):
                raise
            raise CheckpointError(
                f"Checkpoint {path.name} is incomplete or holds impossible values ({error}); it was "
                f"not written by this version of retro-gamer. Resume from another checkpoint with "
                f"--resume, or start fresh with 'retro-gamer clean {self.run_dir}'."
            ) from None
        self._apply_edited_starting_values(data)
        self.memory = self._load_memory(self.episode)
        self.resumed_from = path
        self._truncate_episode_log(self.episode)

    def _apply_edited_starting_values(self, data: dict) -> None:
        """learning_rate and epsilon edited in config.toml since the checkpoint take effect.

        A checkpoint carries the decayed values, and resuming continues from them, so that
        a stopped run goes on exactly as if it had not stopped. But a learner who edits
        learning_rate or epsilon between sessions means it: the edited value becomes the
        current one, and decays from there. ``resume_notices`` says what was applied.
        """
        if "starting_values" not in data:
            return
        before = ckpt.json_entry(data, "starting_values")
        for key in EDITABLE_STARTING_VALUES:
            if key not in before or before[key] == self.hp[key]:
                continue
            if key == "learning_rate":
                was, self.optimizer.lr = self.optimizer.lr, self.hp[key]
            else:
                was, self.epsilon = self.epsilon, self.hp[key]
            self.resume_notices.append(
                f"{key} was changed in config.toml ({before[key]} -> {self.hp[key]}): training "
                f"continues with {key} = {self.hp[key]} instead of the checkpoint's {was:.3g}.")

    def _load_memory(self, episode: int):
        """The replay memory saved with this episode's checkpoint, or an empty one.

        The memory only makes resuming exact; when it is missing, damaged, saved with
        another checkpoint or holds values this network cannot take, training goes on
        with an empty memory rather than stopping.
        """
        replay_path = self.checkpoint_dir / ckpt.REPLAY_FILE
        if not replay_path.is_file():
            return self._new_memory()
        try:
            data = ckpt.read_checkpoint(replay_path, replay_path.name)
            if int(data["episode"]) != episode:
                return self._new_memory()  # saved with another checkpoint
            saved = ckpt.model_params(data, "memory/")
            if not self._replay_values_fit(saved):
                return self._new_memory()
            memory = self._new_memory()
            memory.load_state_dict(saved)
        except (CheckpointError, KeyError, ValueError, TypeError):
            return self._new_memory()
        return memory

    def _replay_values_fit(self, saved: dict[str, np.ndarray]) -> bool:
        """True when the saved actions, board codes and cut rows are ones this network and
        memory can use: a file edited by hand could otherwise stop training much later."""
        highest_code = len(self.metadata.character_set or []) + (1 if self.metadata.egocentric else 0)
        cut_rows = len(saved.get("cut_codes", ()))
        bounds = {"actions": (0, len(self.action_keys) - 1), "cut_row": (-1, cut_rows - 1),
                  **{name: (0, highest_code) for name in ("state_codes", "pending_codes", "cut_codes")}}
        for name, (low, high) in bounds.items():
            values = np.asarray(saved.get(name, np.zeros(0, dtype=np.int64)))
            if values.dtype.kind not in "iu":
                return False
            if values.size and not low <= values.min() <= values.max() <= high:
                return False
        priorities = np.asarray(saved.get("priorities", np.zeros(0)))
        return priorities.dtype.kind == "f" and bool(np.all(np.isfinite(priorities) & (priorities >= 0)))

    def _check_compatibility(self, saved: dict, path: Path) -> None:
        current = self.config_snapshot()
        changes = [key for key in SHAPE_FIXING_FIELDS if saved.get(key) != current.get(key)]
        if not changes:
            return
        lines = [
            f"Cannot resume from {path.name}: incompatible changes detected in config.toml.",
            "",
            "The following changes require starting fresh. The existing model was",
            "trained on a different problem and its weights cannot be reused:",
            "",
        ]
        for key in changes:
            lines += [
                f"  {key}",
                f"    was : {saved.get(key)!r}",
                f"    now : {current.get(key)!r}",
                f"    why : {SHAPE_FIXING_FIELDS[key]}",
                "",
            ]
        lines += [
            f"Run 'retro-gamer clean {self.run_dir}' to remove existing checkpoints and the",
            f"training log, then run 'retro-gamer train {self.run_dir}' to start fresh.",
        ]
        raise CheckpointError("\n".join(lines))

    # ------------------------------------------------------------------ unknown characters

    def _extend_character_set(self, state):
        """unknown_character_strategy = "extend": a character never seen before gets a channel.

        The network's input layer grows by one channel per new character, with zero
        weights, so the grown network computes exactly what it computed before and learns
        what the new character means from here on. Adam's moments grow the same way.
        Returns ``state`` re-coded for the grown board (see observation.py).
        """
        characters_before = len(self.metadata.character_set)
        old_shape = self.metadata.board_shape
        old = {
            "online": self.online_network.params,
            "target": self.target_network.params,
            **{moment: self.optimizer.state_dict()[moment] for moment in ("m_sum", "v_sum")},
        }
        old_adam = self.optimizer.state_dict()
        added = self.env.adopt_new_characters()   # appends to metadata.character_set

        def grow(params):
            return grow_input_channels(params, self.metadata, old_shape, characters_before, added)

        self.online_network, self.rationale = build_network(self.metadata, self.hp, rng=self.rng)
        self.target_network, _ = build_network(self.metadata, self.hp, rng=self.rng)
        self.online_network.load_params(grow(old["online"]))
        self.target_network.load_params(grow(old["target"]))
        self.optimizer = Adam(self.online_network.params, lr=old_adam["lr"])
        self.optimizer.load_state_dict({**old_adam, "m_sum": grow(old["m_sum"]), "v_sum": grow(old["v_sum"])})
        codes, extras = state
        if self.metadata.egocentric:
            # The off-board channel stays last, so its code moves up by the number added.
            self.memory.shift_codes(from_code=characters_before + 1, by=added)
            codes = np.where(codes > characters_before, codes + added, codes).astype(codes.dtype)
        save_trainer_config(self.run_dir, self.metadata, self.hp)
        self._append_log(
            f"[INIT] New character(s) {self.metadata.character_set[-added:]} seen in episode "
            f"{self.episode + 1}: the input layer was extended with zero weights."
        )
        return codes, extras

    # ------------------------------------------------------------------ files

    def _append_log(self, line: str) -> None:
        old = _read_records(self.log_path) if self.log_path.exists() else ""
        atomic_write_text(self.log_path, old + line + "\n")

    def _write_episode_rows(self) -> None:
        path = self.run_dir / "episodes.csv"
        old = _read_records(path) if path.exists() else EPISODES_CSV_HEADER
        atomic_write_text(path, old + "".join(self._episode_rows))
        self._episode_rows = []

    def _truncate_episode_log(self, episode: int) -> None:
        """When resuming from an earlier checkpoint, drop the rows of episodes played after it."""
        path = self.run_dir / "episodes.csv"
        if not path.exists():
            return
        rows = list(csv.reader(io.StringIO(_read_records(path))))
        kept = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= episode]
        if len(kept) != len(rows) - 1:
            out = io.StringIO()
            out.write(EPISODES_CSV_HEADER)
            csv.writer(out, lineterminator="\n").writerows(kept)
            atomic_write_text(path, out.getvalue())


def _read_records(path: Path) -> str:
    """training.log or episodes.csv, ready for more lines, even if damaged or edited by hand:
    a byte that is not UTF-8 (or a NUL) becomes a replacement character instead of stopping
    training over its records, and a last line without its newline gets one."""
    text = path.read_text(encoding="utf-8", errors="replace").replace("\0", "\ufffd")
    return text if not text or text.endswith("\n") else text + "\n"


# The signals that stop training in an orderly way: Ctrl-C, and the ones the command line
# turns into a Ctrl-C (a plain `kill`, a closed terminal).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


@contextlib.contextmanager
def _interrupts_deferred():
    """Let a checkpoint, or an episode's bookkeeping, finish before a Ctrl-C takes effect.

    The files are written atomically anyway; deferring the interrupt also keeps the
    checkpoint, the replay memory, episodes.csv and the log line in step with each other.
    Only signals with a Python handler are deferred: one the process ignores stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    handled = [number for number in STOP_SIGNALS if callable(signal.getsignal(number))]
    previous = {number: signal.signal(number, lambda signum, frame: received.append(signum))
                for number in handled}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if received:
        raise KeyboardInterrupt


def _apply_preprocessing(metadata: GameMetadata, preprocessing: dict) -> GameMetadata:
    """The [preprocessing] settings applied onto the game's description, then checked."""
    problems = metadata.apply_preprocessing(preprocessing, "preprocessing")
    problems += metadata.problems()
    if problems:
        raise ConfigError(problem_report(problems, "the game description and preprocessing",
                                         "Correct them and try again."))
    return metadata


def grow_input_channels(params: dict, metadata: GameMetadata, old_shape: tuple, insert_at: int,
                        added: int) -> dict:
    """Weights for a board with ``added`` more channels, inserted at channel ``insert_at``.

    The new channels' weights are zero, so the grown network computes exactly what the
    old one did on every board the old one could see. Only the first layer changes:
    conv.0.weight (32, C, 3, 3) for the CNN; for the MLP, net.0.weight (out, H*W*C + E),
    whose board columns are cell-major (H, W, C).
    """
    channels, height, width = old_shape
    grown = {name: np.array(value) for name, value in params.items()}
    at = [insert_at] * added
    if metadata.spatial:
        grown["conv.0.weight"] = np.insert(grown["conv.0.weight"], at, 0.0, axis=1)
    else:
        weight = grown["net.0.weight"]
        board_length = channels * height * width
        board = weight[:, :board_length].reshape(len(weight), height * width, channels)
        board = np.insert(board, at, 0.0, axis=2).reshape(len(weight), -1)
        grown["net.0.weight"] = np.concatenate([board, weight[:, board_length:]], axis=1)
    return grown


def _adam_arrays(state: dict) -> dict[str, np.ndarray]:
    """Adam's state as flat checkpoint entries: adam/m_sum/<name>, adam/v_sum/<name>, adam/steps, learning_rate."""
    arrays = {f"adam/{moment}/{name}": value for moment in ("m_sum", "v_sum") for name, value in state[moment].items()}
    arrays["adam/steps"] = np.array(state["steps"])
    arrays["learning_rate"] = np.array(state["lr"])
    return arrays


def _adam_state(data: dict) -> dict:
    """The inverse of _adam_arrays."""
    return {
        "m_sum": ckpt.model_params(data, "adam/m_sum/"),
        "v_sum": ckpt.model_params(data, "adam/v_sum/"),
        "steps": int(data["adam/steps"]),
        "lr": float(data["learning_rate"]),
    }


def format_duration(seconds: float) -> str:
    """12 -> '0m12s', 3725 -> '1h02m05s' (the training.log style)."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
