"""Errors a user's input can cause, shown as a message without a traceback (the command
lines catch them: :data:`factorgan.cli.train.EXPECTED_ERRORS`)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A config value that cannot work (``trainer.batch_size=0``, ``paired=abc``,
    ``evaluation.num_samples=2`` for FID ...): the message names the key and what to use."""
