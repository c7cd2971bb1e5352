"""Every error a user's input or environment can cause, in one place.

The command lines show these as a message without a traceback (:func:`user_error` finds
one behind Hydra's wrapping); anything else is a bug and keeps its traceback. Each class
is named for what went wrong; the older broad names (``RunError``, ``DatasetError``,
``ConfigError``) stay as the bases, so ``except RunError`` still catches every run problem.
The modules that raised them before re-export them (``factorgan.runs.directory.RunError``...).
"""
from __future__ import annotations

from pathlib import Path


class FactorganError(Exception):
    """Base of the user-facing errors: the message says what went wrong and what to do."""


# ---- configuration and command line ----------------------------------------------------
class ConfigError(FactorganError, ValueError):
    """A config value that cannot work (``trainer.batch_size=0``, ``paired=abc``,
    ``evaluation.num_samples=2`` for FID ...): the message names the key and what to use."""


class ThreadsError(ConfigError):
    """The ``threads`` setting is neither ``auto`` nor a positive integer."""


class ContractError(ConfigError):
    """A configured object lacks what the trainer needs of it (a generator without
    ``noise_dim``, a steps class without ``generator_loss`` ...): the message names the piece."""


class CliError(FactorganError, RuntimeError):
    """Bad command-line input to evaluate, sample or results: the message says what to do."""


class NoSuchRun(CliError):
    """The path given as a run directory is missing or holds no run (no ``config.yaml``,
    no checkpoint)."""


class NoSuchCheckpoint(CliError):
    """The run has no checkpoint of the name asked for (``checkpoint=``)."""


# ---- data ------------------------------------------------------------------------------
class DatasetError(FactorganError, ValueError):
    """A dataset is missing, malformed or asked for more than it holds."""


class PairedCountError(DatasetError):
    """``paired`` is larger than the training set (a sweep skips such runs)."""


# ---- runs ------------------------------------------------------------------------------
class RunError(FactorganError, RuntimeError):
    """A run cannot start, resume or be read as asked (base of the run errors below)."""


class RunExists(RunError):
    """The run directory already holds a run and neither ``resume=true`` nor a new ``name`` was given."""


class NothingToResume(RunError):
    """``resume=true`` on a run directory without a checkpoint."""


class ResumeMismatch(RunError):
    """A resume whose config or ``trainer.max_steps`` does not fit the saved run."""


class RunInUse(RunError):
    """Another process holds the run directory's lock."""


class WriteFailed(RunError):
    """A run file could not be written (a full disk, a quota): what is intact and how to go on."""


class CheckpointUnreadable(RunError):
    """A checkpoint file is damaged or incomplete."""


class RunConfigUnreadable(RunError):
    """Neither ``config.yaml`` nor a checkpoint's copy of it can be read."""


class InitFromMismatch(RunError):
    """``init_from`` names nothing, or weights that do not fit this run's networks."""


class DamagedMetrics(FactorganError, ValueError):
    """``metrics.json`` cannot be read: ``path`` and ``reason`` (writers set it aside;
    readers say so and go on without it)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} is damaged ({reason})")
        self.path, self.reason = path, reason


# ---- training --------------------------------------------------------------------------
class NonFiniteLossError(FactorganError, RuntimeError):
    """A logged loss (or the weights about to be saved) became NaN or infinite."""


def _compact_base() -> type[Exception]:
    from hydra.errors import CompactHydraException

    return CompactHydraException


class SweepJobFailed(_compact_base()):  # type: ignore[misc]
    """A sweep job's expected failure, handed back to Hydra to mark the job failed. A
    compact Hydra exception: Hydra prints its message, not a traceback (the original
    traceback stays in the job's process; the message already said what to do)."""


def user_error(err: BaseException) -> FactorganError | None:
    """The user-facing error behind ``err`` (Hydra wraps errors raised while it
    instantiates objects), or None for a genuine bug."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, FactorganError):
            return seen
        seen = seen.__cause__
    return None
