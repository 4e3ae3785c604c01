"""The DQN agent: act, remember, learn, refresh the target. Deep Q-Learning as it is taught
(Mnih et al., 2015), read top to bottom:

    for every turn of every episode:
        act: epsilon-greedy on the online network's Q-values
        remember (state, action, reward, next_state, done) in the replay memory
        every train_every turns, learn from a random batch of remembered turns:
            td_target = r + gamma * max_a Q_target(s', a) * (1 - done)
            loss      = Huber(Q_online(s, a), td_target)
            backprop, clip the gradient norm to 10, Adam step
        every target_update_freq learning steps, copy the online network into the target
    after every episode: decay epsilon (and the learning rate, if the episode learned)

The engine supplies the parts: ``retro_gamer.dqn`` (this folder, plain NumPy) or
``retro_gamer.fast`` (the same parts, faster), each a module with build_network, Adam and
clip_grad_norm. This file is the only copy of the algorithm: both engines run it.
"""
import time

import numpy as np

import retro_gamer.dqn as plain_engine
from retro_gamer.dqn.loss import huber_loss
from retro_gamer.dqn.replay import make_replay_memory

MAX_GRAD_NORM = 10.0


class DQNAgent:
    """An online network that acts and learns, its target network, Adam and the replay memory.

    metadata: the game's description (GameMetadata); hp: every [training] and [model]
    setting; rng: the generator of every random choice (exploration, replay sampling,
    initial weights); engine: a module with build_network, Adam and clip_grad_norm.
    """

    def __init__(self, metadata, hp: dict, rng: np.random.Generator, engine=plain_engine):
        self.hp, self.rng, self.engine = hp, rng, engine
        self.online, self.rationale = engine.build_network(metadata, hp, rng=rng)
        self.target, _ = engine.build_network(metadata, hp, rng=rng)
        self.refresh_target()
        self.optimizer = engine.Adam(self.online.params, lr=hp["learning_rate"])
        board = metadata.board_shape
        self.memory = make_replay_memory(hp["memory_capacity"], board[1] * board[2] if board else 0,
                                         metadata.extras_size, hp["prioritize_experiences"])
        self.epsilon = float(hp["epsilon"])
        self.total_steps = 0        # turns remembered
        self.train_steps = 0        # learning steps

    def act(self, state) -> int:
        """Epsilon-greedy: with probability epsilon a random action (explore), otherwise the
        action with the highest Q-value (exploit). state: (codes (cells,), extras (E,))."""
        if self.rng.random() < self.epsilon:
            return int(self.rng.integers(self.online.n_actions))
        codes, extras = state
        return int(self.online.forward_codes(codes[None], extras[None])[0].argmax())

    def remember(self, state, action: int, reward: float, next_state, done: bool) -> None:
        """Store one turn in the replay memory."""
        self.memory.add(state, action, reward, next_state, done)
        self.total_steps += 1

    def learn(self) -> float:
        """One learning step on a random batch from the replay memory; returns the loss."""
        hp = self.hp
        batch = self.memory.sample(hp["batch_size"], self.rng)
        rows = np.arange(len(batch.actions))

        # The TD target comes from the target network: a copy that stays still between
        # refreshes, so that the network is not chasing a target that moves with every step.
        next_q = self.target.forward_codes(batch.next_codes, batch.next_extras)
        if hp["double_dqn"]:
            # Double DQN: the online network picks the next action and the target network
            # values it; the max of one noisy estimate would overestimate Q.
            best = self.online.forward_codes(batch.next_codes, batch.next_extras).argmax(axis=1)
            next_value = next_q[rows, best]
        else:
            next_value = next_q.max(axis=1)
        # A terminal transition has no future: its target is the reward alone.
        td_target = batch.rewards + hp["gamma"] * next_value * (1.0 - batch.dones)

        q_values = self.online.forward_codes(batch.state_codes, batch.state_extras)
        q_taken = q_values[rows, batch.actions]
        loss, d_q_taken = huber_loss(q_taken, td_target, batch.weights)
        if not np.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss}")    # before the weights take it in
        # Only the Q-value of the action taken has a target, so only it gets a gradient.
        d_q = np.zeros_like(q_values)
        d_q[rows, batch.actions] = d_q_taken
        grads = self.online.backward(d_q)
        self.engine.clip_grad_norm(grads, MAX_GRAD_NORM)
        self.optimizer.step(grads)
        self.memory.update_priorities(batch.indices, q_taken - td_target)

        self.train_steps += 1
        if self.train_steps % hp["target_update_freq"] == 0:
            self.refresh_target()
        return loss

    def refresh_target(self) -> None:
        """Copy the online network's weights into the target network."""
        self.target.load_params(self.online.params)

    def end_episode(self, learned: bool) -> None:
        """Decay epsilon (explore less as the agent knows more), and the learning rate after
        an episode that learned (finer steps late in training)."""
        self.epsilon = max(self.hp["epsilon_min"], self.epsilon * self.hp["epsilon_decay"])
        if learned:
            self.optimizer.lr *= self.hp["learning_rate_decay"]


def play_episode(agent: DQNAgent, env) -> dict:
    """Play one episode, learning as it goes; returns its statistics.

    env: reset() -> state, and step(action) -> (next_state, reward, done), states being
    (codes, extras) pairs. An episode cut at max_turns_per_episode is not done: the game
    would have gone on, so its last transition still looks ahead to next_state.
    """
    started = time.perf_counter()
    hp = agent.hp
    state = env.reset()
    total_reward, losses, turn = 0.0, [], 0
    for turn in range(1, hp["max_turns_per_episode"] + 1):
        action = agent.act(state)
        next_state, reward, done = env.step(action)
        agent.remember(state, action, reward, next_state, done)
        total_reward += reward
        if agent.total_steps % hp["train_every"] == 0 and len(agent.memory) >= hp["batch_size"]:
            losses.append(agent.learn())
        state = next_state          # easy to overlook: the next turn starts from here
        if done:
            break
    return {"total_reward": total_reward, "steps": turn, "learned": bool(losses),
            "avg_loss": float(np.mean(losses)) if losses else 0.0, "seconds": time.perf_counter() - started}
