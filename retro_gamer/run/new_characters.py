"""unknown_character_strategy = "extend": a character never seen before gets an input channel."""
import numpy as np

from retro_gamer.game.description import GameMetadata
from retro_gamer.run import records
from retro_gamer.run.config import save_trainer_config


def extend_character_set(trainer) -> None:
    """Grow the input layer between episodes: each new character's channel starts with zero weights (and
    Adam moments), so the network computes exactly what it did before, then learns what it means."""
    agent, metadata, hp = trainer.agent, trainer.metadata, trainer.hp
    before, old_shape, adam = len(metadata.character_set), metadata.board_shape, agent.optimizer.state_dict()
    added = len(trainer.env.encoder.extend_character_set())       # appended to metadata.character_set
    online, target, m, v = (grow_input_channels(params, metadata, old_shape, before, added)
                            for params in (agent.online.params, agent.target.params, adam["m"], adam["v"]))
    agent.online, agent.rationale = agent.engine.build_network(metadata, hp, rng=trainer.rng)
    agent.target, _ = agent.engine.build_network(metadata, hp, rng=trainer.rng)
    agent.online.load_params(online)
    agent.target.load_params(target)
    agent.optimizer = agent.engine.Adam(agent.online.params, lr=adam["lr"])
    agent.optimizer.load_state_dict({**adam, "m": m, "v": v})
    if metadata.egocentric:      # the off-board channel stays last: its code moves up
        for codes in (agent.memory.state_codes, agent.memory.next_codes):
            codes[codes > before] += added
    save_trainer_config(trainer.run_dir, metadata, hp)
    records.append_log(trainer.run_dir, f"[INIT] New character(s) {metadata.character_set[-added:]} seen in "
                       f"episode {trainer.episode}: the input layer was extended with zero weights.")


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
