"""Discriminator networks: each maps a batch (N, *in_shape) to logits (N,).

Networks are built by factories that the model calls once per sub-discriminator with
that sub-discriminator's input shape; spectral normalisation is applied by the model
(:func:`factorgan.spectral_norm.apply_spectral_norm`) so every architecture gets it the same way.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

from torch import Tensor, nn

# A factory: input shape of one sample (no batch dim) and a width multiplier -> network.
DiscriminatorFactory = Callable[..., nn.Module]


class MLPDiscriminator(nn.Module):
    """The paper's MNIST discriminator (Table 2): FC (W·28)→128→128→1, LeakyReLU.

    Args:
        in_shape: shape of one input sample, e.g. ``(1, 28, 28)`` for a marginal or
            ``(1, 56, 28)`` for a joint/dependency discriminator.
        hidden: width of the hidden layers (times ``width_mult``).
        width_mult: multiplies ``hidden`` (2 for the paper's "GAN (big)").
        negative_slope: LeakyReLU slope (PyTorch's default 0.01, as in the paper's code).
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden: int = 128,
        width_mult: int = 1,
        negative_slope: float = 0.01,
    ) -> None:
        super().__init__()
        width = hidden * width_mult
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(in_shape), width),
            nn.LeakyReLU(negative_slope),
            nn.Linear(width, width),
            nn.LeakyReLU(negative_slope),
            nn.Linear(width, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x``: (N, *in_shape) -> logits (N,)."""
        return self.net(x).squeeze(1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())

