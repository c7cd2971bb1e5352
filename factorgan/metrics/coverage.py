"""Mode coverage of a class-conditional generator: how many classes its samples cover and
how far their class histogram is from the test split's.

A generator that collapsed onto one class can still score a fair dependency metric (one
class of top digit always over one class of bottom digit is a strong dependency): these
two numbers say the collapse out loud.

- ``classes_covered``: the classes that at least :data:`MIN_SHARE` of the generated
  samples fall in (0..number of classes; the test split covers all);
- ``class_tv``: total variation between the generated and the test split's class
  frequencies, in [0, 1] (0: the same histogram, 1: disjoint).
"""
from __future__ import annotations

import torch

MIN_SHARE = 0.01  # a class counts as covered with at least 1 % of the generated samples


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(N,)`` integer labels -> ``(num_classes,)`` float counts."""
    return torch.bincount(labels.flatten().long().cpu(), minlength=num_classes).float()


def total_variation(counts: torch.Tensor, reference: torch.Tensor) -> float:
    """Half the L1 distance between two histograms' frequencies: 0 equal, 1 disjoint."""
    return 0.5 * (counts / counts.sum() - reference / reference.sum()).abs().sum().item()


def covered(counts: torch.Tensor, min_share: float = MIN_SHARE) -> int:
    """The classes holding at least ``min_share`` of the counted samples."""
    return int((counts >= min_share * counts.sum()).sum())


def class_coverage(fake_labels: torch.Tensor, test_labels: torch.Tensor, num_classes: int = 10) -> dict[str, float]:
    """``classes_covered`` and ``class_tv`` of generated ``(N, K)`` class predictions (one
    column per part, e.g. top and bottom digit) against the test split's ``(M, K)``
    labels: the fewest classes any part covers, and the mean total variation over parts."""
    parts = [(class_counts(fake_labels[:, k], num_classes), class_counts(test_labels[:, k], num_classes))
             for k in range(fake_labels.shape[1])]
    return {
        "classes_covered": float(min(covered(fake) for fake, _ in parts)),
        "class_tv": sum(total_variation(fake, test) for fake, test in parts) / len(parts),
    }
