"""The paper's MLP networks for PairedMNIST (Tables 1 and 2).

A generator maps noise ``z`` ``(N, Z)`` (and, for conditional models, an input part
``cond`` ``(N, *cond_shape)``) to a sample ``(N, *out_shape)`` in [0, 1]; a discriminator
maps a batch ``(N, *in_shape)`` to logits ``(N,)``. A discriminator is built once per
sub-discriminator at that term's input shape; spectral normalisation is applied by the
combined discriminator's builder (:func:`factorgan.nets.spectral_norm.apply_spectral_norm`),
so every architecture gets it the same way.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn


class MLPGenerator(nn.Module):
    """The paper's MNIST generator (Table 1): FC 50→128→128→prod(out_shape), sigmoid.

    Args:
        out_shape: shape of one generated sample, e.g. ``(1, 56, 28)``.
        noise_dim: size of z.
        hidden: width of the two hidden layers.
        cond_shape: shape of the input part for a conditional generator (its pixels are
            concatenated to z), or None.
    """

    def __init__(
        self,
        out_shape: Sequence[int],
        noise_dim: int = 50,
        hidden: int = 128,
        cond_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.out_shape = tuple(int(s) for s in out_shape)
        self.noise_dim = noise_dim
        self.conditional = cond_shape is not None
        in_features = noise_dim + (math.prod(cond_shape) if cond_shape is not None else 0)
        self.net = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, math.prod(self.out_shape)),
            nn.Sigmoid(),
        )

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """``z``: (N, noise_dim), ``cond``: (N, *cond_shape) or None -> (N, *out_shape)."""
        if (cond is not None) != self.conditional:
            raise ValueError(
                "this generator was built " + ("with" if self.conditional else "without")
                + " an input part (cond_shape); call it accordingly"
            )
        h = z if cond is None else torch.cat([z, cond.flatten(1)], dim=1)
        return self.net(h).view(z.shape[0], *self.out_shape)


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
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Linear(width, width),
            nn.LeakyReLU(negative_slope, inplace=True),
            nn.Linear(width, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x``: (N, *in_shape) -> logits (N,)."""
        return self.net(x).squeeze(1)

    @staticmethod
    def stack(nets: Sequence[nn.Module]) -> nn.Module:
        """Several of these of one input shape as one batched network
        ``(G, N, *in_shape) -> (G, N)`` (:class:`factorgan.nets.stacked.StackedMLP`)."""
        from factorgan.nets.stacked import StackedMLP  # stacked imports spectral_norm only

        return StackedMLP(nets)
