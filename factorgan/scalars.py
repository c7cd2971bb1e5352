"""Scalar logging without per-step host syncs.

Training steps add 0-dim device tensors; :meth:`ScalarLog.flush` averages them over the
interval and copies them to the host in one transfer (the only CPU-GPU sync point of
logging), then writes them to TensorBoard against the global generator step.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


class NonFiniteLossError(RuntimeError):
    """A logged loss became NaN or infinite."""


class ScalarLog:
    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, values: dict[str, Tensor]) -> None:
        """Accumulate 0-dim tensors (detached; stays on their device)."""
        for tag, value in values.items():
            value = value.detach().float()
            if tag in self._sums:
                self._sums[tag] = self._sums[tag] + value
                self._counts[tag] += 1
            else:
                self._sums[tag] = value
                self._counts[tag] = 1

    def pending(self) -> bool:
        return bool(self._sums)

    def flush(self) -> dict[str, float]:
        """Interval means as Python floats; resets the accumulators."""
        if not self._sums:
            return {}
        tags = list(self._sums)
        stacked = torch.stack([self._sums[t] for t in tags]).cpu()  # CPU-GPU sync point
        means = {t: float(v) / self._counts[t] for t, v in zip(tags, stacked.tolist())}
        self._sums.clear()
        self._counts.clear()
        return means


def check_finite(means: dict[str, float], step: int) -> None:
    """Raise :class:`NonFiniteLossError` naming every non-finite loss."""
    bad = [t for t, v in means.items() if t.startswith("loss/") and not math.isfinite(v)]
    if bad:
        raise NonFiniteLossError(f"non-finite loss at step {step}: {', '.join(sorted(bad))}")
