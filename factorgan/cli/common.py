"""Shared pieces of the run-level command lines (``python -m factorgan.evaluate``, ``python -m factorgan.sample``):
``key=value`` arguments and rebuilding a trainer from a finished run directory."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from factorgan.runs import checkpoint
from factorgan.runs import directory as runs
from factorgan.training.loop import Trainer


class CliError(RuntimeError):
    """Bad command-line input: the message says what to do."""


def parse_args(argv: list[str], known: dict[str, str], doc: str, prefixes: tuple[str, ...] = ()) -> dict[str, str]:
    """``key=value`` tokens -> dict. ``-h``/``--help`` prints ``doc`` and exits.

    Args:
        known: allowed keys -> their default ("" for required, "None" for optional).
        prefixes: dotted prefixes also allowed (e.g. ``evaluation.``).
    """
    if any(a in ("-h", "--help", "help") for a in argv):
        print(doc.strip())
        raise SystemExit(0)
    out: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise CliError(f"arguments are key=value, got {arg!r} (see --help)")
        if key not in known and not key.startswith(prefixes):
            raise CliError(f"unknown argument {key!r}; known: {', '.join(known)} (see --help)")
        out[key] = value
    missing = [k for k, default in known.items() if default == "" and k not in out]
    if missing:
        raise CliError(f"missing {', '.join(f'{k}=...' for k in missing)} (see --help)")
    return {**{k: v for k, v in known.items() if v not in ("", "None")}, **out}


def run_config(run_dir: Path, checkpoint_name: str = checkpoint.LAST) -> DictConfig:
    """The run's saved ``config.yaml`` (when damaged or missing: the copy in the checkpoint
    ``checkpoint_name`` or ``last.pt``, said on stderr); clear errors when ``run_dir`` is
    not a run."""
    if not run_dir.is_dir():
        near = sorted(p.name for p in run_dir.parent.iterdir() if p.is_dir()) if run_dir.parent.is_dir() else []
        hint = f"\n  directories in {run_dir.parent}: {', '.join(near)}" if near else ""
        raise CliError(
            f"no run directory {run_dir} (a directory written by python -m factorgan.train, "
            f"e.g. outputs/paired_mnist/factorgan/paired100_lam0.9_seed0){hint}"
        )
    if not (run_dir / runs.CONFIG).exists() and not available_checkpoints(run_dir):
        raise CliError(f"{run_dir} is not a run directory: it has no config.yaml")
    return OmegaConf.create(runs.read_config(run_dir, checkpoint_name))


def available_checkpoints(run_dir: Path) -> list[str]:
    return sorted(p.name for p in checkpoint.checkpoint_dir(run_dir).glob("*.pt"))


def load_run(run_dir: str | Path, checkpoint_name: str = checkpoint.LAST, device: str | None = None) -> tuple[Trainer, str]:
    """Rebuild a run's trainer from its ``config.yaml`` and load a checkpoint.

    Returns the trainer (networks, data, config of the run) and the checkpoint's file name.
    """
    from factorgan.cli.train import build_trainer  # the one place objects are built from config

    run_dir = Path(run_dir)
    cfg = run_config(run_dir, checkpoint_name)
    path = checkpoint.find(run_dir, checkpoint_name)
    if path is None:
        have = available_checkpoints(run_dir)
        raise CliError(
            f"no checkpoint {checkpoint_name!r} in {checkpoint.checkpoint_dir(run_dir)}; available: "
            + (", ".join(have) if have else "none (the run has not saved one yet)")
        )
    if device is not None:
        cfg.device = device
    trainer = build_trainer(cfg, run_dir)
    trainer.load_state_dict(checkpoint.load(path, map_location=trainer.device))
    return trainer, path.name


def main_guard(main: Callable[[list[str]], Any], argv: list[str] | None = None) -> None:
    """Run ``main`` and turn expected errors into a message and exit code 2 (no traceback)."""
    from factorgan.cli.train import expected_error

    try:
        main(sys.argv[1:] if argv is None else argv)
    except Exception as raised:
        err = raised if isinstance(raised, CliError) else expected_error(raised)
        if err is None:
            raise
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
