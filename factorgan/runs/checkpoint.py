"""Atomic checkpoints of the whole training state (networks, optimisers, step, RNGs)."""
from __future__ import annotations

import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from factorgan.atomic_files import write_atomic
from factorgan.errors import CheckpointUnreadable

LAST = "last.pt"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_atomic(obj: Any, path: str | Path, hint: str = "") -> None:
    """``torch.save`` to a temporary file in the same directory, fsync, then rename
    (:func:`~factorgan.atomic_files.write_atomic`)."""
    write_atomic(path, lambda f: torch.save(obj, f), hint)


def load(path: str | Path, map_location: str | torch.device = "cpu", mmap: bool = False) -> dict[str, Any]:
    """A checkpoint's contents; a damaged or incomplete file raises
    :class:`~factorgan.errors.CheckpointUnreadable` naming it and the snapshots to use instead."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=False, mmap=mmap)
    except FileNotFoundError:
        raise
    except Exception as err:
        if mmap:  # e.g. a legacy (non-zip) file cannot be memory-mapped: read it whole
            return load(path, map_location)
        if not damaged(path):  # e.g. map_location names a missing device: not the file's fault
            raise
        raise unreadable(path, err) from None
    return state


def damaged(path: Path) -> bool:
    """Whether ``path`` is not a complete checkpoint: not a whole zip archive (torch's
    format), or one whose contents fail their checksums (a cut-off or corrupted write)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is not None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return True


def snapshots(run_dir: str | Path) -> list[Path]:
    """The run's step snapshots ``checkpoints/step_*.pt``, oldest first."""
    return sorted(checkpoint_dir(run_dir).glob("step_*.pt"))


def unreadable(path: Path, err: BaseException) -> Exception:
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    others = [p for p in snapshots(path.parent.parent) if p != path]
    if path.parent.name != checkpoint_dir("").name:  # not a run's checkpoint (e.g. a cache file)
        advice = "Remove it (a cache file is made again) or replace it with a good copy."
    elif others:
        newest = others[-1]
        advice = (
            f"Snapshots of this run: {', '.join(p.name for p in others)}. To continue from one, copy "
            f"it over the damaged file (cp {newest} {path.parent / LAST}) and add resume=true; or "
            f"start a new run from it: init_from={newest} name=<tag>."
        )
    else:
        advice = (
            "The run kept no other snapshots (trainer.snapshot_every=0), so it cannot be continued: "
            "start it again (move the run directory away, or use name=<tag>)."
        )
    return CheckpointUnreadable(f"cannot read checkpoint {path}: the file is damaged or incomplete ({reason}). {advice}")


def find(run_dir: str | Path, name: str = LAST) -> Path | None:
    """The checkpoint ``name`` (``last.pt`` or ``step_0001000.pt``) of a run, if it exists."""
    path = checkpoint_dir(run_dir) / (name if name.endswith(".pt") else f"{name}.pt")
    return path if path.exists() else None


def rng_state(train_rng: torch.Generator) -> dict[str, Any]:
    state = {
        "train": train_rng.get_state(),
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any], train_rng: torch.Generator) -> None:
    train_rng.set_state(state["train"])
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def training_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every network weight and optimiser moment of a checkpoint, by name: what must be
    bit-identical between a resumed and an uninterrupted run."""
    state = load(path)
    out = {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in state[net].items()}
    for opt in ("opt_g", "opt_d"):
        for i, s in state[opt]["state"].items():
            out.update({f"{opt}.{i}.{k}": v for k, v in s.items() if torch.is_tensor(v)})
    return out

