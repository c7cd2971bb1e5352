"""Energy distance between two samples of vectors: a parameter-free two-sample distance
for data with no domain-specific measure (users' arrays).

D²(P, Q) = 2 E|X − Y| − E|X − X'| − E|Y − Y'| with X, X' ~ P and Y, Y' ~ Q independent
(Székely & Rizzo); it is ≥ 0 and 0 only when P = Q. Estimated here with the V-statistic
over all pairs, so two samples of one distribution score about 1/N of the spread, not 0.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _mean_distance(a: Tensor, b: Tensor, batch: int = 2048) -> Tensor:
    """Mean Euclidean distance over all pairs of rows of ``a`` ``(N, D)`` and ``b`` ``(M, D)``."""
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for start in range(0, len(a), batch):  # bounded memory: (batch, M) distances at a time
        total += torch.cdist(a[start:start + batch], b).double().sum()
    return total / (len(a) * len(b))


def energy_distance(x: Tensor, y: Tensor) -> float:
    """Energy distance D² between samples ``x`` ``(N, ...)`` and ``y`` ``(M, ...)`` (each
    sample flattened to a vector)."""
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"energy distance needs at least 2 samples on each side, got {len(x)} and {len(y)}")
    a, b = x.flatten(1).float(), y.flatten(1).float()
    return float(2 * _mean_distance(a, b) - _mean_distance(a, a) - _mean_distance(b, b))
