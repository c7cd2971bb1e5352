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
    """Sums of 0-dim device tensors over a logging interval.

    Each :meth:`add` call stacks its values into one vector and adds it to the running
    sum for that set of tags: two kernels per call instead of one per tag.
    """

    def __init__(self) -> None:
        self._sums: dict[tuple[str, ...], Tensor] = {}
        self._counts: dict[tuple[str, ...], int] = {}

    def add(self, values: dict[str, Tensor]) -> None:
        """Accumulate 0-dim tensors (detached; they stay on their device)."""
        tags = tuple(values)
        with torch.no_grad():
            stacked = torch.stack([v.detach().float() for v in values.values()])
            if tags in self._sums:
                self._sums[tags].add_(stacked)
                self._counts[tags] += 1
            else:
                self._sums[tags] = stacked
                self._counts[tags] = 1

    def pending(self) -> bool:
        return bool(self._sums)

    def flush(self) -> dict[str, float]:
        """Interval means as Python floats; resets the accumulators."""
        if not self._sums:
            return {}
        keys = list(self._sums)
        flat = torch.cat([self._sums[k] for k in keys]).cpu()  # CPU-GPU sync point
        values = iter(flat.tolist())
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        for key in keys:
            for tag in key:
                sums[tag] = sums.get(tag, 0.0) + next(values)
                counts[tag] = counts.get(tag, 0) + self._counts[key]
        self._sums.clear()
        self._counts.clear()
        return {tag: sums[tag] / counts[tag] for tag in sums}


def check_finite(means: dict[str, float], step: int) -> None:
    """Raise :class:`NonFiniteLossError` naming every non-finite loss."""
    bad = [t for t, v in means.items() if t.startswith("loss/") and not math.isfinite(v)]
    if bad:
        raise NonFiniteLossError(f"non-finite loss at step {step}: {', '.join(sorted(bad))}")
