"""A training run on disk, and the trainer that fills it (trainer.py): config.toml (config.py, the settings
being in retro_gamer/settings.py), checkpoints.py, records.py (training.log, episodes.csv), files.py (atomic
writes) and session.py (one trainer per run, stop signals)."""
