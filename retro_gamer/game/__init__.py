"""A retro-games game as the agent sees it: its description and [preprocessing] (description.py),
finding and starting it from any form of --game (loading.py), a live game read into board codes
and extras (observation.py), and GameEnvironment: reset, step and the reward of a turn."""
