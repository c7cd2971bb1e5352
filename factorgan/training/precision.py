"""Numeric precision of the networks' forward passes (``trainer.precision``)."""
from __future__ import annotations

import contextlib

import torch

# Mixed precision: the dtype autocast runs matrix products and convolutions in. Weights,
# optimiser state, spectral norms and losses stay fp32. (fp16 would need loss scaling.)
AUTOCAST_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}


def check_precision(name: str) -> None:
    if name not in AUTOCAST_DTYPES:
        raise ValueError(f"trainer.precision={name!r}: choose one of {sorted(AUTOCAST_DTYPES)}")


def autocast(device: torch.device, name: str) -> contextlib.AbstractContextManager:
    """Autocast to ``name``'s dtype on ``device`` (a no-op for fp32). No weight-cast
    cache, so CUDA graph capture stays valid."""
    dtype = AUTOCAST_DTYPES[name]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype, cache_enabled=False)
