"""Training sessions on a run folder, the bookkeeping around dqn/agent.py: a checkpoint every 100 episodes,
training.log, episodes.csv, exact resume, no finished work lost to Ctrl-C, a crashed game or a full disk."""
import contextlib
import json
import random
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np

from retro_gamer.dqn.agent import DQNAgent, play_episode
from retro_gamer.errors import CheckpointError, ConfigError, GameError, RetroGamerError, problem_report
from retro_gamer.game.environment import GameEnvironment, discover_characters
from retro_gamer.game.description import GameMetadata
from retro_gamer.game.loading import load_game_factory
from retro_gamer.run import checkpoints as ckpt, records
from retro_gamer.run.config import engine_module, read_config, save_trainer_config
from retro_gamer.run.files import atomic_save_npz, atomic_write, describe_write_error, remove_temporaries
from retro_gamer.run.session import deferred_stop, run_lock, stop_signals
from retro_gamer.settings import resolve_hyperparams

CHECKPOINT_EVERY = 100
# [training] values that decay: one edited between sessions restarts from the edited value.
EDITABLE_STARTING_VALUES = ("learning_rate", "epsilon")


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
    """Trains a Deep Q-Network to play one game, writing everything into ``run_dir``. create_game returns
    a new ``retro.game.Game``; metadata is the game's GameMetadata, to which the [preprocessing] settings
    of ``preprocessing`` are applied; hyperparams: [training] and [model]."""

    def __init__(self, create_game: Callable, metadata: GameMetadata, run_dir,
                 preprocessing: dict | None = None, **hyperparams):
        self.hp = resolve_hyperparams(hyperparams)
        if found := metadata.set(preprocessing or {}, "preprocessing") + metadata.problems():
            raise ConfigError(problem_report(found, "the game description and preprocessing",
                                             "Correct them and try again."))
        self.metadata, self.run_dir = metadata, Path(run_dir)
        self.checkpoint_dir = self.run_dir / ckpt.CHECKPOINT_DIR
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        # One seed fixes everything random: the games' `random`, and NumPy's generator for the rest.
        if self.hp["seed"] is not None:
            random.seed(self.hp["seed"])
        self.rng = np.random.default_rng(self.hp["seed"])
        note = []                                        # for training.log: the characters discovered
        if metadata.uses_board and not metadata.character_set:
            metadata.character_set = discover_characters(create_game, metadata.actions,
                                                         self.hp["exploration_turns"], self.rng)
            note = [f"[INIT] character_set was not given: found {len(metadata.character_set)} characters in "
                    f"{self.hp['exploration_turns']} random turns: {metadata.character_set}"]
        self.env = GameEnvironment(create_game, metadata,
                                   unknown_character_strategy=self.hp["unknown_character_strategy"])
        self.env.measure_observation()                   # metadata.extras_size is known from here
        self.action_keys = list(metadata.actions) + [None]     # the no-op is the last output
        self.agent = DQNAgent(metadata, self.hp, self.rng, engine_module(self.hp["engine"]))
        self.episode, self.total_training_seconds = 0, 0.0      # episode: the last finished one
        self.resumed_from: Path | None = None
        self.resume_notices: list[str] = []
        self._episode_rows: list[dict] = []  # episodes.csv rows not yet written
        with run_lock(self.run_dir, "setting up"):
            save_trainer_config(self.run_dir, metadata, self.hp)
            if not (self.run_dir / records.LOG_FILE).exists():
                records.append_log(self.run_dir, "\n".join([self.agent.rationale, *note]))

    @classmethod
    def from_run_dir(cls, run_dir) -> "DQNTrainer":
        """A trainer for the run that ``run_dir``/config.toml describes."""
        config = read_config(run_dir)
        return cls(load_game_factory(config.game), config.metadata, run_dir, **config.hyperparams)

    complete = property(lambda self: self.episode >= self.hp["training_episodes"])
    epsilon = property(lambda self: self.agent.epsilon)
    total_steps = property(lambda self: self.agent.total_steps)

    def train(self, on_checkpoint: Callable | None = None, on_episode: Callable | None = None) -> None:
        """Play episodes until ``training_episodes`` are done; a checkpoint every 100 and at the end.
        on_episode(stats) follows each episode, on_checkpoint(record) each checkpoint. Finished
        episodes are never lost: Ctrl-C (or SIGTERM, SIGHUP) saves them and raises TrainingInterrupted;
        a crashing game saves them too; a file that cannot be written gives a CheckpointError."""
        if self.complete:
            return
        # An engine may set how NumPy runs while it trains (fast/blas.py); the plain one leaves it be.
        threads = getattr(self.agent.engine, "training_threads", lambda metadata: contextlib.nullcontext())
        self._saved_episode, self._saved_checkpoint = self.episode, self.resumed_from
        header = f"=== Resumed from {self.resumed_from.name}" if self.resumed_from else "=== Training started"
        with run_lock(self.run_dir, "training"), stop_signals(), threads(self.metadata):
            block, started, turns = [], time.perf_counter(), _Turns(self.env, self.action_keys)
            try:
                records.append_log(self.run_dir, f"{header} | {datetime.now():%Y-%m-%d %H:%M:%S} ===\n"
                                   f"[INIT] Engine: {self.hp['engine']} from episode {self.episode + 1}")
                while not self.complete:
                    stats = play_episode(self.agent, turns)
                    # An episode counts entirely or not at all: a Ctrl-C in its bookkeeping waits.
                    with deferred_stop():
                        self.agent.end_episode(stats["learned"])       # the decays
                        self.episode += 1
                        stats.update(episode=self.episode, epsilon=self.agent.epsilon)
                        block.append(stats)
                        self._episode_rows.append(stats)
                        if self.env.new_characters:
                            self._extend_character_set()
                    if on_episode:
                        on_episode(stats)
                    if self.episode % CHECKPOINT_EVERY == 0 or self.complete:
                        record = self._checkpoint(block, time.perf_counter() - started)
                        block, started = [], time.perf_counter()
                        if on_checkpoint:
                            on_checkpoint(record)
            except (KeyboardInterrupt, GameError, FloatingPointError, BrokenPipeError) as error:
                self._keep_finished_episodes(block, started)   # only the episode that stopped is lost
                if isinstance(error, KeyboardInterrupt):
                    raise TrainingInterrupted(self._saved_checkpoint, self._saved_episode) from None
                if isinstance(error, GameError):
                    raise GameError(f"{error}\n\n{self._kept_sentence()}") from error
                if isinstance(error, BrokenPipeError):      # the reader of the progress lines stopped
                    raise
                raise TrainingDiverged(
                    f"Training stopped: {error}, so the Q-values have run away and any further step would "
                    "fill the network with NaN. This happens when the learning rate is too high for the game "
                    f"(learning_rate = {self.hp['learning_rate']}) or when its rewards are very large. Lower "
                    "learning_rate ten times in config.toml (or scale the game's rewards down), then run "
                    f"'retro-gamer clean RUN_DIR' and train again.\n\n{self._kept_sentence()}") from None
            except OSError as error:
                raise CheckpointError(self._write_failed_message(error)) from error
            except Exception:       # a callback, a bug: the episodes first, and the original error shown
                with contextlib.suppress(Exception):
                    self._keep_finished_episodes(block, started)
                raise

    def _keep_finished_episodes(self, block: list[dict], started: float) -> None:
        with contextlib.suppress(KeyboardInterrupt):      # a second Ctrl-C waits for the checkpoint
            try:
                if self.episode != self._saved_episode:
                    self._checkpoint(block, time.perf_counter() - started)
            except OSError as error:
                raise CheckpointError(self._write_failed_message(error)) from error

    def _kept_sentence(self) -> str:
        if self._saved_checkpoint is None:
            return "No checkpoint had been saved yet, so training starts again from episode 1."
        return (f"Episodes 1-{self._saved_episode} are kept in checkpoint {self._saved_checkpoint.name}; "
                f"'retro-gamer train {self.run_dir}' resumes from there.")

    def _write_failed_message(self, error: OSError) -> str:
        stopped = f"Training stopped after episode {self.episode}."
        return f"{describe_write_error(error)}\n{stopped} {self._kept_sentence()}"

    def _extend_character_set(self) -> None:
        """unknown_character_strategy = "extend": a character never seen before gets an input channel. The
        input layer grows between episodes: each new character's channel starts with zero weights (and Adam
        moments), so the network computes exactly what it did before, then learns what it means."""
        agent, metadata, hp, adam = self.agent, self.metadata, self.hp, self.agent.optimizer.state_dict()
        before, old_shape = len(metadata.character_set), metadata.board_shape
        added = len(self.env.encoder.extend_character_set())       # appended to metadata.character_set
        online, target, m, v = (grow_input_channels(params, metadata, old_shape, before, added) for params in
                                (agent.online.params, agent.target.params, adam["m"], adam["v"]))
        agent.online, agent.rationale = agent.engine.build_network(metadata, hp, rng=self.rng)
        agent.target, _ = agent.engine.build_network(metadata, hp, rng=self.rng)
        agent.online.load_params(online)
        agent.target.load_params(target)
        agent.optimizer = agent.engine.Adam(agent.online.params, lr=adam["lr"])
        agent.optimizer.load_state_dict({**adam, "m": m, "v": v})
        if metadata.egocentric:      # the off-board channel stays last: its code moves up
            for codes in (agent.memory.state_codes, agent.memory.next_codes):
                codes[codes > before] += added
        save_trainer_config(self.run_dir, metadata, hp)
        records.append_log(self.run_dir, f"[INIT] New character(s) {metadata.character_set[-added:]} seen in "
                           f"episode {self.episode}: the input layer was extended with zero weights.")

    def _checkpoint(self, block: list[dict], seconds: float) -> dict:
        """episodes.csv's new rows, the replay memory, ep_NNNN.npz (final.npz at the end), a log line:
        in this order, a process killed halfway leaves them consistent (rows no checkpoint holds are
        dropped on resume; the latest checkpoint's memory is written before it, removed after)."""
        with deferred_stop():
            self.total_training_seconds += seconds
            name = ckpt.checkpoint_name(self.episode)
            path = self.checkpoint_dir / f"{name}.npz"
            records.append_episodes(self.run_dir, self._episode_rows)
            self._episode_rows = []
            memory = {f"memory/{k}": v for k, v in self.agent.memory.state_dict().items()}
            replay = ckpt.replay_path(self.run_dir, self.episode)
            atomic_save_npz(replay, ckpt.save_arrays({"episode": np.array(self.episode), **memory}))
            arrays = self._checkpoint_arrays()
            atomic_save_npz(path, arrays)
            self._saved_episode, self._saved_checkpoint = self.episode, path
            if self.complete:
                atomic_save_npz(self.checkpoint_dir / "final.npz", arrays)
            for old in set(self.checkpoint_dir.glob("replay_*.npz")) - {replay}:
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
        groups = {"model": agent.online.params, "target": agent.target.params, "adam/m": adam["m"],
                  "adam/v": adam["v"]}
        return ckpt.save_arrays({
            **{f"{group}/{k}": v for group, params in groups.items() for k, v in params.items()},
            "adam/steps": np.array(adam["steps"]), "learning_rate": np.array(adam["lr"]),
            "epsilon": np.array(agent.epsilon), "total_steps": np.array(agent.total_steps),
            "train_steps": np.array(agent.train_steps), "episode": np.array(self.episode),
            "total_training_seconds": np.array(self.total_training_seconds),
            "rng/python": np.array(json.dumps(random.getstate())),      # (version, state tuple, gauss)
            "rng/numpy": np.array(json.dumps(self.rng.bit_generator.state)),
            "config_snapshot": np.array(json.dumps(self.config_snapshot())),
            "starting_values": np.array(json.dumps({key: self.hp[key] for key in EDITABLE_STARTING_VALUES})),
        })

    def config_snapshot(self) -> dict:
        """The shape-fixing settings, kept in every checkpoint for the compatibility check."""
        snapshot = {key: getattr(self.metadata, key, None) for key in ckpt.SHAPE_FIXING_FIELDS}
        snapshot["hidden_sizes"] = list(self.hp["hidden_sizes"])
        return json.loads(json.dumps(snapshot))           # tuples become lists, as in a loaded snapshot

    def resume(self, checkpoint: str | Path | None = None) -> Path | None:
        """Load the named checkpoint, or the latest one; returns the file loaded, or None. Deletes the
        temporaries of killed writes first; an unreadable checkpoint's error names one that reads."""
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
                raise CheckpointError(f"{error}\n\nThe file is {path}" + (
                    "; no earlier checkpoint of this run can be read." if previous is None else
                    f". The previous checkpoint, {previous.name}, reads correctly: resume from it with "
                    f"'retro-gamer train {self.run_dir} --resume {previous.stem}' (training then writes "
                    f"{path.name} again), or move {path.name} out of the folder.")) from None
            self._restore(data, path)
            if self.complete and not (final := self.checkpoint_dir / "final.npz").is_file():
                atomic_write(final, path.read_bytes())   # killed between ep_NNNN.npz and final.npz
            return path

    def load_checkpoint(self, path) -> None:
        """Restore everything a checkpoint holds, so training continues exactly where it stopped."""
        self._restore(ckpt.read_checkpoint(path, Path(path).name), Path(path))

    def _restore(self, data: dict, path: Path) -> None:
        agent = self.agent
        try:
            ckpt.check_compatibility(json.loads(str(data["config_snapshot"])), self.config_snapshot(), path,
                                     self.run_dir)
            agent.online.load_params(ckpt.model_params(data, "model/"))
            agent.target.load_params(ckpt.model_params(data, "target/"))
            agent.optimizer.load_state_dict(_adam_state(data, agent.optimizer))
            epsilon = float(data["epsilon"])
            counters = [int(data[key]) for key in ("total_steps", "train_steps", "episode")]
            if not (0.0 <= epsilon <= 1.0 and min(counters) >= 0):
                raise ValueError(f"epsilon {epsilon}, counters {counters}")
            agent.epsilon, (agent.total_steps, agent.train_steps, self.episode) = epsilon, counters
            self.total_training_seconds = float(data["total_training_seconds"])
            py_version, py_state, py_gauss = json.loads(str(data["rng/python"]))
            random.setstate((py_version, tuple(py_state), py_gauss))
            self.rng.bit_generator.state = json.loads(str(data["rng/numpy"]))
        except CheckpointError:
            raise
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as error:
            raise CheckpointError(f"Checkpoint {path.name} is incomplete or holds impossible values "
                                  f"({error}); it was not written by this version of retro-gamer. Resume "
                                  "from another checkpoint with --resume, or start fresh with 'retro-gamer "
                                  f"clean {self.run_dir}'.") from None
        before = json.loads(str(data["starting_values"])) if "starting_values" in data else {}
        for key in (key for key in EDITABLE_STARTING_VALUES if before.get(key, self.hp[key]) != self.hp[key]):
            owner, attribute = (self.agent.optimizer, "lr") if key == "learning_rate" else (self.agent, key)
            self.resume_notices.append(f"{key} was changed in config.toml ({before[key]} -> {self.hp[key]}): "
                                       f"training continues with {key} = {self.hp[key]} instead of the "
                                       f"checkpoint's {getattr(owner, attribute):.3g}.")
            setattr(owner, attribute, self.hp[key])
        self._load_memory(path)
        self.resumed_from = path
        records.keep_episodes_up_to(self.run_dir, self.episode)

    def _load_memory(self, checkpoint: Path) -> None:
        """The replay memory saved with this checkpoint; it only makes resuming exact, so when it is
        missing or damaged training goes on with an empty one, and says so."""
        path, memory = ckpt.replay_path(self.run_dir, self.episode), self.agent.memory
        sizes = memory.capacity, memory.state_codes.shape[1], memory.state_extras.shape[1]
        self.agent.memory = type(memory)(*sizes)
        try:
            saved = ckpt.model_params(ckpt.read_checkpoint(path, path.name), "memory/")
            codes = [saved[k] for k in ("state_codes", "next_codes") if np.size(saved.get(k))]
            actions = np.asarray(saved.get("actions", []))
            highest_code = len(self.metadata.character_set or []) + self.metadata.egocentric
            if (actions.size and not 0 <= actions.min() <= actions.max() < len(self.action_keys)
                    or any(c.max() > highest_code for c in codes)):
                raise ValueError("it holds actions or board codes this network does not have")
            self.agent.memory.load_state_dict(saved)      # checks everything before it copies anything
        except (CheckpointError, KeyError, ValueError, TypeError) as error:
            reason = f"cannot be used ({str(error).splitlines()[0]})" if path.is_file() else "is not there"
            self.resume_notices.append(f"The replay memory of {checkpoint.name} ({path.name}) {reason}: "
                                       "training continues with an empty memory, which refills within a few "
                                       "episodes; the run is no longer an exact continuation.")


