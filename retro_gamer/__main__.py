"""``python -m retro_gamer`` runs the command line, like the ``retro-gamer`` script."""
from retro_gamer.cli import main

raise SystemExit(main())
