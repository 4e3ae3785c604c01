"""A retro-games game as the agent sees it.

    description.py   GameMetadata: the game's [tool.retro-gamer] and the [preprocessing] settings
    loading.py       finding, importing and starting a game from any form of --game
    observation.py   a live game read into board codes and extras
    environment.py   GameEnvironment: reset and step, the reward of a turn; measuring a game
"""
