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
