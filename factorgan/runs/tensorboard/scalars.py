"""Scalar logging without per-step host syncs.

Training steps add 0-dim device tensors; :meth:`ScalarLog.flush` averages them over the
interval and copies them to the host in one transfer (the only CPU-GPU sync point of
logging), then writes them to TensorBoard against the global generator step.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from factorgan.errors import NonFiniteLossError  # noqa: F401 (here as before)


class ScalarLog:
    """Sums of 0-dim device tensors over a logging interval.

    Each :meth:`add` call stacks its values, plus a 1 that counts the call, into one
    vector and adds it in place to the running sum for that set of tags: two kernels per
    call instead of one per tag, and the sums keep their memory across intervals, so a
    step replayed as a CUDA graph keeps accumulating into them.
    """

    def __init__(self) -> None:
        self._sums: dict[tuple[str, ...], Tensor] = {}

    def add(self, values: dict[str, Tensor]) -> None:
        """Accumulate 0-dim tensors (detached; they stay on their device)."""
        tags = tuple(values)
        with torch.no_grad():
            first = next(iter(values.values()))
            stacked = torch.stack([*(v.detach().float() for v in values.values()), first.new_ones((), dtype=torch.float32)])
            if tags in self._sums:
                self._sums[tags].add_(stacked)
            else:
                self._sums[tags] = stacked

    def pending(self) -> bool:
        return bool(self._sums)

    def flush(self) -> dict[str, float]:
        """Interval means as Python floats; zeroes the sums (in place)."""
        if not self._sums:
            return {}
        keys = list(self._sums)
        flat = torch.cat([self._sums[k] for k in keys]).cpu().tolist()  # CPU-GPU sync point
        for k in keys:
            self._sums[k].zero_()
        sums: dict[str, float] = {}
        counts: dict[str, float] = {}
        pos = 0
        for key in keys:
            n = flat[pos + len(key)]
            for i, tag in enumerate(key):
                if n:
                    sums[tag] = sums.get(tag, 0.0) + flat[pos + i]
                    counts[tag] = counts.get(tag, 0.0) + n
            pos += len(key) + 1
        return {tag: sums[tag] / counts[tag] for tag in sums}


def check_finite(means: dict[str, float], step: int) -> None:
    """Raise :class:`NonFiniteLossError` naming every non-finite loss."""
    bad = [t for t, v in means.items() if t.startswith("loss/") and not math.isfinite(v)]
    if bad:
        raise NonFiniteLossError(f"non-finite loss at step {step}: {', '.join(sorted(bad))}")
