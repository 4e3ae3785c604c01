"""Training sessions on a run folder, around the DQN agent of dqn/agent.py.

dqn/agent.py is the algorithm, for both engines. This file is the bookkeeping around it:
the agent built from the run's settings and engine, a checkpoint every 100 episodes,
training.log and episodes.csv, exact resume, new characters (the "extend" strategy), and
never losing finished work to Ctrl-C, a crashing game or a full disk.
"""
from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from retro_gamer.dqn.agent import DQNAgent, play_episode
from retro_gamer.errors import CheckpointError, ConfigError, GameError, RetroGamerError, problem_report
from retro_gamer.game.environment import GameEnvironment, discover_characters
from retro_gamer.game.description import GameMetadata
from retro_gamer.run import checkpoints as ckpt
from retro_gamer.run import records
from retro_gamer.run.config import engine_module, read_config, save_trainer_config
from retro_gamer.run.files import atomic_save_npz, atomic_write_bytes, atomic_write_text, describe_write_error, \
    remove_temporaries
from retro_gamer.run.session import deferred_stop, run_lock, stop_signals
from retro_gamer.settings import resolve_hyperparams

CHECKPOINT_EVERY = 100
# [training] values that decay: one edited between sessions restarts from the edited value.
EDITABLE_STARTING_VALUES = ("learning_rate", "epsilon")
# Settings that fix the network's shape or the meaning of its inputs and outputs: a checkpoint
# trained with other values cannot be resumed. Each comes with the reason a user reads.
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
        self.checkpoint, self.episode = checkpoint, episode


class TrainingDiverged(RetroGamerError):
    """The loss became NaN or infinite: the Q-values have run away."""


class _Turns:
    """The environment as dqn/agent.py's episode loop sees it: compact states, action numbers."""

    def __init__(self, env: GameEnvironment, action_keys: list):
        self.env, self.action_keys = env, action_keys

    def reset(self):
        self.env.new_episode()
        return self.env.compact_observation()

    def step(self, action: int):
        reward, done = self.env.advance(self.action_keys[action])
        return self.env.compact_observation(), reward, done


