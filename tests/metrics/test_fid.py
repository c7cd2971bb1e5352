"""FID: zero for a set against itself, the closed forms, and an independent scipy route."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from factorgan.metrics.fid import fid, frechet_distance, statistics


def features(n: int = 2000, d: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d))  # correlated features
    return rng.normal(size=(n, d)) @ mix + rng.normal(size=d)


def test_a_set_against_itself_is_zero():
    x = features()
    assert abs(fid(x, x)) < 1e-6
    assert abs(fid(torch.from_numpy(x).float(), torch.from_numpy(x).float())) < 1e-3


def test_a_shifted_set_scores_the_squared_shift_and_grows_with_it():
    x = features()
    values = []
    for size in (0.5, 1.0, 2.0, 4.0):
        shift = np.full(x.shape[1], size / np.sqrt(x.shape[1]))  # |shift| = size
        values.append(fid(x, x + shift))
        # Same covariance: only the mean term remains.
        np.testing.assert_allclose(values[-1], size**2, rtol=1e-6, atol=1e-6)
    assert values == sorted(values) and values[0] > 0.2


def test_matches_a_direct_scipy_computation_on_random_features():
    a, b = features(seed=1), features(seed=2) * 1.5
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, s2 = b.mean(0), np.cov(b, rowvar=False)
    # The symmetric form Tr((S1^½ S2 S1^½)^½) equals Tr((S1 S2)^½): an independent route.
    r1 = linalg.sqrtm(s1).real
    direct = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(r1 @ s2 @ r1).real)
    assert direct > 1.0
    np.testing.assert_allclose(fid(a, b), direct, rtol=1e-6)


def test_one_dimensional_closed_form():
    # FID of N(m1, s1²) and N(m2, s2²) is (m1 - m2)² + (s1 - s2)².
    value = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]]))
    np.testing.assert_allclose(value, 9.0 + 1.0, rtol=1e-9)


def test_rank_deficient_covariances_stay_finite():
    rng = np.random.default_rng(0)
    low_rank = rng.normal(size=(500, 2)) @ rng.normal(size=(2, 6))  # covariance of rank 2
    value = fid(low_rank, low_rank + 1.0)
    np.testing.assert_allclose(value, 6.0, rtol=1e-3)  # |(1, …, 1)|² = 6


def test_statistics_need_two_samples():
    with pytest.raises(ValueError, match="N ≥ 2"):
        statistics(np.zeros((1, 4)))


def test_fewer_samples_than_feature_dimensions_are_refused_not_scored():
    from factorgan.errors import ConfigError
    from factorgan.metrics.fid import min_samples

    rng = np.random.default_rng(0)
    real = rng.normal(size=(500, 50))
    with pytest.raises(ConfigError, match=r"more samples than feature dimensions: got 50 samples of 50-d .*at least 51"):
        fid(rng.normal(size=(50, 50)), real)  # a singular covariance: before, a large number and a SciPy warning
    with pytest.raises(ConfigError, match="got 2 samples"):
        fid(real, rng.normal(size=(2, 50)))
    assert min_samples(50) == 51
    assert np.isfinite(fid(rng.normal(size=(51, 50)), real))  # the minimum is accepted


def test_paired_mnist_refuses_too_few_samples_where_it_is_built():
    from factorgan.errors import ConfigError
    from factorgan.evaluators.paired_mnist import FEATURE_DIM, PairedMNISTEvaluator
    from factorgan.evaluators.stacked_mnist import StackedMNISTEvaluator
    from factorgan.metrics.mnist_classifier import MNISTClassifier

    assert FEATURE_DIM == MNISTClassifier().fc1.out_features  # the FID's feature space
    for cls in (PairedMNISTEvaluator, StackedMNISTEvaluator):
        for n in (0, 2, 50):
            with pytest.raises(ConfigError, match=rf"num_samples={n} is too few.*50-d features\), at least 51"):
                cls(num_samples=n)
        assert cls(num_samples=51).num_samples == 51
    with pytest.raises(ConfigError, match="classifier_epochs"):
        PairedMNISTEvaluator(classifier_epochs=0)
