"""Fréchet distance between Gaussians fitted to two feature sets (the FID).

    FID = ||mu_1 - mu_2||² + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))

computed in float64 with ``scipy.linalg.sqrtm``. For PairedMNIST the features are the
classifier's FC1 activations (50-d), see :mod:`factorgan.experiments.paired_mnist`.
"""
from __future__ import annotations

import numpy as np
from scipy import linalg
from torch import Tensor


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
    """FID between two feature sets ``(N1, D)`` and ``(N2, D)``."""
    return frechet_distance(*statistics(features1), *statistics(features2))
