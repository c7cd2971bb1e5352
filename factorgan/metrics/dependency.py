"""The PairedMNIST dependency metric (paper eq. 5, as the official code computes it).

For real pairs (true labels) and generated pairs (classes predicted by the classifier):

    c(t, b) = p(t, b) / (p_top(t) · p_bottom(b) + 0.001)      for t, b in 0..9
    d_dep   = mean over the 10×10 digit pairs of |c_P(t, b) − c_Q(t, b)|

p is the joint class frequency and p_top, p_bottom its marginals. The constant 0.001 in
the denominator is the official code's: it keeps c finite for a class a generator never
produces. (The paper's 1/100 · Σ over the 100 pairs is this mean.) Lower is better: 0 for
perfectly modelled dependencies; at λ = 0.9 a generator with independent digits scores
about 1.45 (the paper's FactorGAN-no-cp: 1.49).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

NUM_CLASSES = 10
EPS = 0.001  # the official code's constant in the denominator of c


def joint_frequencies(top: Tensor, bottom: Tensor, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Normalised counts ``(C, C)`` of (top class, bottom class) pairs; labels ``(N,)``."""
    if top.shape != bottom.shape or top.ndim != 1 or len(top) == 0:
        raise ValueError(f"need two equal-length label vectors, got {tuple(top.shape)} and {tuple(bottom.shape)}")
    idx = top.long().cpu() * num_classes + bottom.long().cpu()
    counts = torch.bincount(idx, minlength=num_classes * num_classes).double()
    return (counts / counts.sum()).view(num_classes, num_classes).numpy()


def dependency_ratio(joint: np.ndarray, eps: float = EPS) -> np.ndarray:
    """c = joint / (outer(top marginal, bottom marginal) + eps), ``(C, C)``.

    (The official code multiplies the marginals transposed, p_top(b) · p_bottom(t); we
    use the definition. The two agree whenever the marginals are equal, as in PairedMNIST.)
    """
    return joint / (np.outer(joint.sum(axis=1), joint.sum(axis=0)) + eps)


def dependency_metric(real_labels: Tensor, fake_labels: Tensor, eps: float = EPS) -> float:
    """Mean |c_P − c_Q| from real and generated (top, bottom) labels, each ``(N, 2)``."""
    c_p = dependency_ratio(joint_frequencies(real_labels[:, 0], real_labels[:, 1]), eps)
    c_q = dependency_ratio(joint_frequencies(fake_labels[:, 0], fake_labels[:, 1]), eps)
    return float(np.abs(c_p - c_q).mean())