class DQNTrainer:
    """Trains a Deep Q-Network to play one game, writing everything into ``run_dir``.

    create_game: zero-argument function returning a new ``retro.game.Game``; metadata: the
    game's GameMetadata; preprocessing: [preprocessing] settings applied onto it;
    hyperparams: any [training] or [model] setting, in any spelling settings.py reads.
    """

    def __init__(self, create_game: Callable, metadata: GameMetadata, run_dir, preprocessing: dict | None = None,
                 **hyperparams):
        self.hp = resolve_hyperparams(hyperparams)
        found = metadata.apply_preprocessing(preprocessing or {}, "preprocessing") + metadata.problems()
        if found:
            raise ConfigError(problem_report(found, "the game description and preprocessing",
                                             "Correct them and try again."))
        self.metadata, self.run_dir = metadata, Path(run_dir)
        self.checkpoint_dir = self.run_dir / ckpt.CHECKPOINT_DIR
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        # One seed fixes everything random: the games (they use Python's `random`), character
        # discovery, exploration, initial weights and replay sampling (NumPy's generator).
        if self.hp["seed"] is not None:
            random.seed(self.hp["seed"])
        self.rng = np.random.default_rng(self.hp["seed"])
        discovered = metadata.uses_board and not metadata.character_set
        if discovered:
            metadata.character_set = discover_characters(create_game, metadata.actions,
                                                         self.hp["exploration_turns"], self.rng)
        self.env = GameEnvironment(create_game, metadata,
                                   unknown_character_strategy=self.hp["unknown_character_strategy"])
        self.env.measure_observation()       # metadata.extras_size and observe_state_sizes
        self.action_keys = list(metadata.actions) + [None]     # the no-op is the last output
        self.agent = DQNAgent(metadata, self.hp, self.rng, engine_module(self.hp["engine"]))
        self.episode = 0                     # the last finished episode
        self.total_training_seconds = 0.0
        self.resumed_from: Path | None = None
        self.resume_notices: list[str] = []
        self._episode_rows: list[dict] = []  # episodes.csv rows not yet written
        with run_lock(self.run_dir, "setting up"):
            save_trainer_config(self.run_dir, metadata, self.hp)
            log = self.run_dir / records.LOG_FILE
            if not log.exists():
                lines = [self.agent.rationale, f"[INIT] Engine: {self.hp['engine']}"]
                if discovered:
                    lines.append(f"[INIT] character_set was not given: found {len(metadata.character_set)} "
                                 f"characters in {self.hp['exploration_turns']} random turns: {metadata.character_set}")
                atomic_write_text(log, "\n".join(lines) + "\n")

    @classmethod
    def from_run_dir(cls, run_dir) -> DQNTrainer:
        """A trainer for the run that ``run_dir``/config.toml describes."""
        from retro_gamer.game.loading import load_game_factory

        config = read_config(run_dir)
        return cls(load_game_factory(config.game), config.metadata, run_dir, **config.hyperparams)

    @property
    def complete(self) -> bool:
        return self.episode >= self.hp["training_episodes"]

    @property
    def epsilon(self) -> float:
        return self.agent.epsilon

    @property
    def total_steps(self) -> int:
        return self.agent.total_steps

    @property
    def learning_rate(self) -> float:
        return self.agent.optimizer.lr

    # ------------------------------------------------------------------ a session

    def train(self, on_checkpoint: Callable | None = None, on_episode: Callable | None = None) -> None:
        """Play episodes until ``training_episodes`` are done, learning as the agent goes.

        A checkpoint every 100 episodes and at the end (also as final.npz); on_episode(stats)
        after each episode, on_checkpoint(record) after each checkpoint. Finished episodes are
        never lost: on Ctrl-C (or SIGTERM, SIGHUP) they are saved and TrainingInterrupted is
        raised; when the game crashes they are saved and the GameError says where; when a file
        cannot be written a CheckpointError says what failed, the saved checkpoints intact.
        """
        if self.complete:
            return
        with run_lock(self.run_dir, "training"), stop_signals():
            self._session(on_checkpoint, on_episode)

    def _session(self, on_checkpoint, on_episode) -> None:
        self._saved_episode, self._saved_checkpoint = self.episode, self.resumed_from
        block, started, turns = [], time.perf_counter(), _Turns(self.env, self.action_keys)
        header = f"=== Resumed from {self.resumed_from.name}" if self.resumed_from else "=== Training started"
        try:
            records.append_log(self.run_dir, f"{header} | {datetime.now():%Y-%m-%d %H:%M:%S} ===")
            while not self.complete:
                stats = play_episode(self.agent, turns)
                # An episode counts entirely or not at all: a Ctrl-C in its bookkeeping waits.
                with deferred_stop():
                    self._finish_episode(stats, block)
                if on_episode:
                    on_episode(stats)
                if self.episode % CHECKPOINT_EVERY == 0 or self.complete:
                    record = self._checkpoint(block, time.perf_counter() - started)
                    block, started = [], time.perf_counter()
                    if on_checkpoint:
                        on_checkpoint(record)
        except KeyboardInterrupt:
            self._keep_finished_episodes(block, started)
            raise TrainingInterrupted(self._saved_checkpoint, self._saved_episode) from None
        except (GameError, FloatingPointError) as error:
            # The episode that failed is lost; the ones before it are not.
            self._keep_finished_episodes(block, started)
            if isinstance(error, GameError):
                raise GameError(f"{error}\n\n{self._kept_sentence()}") from error
            raise TrainingDiverged(
                f"Training stopped: {error}, so the Q-values have run away and any further step would fill the "
                f"network with NaN. This happens when the learning rate is too high for the game (learning_rate "
                f"= {self.hp['learning_rate']}) or when its rewards are very large. Lower learning_rate ten times "
                f"in config.toml (or scale the game's rewards down), then run 'retro-gamer clean RUN_DIR' and "
                f"train again.\n\n{self._kept_sentence()}") from None
        except BrokenPipeError:
            # Whoever read the progress lines stopped reading (train RUN | head): keep the work.
            self._keep_finished_episodes(block, started)
            raise
        except OSError as error:
            raise CheckpointError(self._write_failed_message(error)) from error
        except Exception:
            # Whatever else stopped training (a callback, a bug), the finished episodes are saved
            # first; if even that fails, the original error is the one worth seeing.
            with contextlib.suppress(Exception):
                self._keep_finished_episodes(block, started)
            raise

    def _finish_episode(self, stats: dict, block: list[dict]) -> None:
        """Count a played episode: the agent's decays, its record, new characters adopted."""
        self.agent.end_episode(stats["learned"])
        self.episode += 1
        stats.update(episode=self.episode, epsilon=self.agent.epsilon)
        block.append(stats)
        self._episode_rows.append(stats)
        if self.env.new_characters:
            self._extend_character_set()

    def _keep_finished_episodes(self, block: list[dict], started: float) -> None:
        """After training stopped early, save the episodes finished since the last checkpoint."""
        if self.episode == self._saved_episode:
            return
        try:
            self._checkpoint(block, time.perf_counter() - started)
        except KeyboardInterrupt:
            pass          # a second Ctrl-C, held back until the checkpoint was complete
        except OSError as error:
            raise CheckpointError(self._write_failed_message(error)) from error

    def _kept_sentence(self) -> str:
        if self._saved_checkpoint is None:
            return "No episode had finished, so there was nothing to keep."
        return (f"Episodes 1-{self._saved_episode} are kept in checkpoint {self._saved_checkpoint.name}; "
                f"'retro-gamer train {self.run_dir}' resumes from there.")

    def _write_failed_message(self, error: OSError) -> str:
        kept = ("No checkpoint had been saved yet, so training will start again from episode 1."
                if self._saved_checkpoint is None else
                f"The checkpoints already saved are intact: the latest, {self._saved_checkpoint.name}, holds "
                f"episodes 1-{self._saved_episode}.")
        return (f"{describe_write_error(error)}\nTraining stopped after episode {self.episode}. {kept}\n"
                f"Then run 'retro-gamer train {self.run_dir}' to resume.")

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint(self, block: list[dict], seconds: float) -> dict:
        """Save episodes.csv's new rows, the replay memory, ep_NNNN.npz (and final.npz at the end)
        and a log line, in the order that a process killed halfway leaves consistent: rows of
        episodes no checkpoint holds are dropped on resume, and the memory is written before the
        checkpoint it belongs to, the previous one removed after."""
        with deferred_stop():
            self.total_training_seconds += seconds
            name = ckpt.checkpoint_name(self.episode)
            path = self.checkpoint_dir / f"{name}.npz"
            records.append_episodes(self.run_dir, self._episode_rows)
            self._episode_rows = []
            memory = {f"memory/{k}": v for k, v in self.agent.memory.state_dict().items()}
            atomic_save_npz(ckpt.replay_path(self.run_dir, self.episode),
                            ckpt.save_arrays({"episode": np.array(self.episode), **memory}))
            arrays = self._checkpoint_arrays()
            atomic_save_npz(path, arrays)
            self._saved_episode, self._saved_checkpoint = self.episode, path
            if self.complete:
                atomic_save_npz(self.checkpoint_dir / "final.npz", arrays)
            for old in self.checkpoint_dir.glob("replay_*.npz"):
                if old != ckpt.replay_path(self.run_dir, self.episode):
                    old.unlink(missing_ok=True)
            learned = [s["avg_loss"] for s in block if s["learned"]]
            record = {"name": name, "episode": self.episode, "first_episode": self.episode - len(block) + 1,
                      "avg_reward": float(np.mean([s["total_reward"] for s in block])) if block else 0.0,
                      "avg_steps": float(np.mean([s["steps"] for s in block])) if block else 0.0,
                      "epsilon": self.agent.epsilon, "avg_loss": float(np.mean(learned)) if learned else 0.0,
                      "seconds": seconds, "total_seconds": self.total_training_seconds}
            record["line"] = records.checkpoint_line(record)
            records.append_log(self.run_dir, record["line"])
            return record

    def _checkpoint_arrays(self) -> dict[str, np.ndarray]:
        agent, adam = self.agent, self.agent.optimizer.state_dict()
        arrays = {f"model/{k}": v for k, v in agent.online.params.items()}
        arrays.update({f"target/{k}": v for k, v in agent.target.params.items()})
        arrays.update({f"adam/{moment}/{k}": v for moment in ("m", "v") for k, v in adam[moment].items()})
        py_version, py_state, py_gauss = random.getstate()
        arrays.update({
            "adam/steps": np.array(adam["steps"]), "learning_rate": np.array(adam["lr"]),
            "epsilon": np.array(agent.epsilon), "total_steps": np.array(agent.total_steps),
            "train_steps": np.array(agent.train_steps), "episode": np.array(self.episode),
            "total_training_seconds": np.array(self.total_training_seconds),
            "rng/python": np.array(json.dumps([py_version, list(py_state), py_gauss])),
            "rng/numpy": np.array(json.dumps(self.rng.bit_generator.state)),
            "config_snapshot": np.array(json.dumps(self.config_snapshot())),
            "starting_values": np.array(json.dumps({key: self.hp[key] for key in EDITABLE_STARTING_VALUES})),
        })
        return ckpt.save_arrays(arrays)

    def config_snapshot(self) -> dict:
        """The shape-fixing settings, kept in every checkpoint for the compatibility check."""
        current = {f.name: getattr(self.metadata, f.name) for f in fields(self.metadata)}
        current["hidden_sizes"] = list(self.hp["hidden_sizes"])
        return json.loads(json.dumps({key: current.get(key) for key in SHAPE_FIXING_FIELDS}))  # tuples -> lists

    # ------------------------------------------------------------------ resuming

    def resume(self, checkpoint: str | Path | None = None) -> Path | None:
        """Load the named checkpoint, or the latest one; returns the file loaded, or None.

        Temporary files a killed process left are deleted first, never loaded. When the
        checkpoint cannot be read, the error names the newest earlier one that can.
        """
        with run_lock(self.run_dir, "resuming"):
            for folder in (self.run_dir, self.checkpoint_dir):
                remove_temporaries(folder)
            path = (ckpt.latest_checkpoint(self.run_dir) if checkpoint is None
                    else ckpt.resolve_checkpoint(self.run_dir, str(checkpoint)))
            if path is None:
                records.keep_episodes_up_to(self.run_dir, 0)   # rows a killed first session wrote
                return None
            try:
                data = ckpt.read_checkpoint(path, path.name)
            except CheckpointError as error:
                previous = ckpt.previous_checkpoint(self.run_dir, path)
                raise CheckpointError(f"{error}\n\nThe file is {path}; no earlier checkpoint of this run can be "
                                      "read." if previous is None else
                                      f"{error}\n\nThe file is {path}. The previous checkpoint, {previous.name}, "
                                      f"reads correctly: resume from it with 'retro-gamer train {self.run_dir} "
                                      f"--resume {previous.stem}' (training then writes {path.name} again when "
                                      f"it gets there), or move {path.name} out of the folder.") from None
            self._restore(data, path)
            final = self.checkpoint_dir / "final.npz"
            if self.complete and not final.is_file():
                atomic_write_bytes(final, path.read_bytes())   # killed between the last checkpoint and final.npz
            return path

    def load_checkpoint(self, path) -> None:
        """Restore everything a checkpoint holds, so training continues exactly where it stopped."""
        path = Path(path)
        self._restore(ckpt.read_checkpoint(path, path.name), path)

    def _restore(self, data: dict, path: Path) -> None:
        agent = self.agent
        try:
            self._check_compatibility(ckpt.json_entry(data, "config_snapshot"), path)
            agent.online.load_params(ckpt.model_params(data, "model/"))
            agent.target.load_params(ckpt.model_params(data, "target/"))
            agent.optimizer.load_state_dict(_adam_state(data, agent.optimizer))
            epsilon, counters = float(data["epsilon"]), [int(data[k]) for k in ("total_steps", "train_steps", "episode")]
            if not (0.0 <= epsilon <= 1.0 and min(counters) >= 0):
                raise ValueError(f"epsilon {epsilon}, counters {counters}")
            agent.epsilon, (agent.total_steps, agent.train_steps, self.episode) = epsilon, counters
            self.total_training_seconds = float(data["total_training_seconds"])
            py_version, py_state, py_gauss = ckpt.json_entry(data, "rng/python")
            random.setstate((py_version, tuple(py_state), py_gauss))
            self.rng.bit_generator.state = ckpt.json_entry(data, "rng/numpy")
        except CheckpointError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as error:
            raise CheckpointError(f"Checkpoint {path.name} is incomplete or holds impossible values ({error}); it "
                                  "was not written by this version of retro-gamer. Resume from another checkpoint "
                                  f"with --resume, or start fresh with 'retro-gamer clean {self.run_dir}'.") from None
        self._apply_edited_starting_values(data)
        self._load_memory(path)
        self.resumed_from = path
        records.keep_episodes_up_to(self.run_dir, self.episode)

    def _apply_edited_starting_values(self, data: dict) -> None:
        """learning_rate and epsilon edited in config.toml since the checkpoint take effect.

        A checkpoint carries the decayed values, so a stopped run goes on exactly as if it had
        not stopped; but a learner who edits one between sessions means it: the edited value
        becomes the current one and decays from there. ``resume_notices`` says what was applied.
        """
        before = ckpt.json_entry(data, "starting_values") if "starting_values" in data else {}
        for key in EDITABLE_STARTING_VALUES:
            if key not in before or before[key] == self.hp[key]:
                continue
            owner, attribute = (self.agent.optimizer, "lr") if key == "learning_rate" else (self.agent, "epsilon")
            was = getattr(owner, attribute)
            setattr(owner, attribute, self.hp[key])
            self.resume_notices.append(f"{key} was changed in config.toml ({before[key]} -> {self.hp[key]}): "
                                       f"training continues with {key} = {self.hp[key]} instead of the "
                                       f"checkpoint's {was:.3g}.")

    def _load_memory(self, checkpoint: Path) -> None:
        """The replay memory saved with this checkpoint. It only makes resuming exact: when it is
        missing, damaged or impossible, training goes on with an empty one, and says so."""
        path, memory = ckpt.replay_path(self.run_dir, self.episode), self.agent.memory
        empty = type(memory)(memory.capacity, memory.state_codes.shape[1], memory.state_extras.shape[1])
        self.agent.memory = empty
        try:
            saved = ckpt.model_params(ckpt.read_checkpoint(path, path.name), "memory/")
            n_codes = len(self.metadata.character_set or []) + self.metadata.egocentric
            codes = [saved[k] for k in ("state_codes", "next_codes") if np.size(saved.get(k))]
            actions = np.asarray(saved.get("actions", []))
            if (actions.size and not 0 <= actions.min() <= actions.max() < len(self.action_keys)
                    or any(c.max() > n_codes for c in codes)):
                raise ValueError("it holds actions or board codes this network does not have")
            loaded = type(memory)(memory.capacity, memory.state_codes.shape[1], memory.state_extras.shape[1])
            loaded.load_state_dict(saved)
            self.agent.memory = loaded
        except (CheckpointError, KeyError, ValueError, TypeError) as error:
            reason = "is not there" if not path.is_file() else f"cannot be used ({str(error).splitlines()[0]})"
            self.resume_notices.append(
                f"The replay memory of {checkpoint.name} ({path.name}) {reason}: training continues with an "
                "empty memory, which refills within a few episodes; the run is no longer an exact continuation.")

    def _check_compatibility(self, saved: dict, path: Path) -> None:
        current = self.config_snapshot()
        changes = [key for key in SHAPE_FIXING_FIELDS if saved.get(key) != current.get(key)]
        if not changes:
            return
        lines = [f"Cannot resume from {path.name}: incompatible changes detected in config.toml.", "",
                 "The following changes require starting fresh. The existing model was",
                 "trained on a different problem and its weights cannot be reused:", ""]
        for key in changes:
            lines += [f"  {key}", f"    was : {saved.get(key)!r}", f"    now : {current.get(key)!r}",
                      f"    why : {SHAPE_FIXING_FIELDS[key]}", ""]
        lines += [f"Run 'retro-gamer clean {self.run_dir}' to remove existing checkpoints and the",
                  f"training log, then run 'retro-gamer train {self.run_dir}' to start fresh."]
        raise CheckpointError("\n".join(lines))

    # ------------------------------------------------------------------ new characters

    def _extend_character_set(self) -> None:
        """unknown_character_strategy = "extend": each new character gets an input channel.

        The input layer grows by one channel per new character, with zero weights (and zero
        Adam moments), so the grown network computes exactly what it did and learns what the
        new character means from here on. Adopted between episodes.
        """
        agent, engine = self.agent, engine_module(self.hp["engine"])
        before, old_shape = len(self.metadata.character_set), self.metadata.board_shape
        online, target = dict(agent.online.params), dict(agent.target.params)
        adam = agent.optimizer.state_dict()
        added = self.env.adopt_new_characters()       # appended to metadata.character_set

        def grow(params):
            return grow_input_channels(params, self.metadata, old_shape, before, added)

        agent.online, agent.rationale = engine.build_network(self.metadata, self.hp, rng=self.rng)
        agent.target, _ = engine.build_network(self.metadata, self.hp, rng=self.rng)
        agent.online.load_params(grow(online))
        agent.target.load_params(grow(target))
        agent.optimizer = engine.Adam(agent.online.params, lr=adam["lr"])
        agent.optimizer.load_state_dict({**adam, "m": grow(adam["m"]), "v": grow(adam["v"])})
        if self.metadata.egocentric:      # the off-board channel stays last: its code moves up
            for codes in (agent.memory.state_codes, agent.memory.next_codes):
                codes[codes > before] += added
        save_trainer_config(self.run_dir, self.metadata, self.hp)
        records.append_log(self.run_dir, f"[INIT] New character(s) {self.metadata.character_set[-added:]} seen "
                                         f"in episode {self.episode}: the input layer was extended with zero weights.")


