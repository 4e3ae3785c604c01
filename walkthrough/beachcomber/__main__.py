"""Play Beachcomber with the keyboard: ``python -m beachcomber`` from the walkthrough folder."""
from beachcomber import create_game

create_game().play()
