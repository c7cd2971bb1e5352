"""Errors a user's input can cause, shown as a message without a traceback (the command
lines catch them: :data:`factorgan.cli.train.EXPECTED_ERRORS`)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A config value that cannot work (``trainer.batch_size=0``, ``paired=abc``,
    ``evaluation.num_samples=2`` for FID ...): the message names the key and what to use."""


def _compact_base() -> type[Exception]:
    from hydra.errors import CompactHydraException

    return CompactHydraException


class SweepJobFailed(_compact_base()):  # type: ignore[misc]
    """A sweep job's expected failure, handed back to Hydra to mark the job failed. A
    compact Hydra exception: Hydra prints its message, not a traceback (the original
    traceback stays in the job's process; the message already said what to do)."""
