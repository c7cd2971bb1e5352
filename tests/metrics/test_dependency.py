"""The dependency metric: 0 for matching class pairs, its known values otherwise."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from factorgan.data.formats.mnist import make_digit_pairs
from factorgan.metrics.dependency import EPS, dependency_metric, dependency_ratio, joint_frequencies


def pair_labels(lam: float, n: int, seed: int) -> torch.Tensor:
    """(top, bottom) classes of PairedMNIST pairs with parameter lam, ``(n, 2)``."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    return torch.from_numpy(make_digit_pairs(images, labels, lam, rng)[1])


def test_identical_class_pairs_score_zero():
    real = pair_labels(0.9, 1000, 0)
    assert dependency_metric(real, real) == 0.0
    assert dependency_metric(real, real[torch.randperm(len(real))]) == 0.0  # order is irrelevant


@pytest.mark.parametrize("lam", [0.1, 0.9])
def test_a_generator_matching_the_real_pairs_scores_near_zero(lam):
    real, generated = pair_labels(lam, 20000, 0), pair_labels(lam, 20000, 1)
    assert dependency_metric(real, generated) < 0.1


def test_copying_the_top_digit_at_lam_0_1_scores_high():
    real = pair_labels(0.1, 20000, 0)
    copy_top = torch.stack([real[:, 0], real[:, 0]], dim=1)
    # Infinite-sample value: c_P = 0.01 / 0.011 everywhere; c_Q = 0.1 / 0.011 on the
    # diagonal, 0 elsewhere -> (10·|9.09 − 0.91| + 90·0.91) / 100 = 1.636.
    expected = (10 * abs(0.1 / (0.01 + EPS) - 0.01 / (0.01 + EPS)) + 90 * 0.01 / (0.01 + EPS)) / 100
    value = dependency_metric(real, copy_top)
    assert value == pytest.approx(expected, rel=0.05)
    assert value > 10 * dependency_metric(real, pair_labels(0.1, 20000, 1))


def test_independent_digits_at_lam_0_9_score_about_1_45():
    # The documented value (the paper's FactorGAN-no-cp: 1.49).
    real, independent = pair_labels(0.9, 20000, 0), pair_labels(0.1, 20000, 1)
    assert dependency_metric(real, independent) == pytest.approx(1.45, abs=0.05)


def test_ratio_divides_by_top_marginal_times_bottom_marginal():
    # Top always 0, bottom uniform: joint[0, b] = 0.1, p_top = e_0, p_bottom uniform.
    top = torch.zeros(1000, dtype=torch.long)
    bottom = torch.arange(1000) % 10
    joint = joint_frequencies(top, bottom)
    np.testing.assert_allclose(joint.sum(), 1.0)
    c = dependency_ratio(joint)
    np.testing.assert_allclose(c[0], np.full(10, 0.1 / (0.1 + EPS)), rtol=1e-12)
    np.testing.assert_allclose(c[1:], 0.0)


def test_label_vectors_must_match():
    with pytest.raises(ValueError, match="equal-length"):
        joint_frequencies(torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long))