def grow_input_channels(params: dict, metadata: GameMetadata, old_shape: tuple, insert_at: int, added: int) -> dict:
    """Weights for a board with ``added`` more channels inserted at channel ``insert_at``, their
    weights zero. Only the first layer changes: conv.0.weight (32, C, 3, 3) for the CNN; for the
    MLP net.0.weight (out, H*W*C + E), whose board columns are cell-major (H, W, C)."""
    channels, height, width = old_shape
    grown = {name: np.array(value) for name, value in params.items()}
    at = [insert_at] * added
    if metadata.spatial:
        grown["conv.0.weight"] = np.insert(grown["conv.0.weight"], at, 0.0, axis=1)
    else:
        weight, n_board = grown["net.0.weight"], channels * height * width
        board = np.insert(weight[:, :n_board].reshape(len(weight), height * width, channels), at, 0.0, axis=2)
        grown["net.0.weight"] = np.concatenate([board.reshape(len(weight), -1), weight[:, n_board:]], axis=1)
    return grown


def _adam_state(data: dict, optimizer) -> dict:
    """Adam's state from a checkpoint. Checkpoints of the first version kept the moments divided by
    (1 - beta1) and (1 - beta2), as m_sum and v_sum: they are converted."""
    if any(key.startswith("adam/m_sum/") for key in data):
        moments = {"m": {k: v * (1 - optimizer.beta1) for k, v in ckpt.model_params(data, "adam/m_sum/").items()},
                   "v": {k: v * (1 - optimizer.beta2) for k, v in ckpt.model_params(data, "adam/v_sum/").items()}}
    else:
        moments = {moment: ckpt.model_params(data, f"adam/{moment}/") for moment in ("m", "v")}
    return {**moments, "steps": int(data["adam/steps"]), "lr": float(data["learning_rate"])}
