"""A finished or interrupted run read back from its directory: its config and the
checkpoint to load, or an error that names what is missing and what is there."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from factorgan.errors import NoSuchCheckpoint, NoSuchRun
from factorgan.runs import checkpoint
from factorgan.runs.rundir.config_file import CONFIG, read_config


@dataclass
class SavedRun:
    """What :func:`open_run` found: the run's config (today's keys) and the checkpoint file."""

    run_dir: Path
    config: DictConfig
    checkpoint: Path


def available_checkpoints(run_dir: Path) -> list[str]:
    """The names of the run's checkpoint files."""
    return sorted(p.name for p in checkpoint.checkpoint_dir(run_dir).glob("*.pt"))


def run_config(run_dir: Path, checkpoint_name: str = checkpoint.LAST) -> DictConfig:
    """The run's saved ``config.yaml`` (when damaged or missing: the copy in the checkpoint
    ``checkpoint_name`` or ``last.pt``, said on stderr); clear errors when ``run_dir`` is
    not a run."""
    if not run_dir.is_dir():
        near = sorted(p.name for p in run_dir.parent.iterdir() if p.is_dir()) if run_dir.parent.is_dir() else []
        hint = f"\n  directories in {run_dir.parent}: {', '.join(near)}" if near else ""
        raise NoSuchRun(
            f"no run directory {run_dir} (a directory written by python -m factorgan.train, "
            f"e.g. outputs/paired_mnist/factorgan/paired100_lam0.9_seed0){hint}"
        )
    if not (run_dir / CONFIG).exists() and not available_checkpoints(run_dir):
        raise NoSuchRun(f"{run_dir} is not a run directory: it has no config.yaml")
    return OmegaConf.create(read_config(run_dir, checkpoint_name))


def open_run(run_dir: str | Path, checkpoint_name: str = checkpoint.LAST) -> SavedRun:
    """The run in ``run_dir`` with its checkpoint ``checkpoint_name`` (``last`` or a
    snapshot such as ``step_0005000``); nothing is loaded yet."""
    run_dir = Path(run_dir)
    config = run_config(run_dir, checkpoint_name)
    path = checkpoint.find(run_dir, checkpoint_name)
    if path is None:
        have = available_checkpoints(run_dir)
        raise NoSuchCheckpoint(
            f"no checkpoint {checkpoint_name!r} in {checkpoint.checkpoint_dir(run_dir)}; available: "
            + (", ".join(have) if have else "none (the run has not saved one yet)")
        )
    return SavedRun(run_dir, config, path)
