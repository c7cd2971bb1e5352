"""Start a NEW run from another run's weights: ``init_from=<run dir or checkpoint file>``
(and ``init_optimizer=true`` to take its optimiser state as well).

Unlike ``resume=true`` (which continues a run with its own settings), the new run may
change anything - a lower learning rate after a non-finite loss, another objective, a
longer schedule - as long as its networks have the same parameter shapes. It starts at
step 0 with fresh random streams (seeded by ``seed``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from factorgan.runs import checkpoint
from factorgan.errors import InitFromMismatch

MAX_LISTED = 8  # parameters named in a mismatch message


def init_checkpoint(source: str | Path) -> Path:
    """The checkpoint ``init_from`` names: a file, a run directory (its ``last.pt``), or a
    run's ``checkpoints/`` folder."""
    path = Path(str(source)).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        run_dir = path.parent if path.name == "checkpoints" else path
        found = checkpoint.find(run_dir)
        if found is not None:
            return found
        have = sorted(p.name for p in checkpoint.checkpoint_dir(run_dir).glob("*.pt"))
        raise InitFromMismatch(
            f"init_from={source}: {run_dir} holds no checkpoints/{checkpoint.LAST}"
            + (f"; name one of its checkpoints instead: {', '.join(str(checkpoint.checkpoint_dir(run_dir) / h) for h in have)}"
               if have else " (no checkpoint at all: it never reached its first ckpt_every)")
        )
    raise InitFromMismatch(f"init_from={source}: no such run directory or checkpoint file")


def mismatches(prefix: str, own: Mapping[str, torch.Tensor], saved: Mapping[str, Any]) -> list[str]:
    """Parameters (and buffers) of one network that ``saved`` lacks, has in excess, or
    holds with another shape."""
    out = [f"{prefix}.{k}: not in the checkpoint" for k in own if k not in saved]
    out += [f"{prefix}.{k}: in the checkpoint only" for k in saved if k not in own]
    for key, value in own.items():
        other = saved.get(key)
        if isinstance(other, torch.Tensor) and other.shape != value.shape:
            out.append(f"{prefix}.{key}: {tuple(other.shape)} in the checkpoint, {tuple(value.shape)} here")
    return out


def _load_optimizer(opt: torch.optim.Optimizer, saved: Any, name: str) -> None:
    """The saved optimiser state (e.g. Adam's moments) under this run's settings: the
    new run's lr, betas ... stay as configured."""
    settings = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
    try:
        opt.load_state_dict(saved)
    except (ValueError, KeyError, TypeError) as err:
        raise InitFromMismatch(f"init_optimizer=true: the checkpoint's {name} does not fit this run's optimiser "
                       f"({err}); use init_optimizer=false to take the weights only") from None
    for group, own in zip(opt.param_groups, settings):
        group.update(own)


def initialise(trainer: Any, source: str | Path, with_optimizer: bool = False) -> str:
    """Load ``source``'s networks (generator, discriminator, further networks such as
    CycleGAN's inverse generator) into ``trainer``; returns what was taken, for the log.

    Raises :class:`InitFromMismatch` naming the parameters when the networks do not match.
    """
    path = init_checkpoint(source)
    state = checkpoint.load(path, map_location=trainer.device)
    nets = {"generator": trainer.G, "discriminator": trainer.D, **trainer.extra}
    problems: list[str] = []
    for key, net in nets.items():
        if not isinstance(state.get(key), Mapping):
            problems.append(f"{key}: the checkpoint has no such network")
        else:
            problems += mismatches(key, net.state_dict(), state[key])
    if problems:
        listed = problems[:MAX_LISTED] + ([f"... and {len(problems) - MAX_LISTED} more"] if len(problems) > MAX_LISTED else [])
        raise InitFromMismatch(
            f"init_from={source}: the networks in {path} do not match this run's:\n  " + "\n  ".join(listed)
            + "\nUse the generator, discriminator and model settings of that run (see its config.yaml)."
        )
    for key, net in nets.items():
        net.load_state_dict(state[key])
    taken = list(nets)
    if with_optimizer:
        for name, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
            if name not in state:
                raise InitFromMismatch(f"init_optimizer=true: {path} holds no optimiser state {name!r}")
            _load_optimizer(opt, state[name], name)
        taken.append("optimiser state")
    trainer.step = 0
    return f"Initialised from {path} (its step {state.get('step')}): {', '.join(taken)}; starting at step 0"
