"""The training process: its lock on the run directory, signals, CPU threads, ``train.log``."""
