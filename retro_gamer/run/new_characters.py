"""unknown_character_strategy = "extend": a character never seen before gets an input channel.

The input layer grows by one channel per new character, with zero weights (and zero Adam
moments), so the grown network computes exactly what it computed before, and learns what
the new character means from then on. The trainer adopts new characters between episodes.
"""
import numpy as np

from retro_gamer.game.description import GameMetadata
from retro_gamer.run import records
from retro_gamer.run.config import engine_module, save_trainer_config


def extend_character_set(trainer) -> None:
    """Give each character the environment saw outside the character set an input channel of its own."""
    agent, metadata, hp = trainer.agent, trainer.metadata, trainer.hp
    engine = engine_module(hp["engine"])
    before, old_shape = len(metadata.character_set), metadata.board_shape
    online, target = dict(agent.online.params), dict(agent.target.params)
    adam = agent.optimizer.state_dict()
    added = trainer.env.adopt_new_characters()       # appended to metadata.character_set

    def grow(params):
        return grow_input_channels(params, metadata, old_shape, before, added)

    agent.online, agent.rationale = engine.build_network(metadata, hp, rng=trainer.rng)
    agent.target, _ = engine.build_network(metadata, hp, rng=trainer.rng)
    agent.online.load_params(grow(online))
    agent.target.load_params(grow(target))
    agent.optimizer = engine.Adam(agent.online.params, lr=adam["lr"])
    agent.optimizer.load_state_dict({**adam, "m": grow(adam["m"]), "v": grow(adam["v"])})
    if metadata.egocentric:      # the off-board channel stays last: its code moves up
        for codes in (agent.memory.state_codes, agent.memory.next_codes):
            codes[codes > before] += added
    save_trainer_config(trainer.run_dir, metadata, hp)
    records.append_log(trainer.run_dir, f"[INIT] New character(s) {metadata.character_set[-added:]} seen in "
                                        f"episode {trainer.episode}: the input layer was extended with zero "
                                        "weights.")


def grow_input_channels(params: dict, metadata: GameMetadata, old_shape: tuple, insert_at: int,
                        added: int) -> dict:
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
