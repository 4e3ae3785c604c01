"""``python -m retro_gamer`` runs the command line, like the ``retro-gamer`` script."""
import sys

from retro_gamer.cli import main

sys.exit(main())
