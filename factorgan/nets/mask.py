"""The source-separation generator (paper appendix A.2): a U-Net predicting a mask.

Input: the mixture's ``log1p`` magnitudes ``(N, 1, bins, frames)``. The U-Net
(:class:`factorgan.nets.unet.UNetGenerator`, noise through a linear layer at the
bottleneck) outputs a mask b ∈ [0, 1] over the linear magnitudes m = expm1(input):
accompaniment = b ⊙ m, vocals = (1 − b) ⊙ m, so the sources add up to the mixture.
The output is the sources' ``log1p`` magnitudes ``(N, 2, bins, frames)``, the form the
discriminators see.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from factorgan.nets.unet import UNetGenerator


class MaskGenerator(nn.Module):
    """``G(z, mixture)`` -> (accompaniment, vocals), each ``log1p`` magnitudes.

    Args:
        out_shape: ``(2, bins, frames)``: accompaniment and vocals.
        cond_shape: ``(1, bins, frames)``: the mixture (bins and frames multiples of 16).
        noise_dim / width / upsample / checkpoint: the U-Net's (the official code's
            audio U-Net: width 32, bilinear upsampling).
    """

    def __init__(
        self,
        out_shape: Sequence[int],
        cond_shape: Sequence[int] | None,
        noise_dim: int = 50,
        width: int = 32,
        upsample: str = "bilinear",
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        if cond_shape is None or int(cond_shape[0]) != 1 or int(out_shape[0]) != 2:
            raise ValueError(
                f"MaskGenerator separates a 1-channel mixture into 2 sources; got input {cond_shape} "
                f"and output {tuple(out_shape)} (use it with experiment=musdb_sep)"
            )
        self.noise_dim = noise_dim
        self.out_shape = tuple(int(s) for s in out_shape)
        self.unet = UNetGenerator((1, *self.out_shape[1:]), cond_shape, noise_dim, width, upsample, checkpoint)

    def mask(self, z: Tensor, mixture: Tensor) -> Tensor:
        """The accompaniment mask b ``(N, 1, bins, frames)`` in [0, 1]."""
        return self.unet(z, mixture)

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """``z`` ``(N, noise_dim)``, ``cond`` mixture ``(N, 1, bins, frames)`` ->
        ``(N, 2, bins, frames)``: log1p(b ⊙ m), log1p((1 − b) ⊙ m)."""
        if cond is None:
            raise ValueError("MaskGenerator needs the mixture: call G(z, mixture)")
        b = self.mask(z, cond)
        m = torch.expm1(cond.float()).clamp_min(0)  # linear magnitudes
        return torch.log1p(torch.cat([b * m, (1 - b) * m], dim=1))
