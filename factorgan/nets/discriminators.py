"""Discriminator networks: each maps a batch (N, *in_shape) to logits (N,).

Networks are built by factories that the model calls once per sub-discriminator with
that sub-discriminator's input shape; spectral normalisation is applied by the model
(:func:`factorgan.nets.spectral_norm.apply_spectral_norm`) so every architecture gets it the same way.
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


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())



class ConvDiscriminator(nn.Module):
    """The paper's convolutional discriminator (Table 5).

    Stride-2 4×4 convolutions (padding 1, LeakyReLU) with 32, 64, 128, … filters (times
    ``width_mult``), ``layers`` of them or, by default (as the official code), until the
    shorter image side is 4 pixels (5 layers at 128×128, 4 at 64×64, 3 at 32×32; Table 5
    as printed has 5 at 64×64 too), then a bias-free FC layer
    to one logit. The paper's table lists a LeakyReLU after the FC layer too; a logit
    must be able to go negative, so (as the official code does) there is none.

    Args:
        in_shape: ``(C, H, W)`` of one input; H and W powers of two (≥ 8) times any
            common factor, e.g. ``(3, 128, 128)`` (marginal) or ``(6, 128, 128)`` (joint).
        filters: filters of the first layer.
        width_mult: multiplies every layer's filters (2 for "GAN (big)").
        negative_slope: LeakyReLU slope (PyTorch's default 0.01, as the official code).
        layers: number of convolutions (H and W divisible by 2^layers), e.g. 5 for Table 5
            as printed at 64×64 (last feature map 2×2); None: down to a side of 4.
    """

    def __init__(
        self,
        in_shape: Sequence[int],
        filters: int = 32,
        width_mult: int = 1,
        negative_slope: float = 0.01,
        layers: int | None = None,
    ) -> None:
        super().__init__()
        channels, height, width = (int(s) for s in in_shape)
        num_layers = int(math.log2(min(height, width))) - 2 if layers is None else int(layers)
        if num_layers < 1 or height % 2**num_layers or width % 2**num_layers:
            rule = "so the last feature map has a side of 4" if layers is None else f"(layers={layers})"
            raise ValueError(
                f"ConvDiscriminator input {tuple(in_shape)}: H and W must be ≥ 8 and divisible "
                f"by 2^{num_layers} {rule}"
            )
        modules: list[nn.Module] = []
        c_in = channels
        for i in range(num_layers):
            c_out = filters * width_mult * 2**i
            # In place: autograd keeps only the activation (which the next layer saves
            # anyway), not the convolution's output too: half the activation memory.
            modules += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(negative_slope, inplace=True)]
            c_in = c_out
        features = c_in * (height >> num_layers) * (width >> num_layers)
        self.net = nn.Sequential(*modules, nn.Flatten(), nn.Linear(features, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(N, C, H, W)`` -> logits ``(N,)``."""
        return self.net(x).squeeze(1)
