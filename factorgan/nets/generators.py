"""Generator networks. Each maps noise ``z`` (N, Z) — and, for conditional models, an
input part ``cond`` (N, *cond_shape) — to a sample (N, *out_shape) in [0, 1]."""
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
