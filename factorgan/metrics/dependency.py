"""The dependency metric of stacked MNIST digits (paper eq. 5, as the official code
computes it), and its generalisation from K = 2 digits to K.

For real pairs (true labels) and generated pairs (classes predicted by the classifier):

    c(t, b) = p(t, b) / (p_top(t) · p_bottom(b) + 0.001)      for t, b in 0..9
    d_dep   = mean over the 10×10 digit pairs of |c_P(t, b) − c_Q(t, b)|

p is the joint class frequency and p_top, p_bottom its marginals. The constant 0.001 in
the denominator is the official code's: it keeps c finite for a class a generator never
produces. (The paper's 1/100 · Σ over the 100 pairs is this mean.) Lower is better: 0 for
perfectly modelled dependencies; at λ = 0.9 a generator with independent digits scores
about 1.45 (the paper's FactorGAN-no-cp: 1.49).

K > 2 digits (StackedMNIST, ``experiment=triple_mnist``) get two generalisations, both
equal to the value above at K = 2:

- :func:`dependency_metric` (the evaluators' ``dependency``): the mean of the 2-digit
  metric over all K(K−1)/2 digit pairs (i < j). Each pair is estimated from a 10×10
  histogram, so its sampling noise at 1,000 samples stays PairedMNIST's (≈ 0.15 for a
  perfect generator at λ = 0.9, K = 3), its scale stays comparable (≈ 1.4 for independent
  digits at λ = 0.9, K = 3), and it does not assume the chain order of the data. All
  pairs rather than only the adjacent ones: a generator that copies the top digit into
  the third gets every adjacent pair right and only the pair (1, 3) wrong.
- :func:`joint_dependency_metric` (``dependency_joint``): eq. 5 on the full joint
  histogram, the mean over all 10^K class tuples of |c_P − c_Q| with
  c(t) = p(t) / (∏_k p_k(t_k) + ε_K). It also sees dependencies no pair shows (e.g. a
  third digit whose class is the sum of the other two), at a price: 10^K cells estimated
  from the same samples make it noisier (≈ 0.31 for a perfect generator, K = 3, 1,000
  samples). ε_K = 0.1 · 10^−K keeps ε's ratio to the uniform product of marginals at
  the official code's (0.001 / 0.01), so ε_2 = 0.001. Cells no label falls into
  contribute 0, so only the observed tuples are visited: cheap at any K.
"""
from __future__ import annotations

from itertools import combinations

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


def _check_labels(real_labels: Tensor, fake_labels: Tensor) -> int:
    """K, the number of digits of real and generated labels ``(N, K)`` / ``(M, K)``."""
    if real_labels.ndim != 2 or fake_labels.ndim != 2 or real_labels.shape[1] != fake_labels.shape[1]:
        raise ValueError(
            f"need real and generated labels (N, K) with the same K, got {tuple(real_labels.shape)} "
            f"and {tuple(fake_labels.shape)}"
        )
    if real_labels.shape[1] < 2:
        raise ValueError(f"the dependency metric needs at least 2 digits per sample, got {real_labels.shape[1]}")
    return real_labels.shape[1]


def pair_dependency(real_labels: Tensor, fake_labels: Tensor, i: int, j: int, eps: float = EPS) -> float:
    """The 2-digit metric (mean |c_P − c_Q| over 10×10 classes) of digits ``i`` and ``j``."""
    c_p = dependency_ratio(joint_frequencies(real_labels[:, i], real_labels[:, j]), eps)
    c_q = dependency_ratio(joint_frequencies(fake_labels[:, i], fake_labels[:, j]), eps)
    return float(np.abs(c_p - c_q).mean())


def dependency_metric(real_labels: Tensor, fake_labels: Tensor, eps: float = EPS) -> float:
    """Mean |c_P − c_Q| from real and generated labels, each ``(N, K)`` (top digit first).

    K = 2: the paper's metric over the 10×10 (top, bottom) classes. K > 2: its mean over
    every digit pair (i < j) (module docstring).
    """
    k = _check_labels(real_labels, fake_labels)
    pairs = list(combinations(range(k), 2))
    return float(sum(pair_dependency(real_labels, fake_labels, i, j, eps) for i, j in pairs) / len(pairs))


def joint_eps(num_digits: int) -> float:
    """ε_K = 0.1 · 10^−K: the official 0.001 at K = 2, the same fraction of 10^−K beyond."""
    return 0.1 * float(NUM_CLASSES) ** -num_digits


def _ratio_at(labels: np.ndarray, tuples: np.ndarray, eps: float) -> np.ndarray:
    """c(t) = p(t) / (∏_k p_k(t_k) + eps) at class tuples ``(T, K)`` (distinct rows),
    frequencies from ``labels`` ``(N, K)``."""
    seen, counts = np.unique(labels, axis=0, return_counts=True)
    p_seen = dict(zip(map(tuple, seen.tolist()), (counts / len(labels)).tolist()))
    p = np.array([p_seen.get(t, 0.0) for t in map(tuple, tuples.tolist())])
    product = np.ones(len(tuples))
    for k in range(labels.shape[1]):
        marginal = np.bincount(labels[:, k], minlength=NUM_CLASSES) / len(labels)
        product *= marginal[tuples[:, k]]
    return p / (product + eps)


def joint_dependency_metric(real_labels: Tensor, fake_labels: Tensor, eps: float | None = None) -> float:
    """Mean |c_P − c_Q| over all 10^K class tuples of the joint histogram, labels ``(N, K)``.

    ``eps``: None for :func:`joint_eps` (equal to :data:`EPS` at K = 2, where this is
    :func:`dependency_metric` up to rounding).
    """
    k = _check_labels(real_labels, fake_labels)
    eps = joint_eps(k) if eps is None else eps
    real = real_labels.long().cpu().numpy()
    fake = fake_labels.long().cpu().numpy()
    if len(real) == 0 or len(fake) == 0:
        raise ValueError("need at least one real and one generated label tuple")
    if min(real.min(), fake.min()) < 0 or max(real.max(), fake.max()) >= NUM_CLASSES:
        raise ValueError(f"classes must lie in 0..{NUM_CLASSES - 1}")
    # Tuples neither side produced have c_P = c_Q = 0: sum over the observed ones only.
    tuples = np.unique(np.concatenate([real, fake]), axis=0)
    diff = np.abs(_ratio_at(real, tuples, eps) - _ratio_at(fake, tuples, eps))
    return float(diff.sum() / float(NUM_CLASSES) ** k)