def _adam_state(data: dict, optimizer) -> dict:
    """Adam's state from a checkpoint; the first version's m_sum = m / (1 - beta1) (v_sum alike) converted."""
    sums = any(key.startswith("adam/m_sum/") for key in data)
    moments = {m: {name: value * (1 - beta) if sums else value
                   for name, value in ckpt.model_params(data, f"adam/{m}{'_sum' if sums else ''}/").items()}
               for m, beta in (("m", optimizer.beta1), ("v", optimizer.beta2))}
    return {**moments, "steps": int(data["adam/steps"]), "lr": float(data["learning_rate"])}


def grow_input_channels(params: dict, metadata: GameMetadata, old_shape: tuple, at: int, added: int) -> dict:
    """``params`` with ``added`` zero channels inserted at channel ``at`` of the first layer: conv.0.weight
    (32, C, 3, 3) for the CNN, net.0.weight (out, H*W*C + E), board cell-major, for the MLP."""
    channels, height, width = old_shape
    grown = {name: np.array(value) for name, value in params.items()}
    where = [at] * added
    if metadata.spatial:
        grown["conv.0.weight"] = np.insert(grown["conv.0.weight"], where, 0.0, axis=1)
    else:
        weight, n_board = grown["net.0.weight"], channels * height * width
        board = np.insert(weight[:, :n_board].reshape(len(weight), -1, channels), where, 0.0, axis=2)
        grown["net.0.weight"] = np.concatenate([board.reshape(len(weight), -1), weight[:, n_board:]], axis=1)
    return grown
