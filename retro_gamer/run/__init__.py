"""A training run on disk, and the trainer that fills it.

    config.py       config.toml: read, checked and written (the settings: retro_gamer/settings.py)
    trainer.py      DQNTrainer: sessions of dqn/agent.py's training, checkpoints, resume, new characters
    checkpoints.py  finding, naming, reading and refusing checkpoint files
    records.py      training.log and episodes.csv, written and read back
    files.py        atomic writes: a file is replaced only once its new version is complete
    session.py      one trainer per run (a lock), and how Ctrl-C and other stop signals are handled
"""
