"""Fréchet distance between Gaussians fitted to two feature sets (the FID).

    FID = ||mu_1 - mu_2||² + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

computed in float64 with ``scipy.linalg.sqrtm``. For PairedMNIST the features are the
classifier's FC1 activations (50-d), see :mod:`factorgan.evaluators.paired_mnist`.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg
from torch import Tensor

from factorgan.errors import ConfigError


def min_samples(dim: int) -> int:
    """The fewest samples whose covariance of ``dim``-dimensional features can be full
    rank: ``dim + 1`` (fewer give a singular covariance and a meaningless FID)."""
    return dim + 1


def check_samples(n: int, dim: int) -> None:
    """Refuse ``n`` samples of ``dim``-dimensional features as too few for the FID."""
    if n < min_samples(dim):
        raise ConfigError(
            f"FID needs more samples than feature dimensions: got {n} samples of {dim}-d features "
            f"(a singular covariance), need at least {min_samples(dim)}; raise evaluation.num_samples "
            f"(and use a test split of at least {min_samples(dim)} samples)"
        )


def statistics(features: np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, as ``np.cov``) of ``(N, D)`` features."""
    x = features.detach().cpu().numpy() if isinstance(features, Tensor) else np.asarray(features)
    x = x.astype(np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (N, D) with N ≥ 2, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        # A (near-)singular product: regularise both covariances slightly.
        offset = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        # Round-off gives tiny imaginary parts; anything large means a broken input.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"FID: matrix square root has imaginary part {np.abs(covmean.imag).max():.3g}")
        covmean = covmean.real
    value = diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)
    return float(value)


def fid(features1: np.ndarray | Tensor, features2: np.ndarray | Tensor) -> float:
    """FID between two feature sets ``(N1, D)`` and ``(N2, D)``; each needs N > D
    (:func:`check_samples`)."""
    stats = [statistics(f) for f in (features1, features2)]
    for f in (features1, features2):
        check_samples(*f.shape)
    return frechet_distance(*stats[0], *stats[1])
