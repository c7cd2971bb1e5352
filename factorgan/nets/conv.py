"""The paper's convolutional networks for image pairs (Tables 4 and 5, and the official
code's versions of them).

The generator maps noise ``z`` ``(N, Z)`` to images ``(N, C, H, W)`` in [0, 1]; the
discriminator maps images ``(N, C, H, W)`` to logits ``(N,)``, built once per
sub-discriminator at that term's input shape (spectral normalisation: see
:mod:`factorgan.nets.mlp`).
"""
from __future__ import annotations

import math
from typing import Sequence

from torch import Tensor, nn


class ConvGenerator(nn.Module):
    """The convolutional generator for image pairs (the paper's Table 4 and its code).

    z ``(N, Z)`` as a 1×1 image -> a 4×4 transposed convolution -> stride-2 4×4 transposed
    convolutions doubling the side, ``width`` filters in the last hidden layer and twice
    as many in each one before it (ReLU after each) -> an output layer to C channels ->
    sigmoid. All layers have biases. ``output_layer`` picks the end:

    - ``"transpose"`` (default; the official code, which produced the paper's LS scores):
      hidden layers up to H/2 (512, 256, 128, 64 filters at 64×64), then a stride-2
      transposed convolution to C channels at H;
    - ``"conv"`` (Table 4 as printed): hidden layers up to H (1024 … 64 filters at
      64×64), then a 4×4 stride-1 convolution ("same" padding): about 5× the FLOPs.

    Args:
        out_shape: ``(C, H, W)`` of one sample, H = W = 4·2^L (L ≥ 1), e.g. ``(6, 64, 64)``.
        noise_dim: size of z.
        width: filters of the last hidden layer (both: 64).
        output_layer: ``"transpose"`` or ``"conv"`` (above).
        cond_shape: must be None: this generator is unconditional.
    """

    OUTPUT_LAYERS = ("transpose", "conv")

    def __init__(
        self,
        out_shape: Sequence[int],
        noise_dim: int = 50,
        width: int = 64,
        output_layer: str = "transpose",
        cond_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if cond_shape is not None:
            raise ValueError(
                "ConvGenerator draws whole samples from noise; for data with generator inputs "
                "(input_parts ≥ 1) use a conditional generator such as generator=unet"
            )
        if output_layer not in self.OUTPUT_LAYERS:
            raise ValueError(f"output_layer={output_layer!r}: choose one of {self.OUTPUT_LAYERS}")
        channels, height, width_px = (int(s) for s in out_shape)
        upsamplings = int(math.log2(max(height, 1))) - 2
        if height != width_px or upsamplings < 1 or height != 4 * 2**upsamplings:
            raise ValueError(
                f"ConvGenerator out_shape {tuple(out_shape)}: needs square images with a side of "
                "4·2^L (8, 16, 32, 64, 128, ...)"
            )
        self.out_shape = (channels, height, width_px)
        self.noise_dim = noise_dim
        # Hidden sides 4, 8, ..., H (conv) or H/2 (transpose): filters halve towards `width`.
        hidden = upsamplings + 1 if output_layer == "conv" else upsamplings
        filters = [width * 2 ** (hidden - 1 - j) for j in range(hidden)]
        layers: list[nn.Module] = [nn.ConvTranspose2d(noise_dim, filters[0], 4, stride=1, padding=0), nn.ReLU(inplace=True)]
        for c_in, c_out in zip(filters[:-1], filters[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
        if output_layer == "transpose":
            layers += [nn.ConvTranspose2d(filters[-1], channels, 4, stride=2, padding=1)]
        else:
            # "Same" padding for an even kernel is uneven (1 before, 2 after); padding
            # explicitly avoids the copy (and warning) of Conv2d's padding="same".
            layers += [nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(filters[-1], channels, 4)]
        self.net = nn.Sequential(*layers, nn.Sigmoid())

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """``z``: (N, noise_dim) -> samples (N, C, H, W) in [0, 1]."""
        if cond is not None:
            raise ValueError("ConvGenerator is unconditional: call it with noise only")
        return self.net(z.view(z.shape[0], self.noise_dim, 1, 1))


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
