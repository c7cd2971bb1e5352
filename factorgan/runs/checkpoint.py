"""Atomic checkpoints of the whole training state (networks, optimisers, step, RNGs)."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

LAST = "last.pt"


def checkpoint_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "checkpoints"


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same directory, fsync, then rename.

    A crash mid-write leaves the previous file intact: the rename is atomic.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    return torch.load(path, map_location=map_location, weights_only=False)


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
