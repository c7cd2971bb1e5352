"""How a joint sample splits into K parts, and the independently shuffled batch.

A :class:`Factorisation` cuts a batch ``(N, *sample_shape)`` into K parts along one
sample dimension (rows of a stacked digit image, channel groups of an image pair).
The dependency discriminators need samples from the product of the part marginals;
:meth:`Factorisation.shuffle` draws them by taking every part except the first from
its own random permutation of the batch.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


class Factorisation:
    """Split samples of shape ``sample_shape`` into parts along ``dim``.

    Args:
        dim: sample dimension to cut, counted without the batch dimension
            (for images ``(C, H, W)``: 0 = channels, 1 = rows, 2 = columns).
        sizes: length of each part along ``dim``; K = ``len(sizes)`` ≥ 2.
    """

    def __init__(self, dim: int, sizes: Sequence[int]) -> None:
        if len(sizes) < 2:
            raise ValueError(f"a factorisation needs at least 2 parts, got sizes={list(sizes)}")
        if any(s <= 0 for s in sizes):
            raise ValueError(f"part sizes must be positive, got {list(sizes)}")
        self.dim = int(dim)
        self.sizes = [int(s) for s in sizes]

    @property
    def num_parts(self) -> int:
        return len(self.sizes)

    def part_shape(self, sample_shape: Sequence[int], i: int) -> tuple[int, ...]:
        """Shape of part ``i`` of one sample of shape ``sample_shape`` (no batch dim)."""
        self.check_shape(sample_shape)
        shape = list(sample_shape)
        shape[self.dim] = self.sizes[i]
        return tuple(shape)

    def check_shape(self, sample_shape: Sequence[int]) -> None:
        if self.dim >= len(sample_shape) or sample_shape[self.dim] != sum(self.sizes):
            raise ValueError(
                f"sample shape {tuple(sample_shape)} cannot be cut into parts {self.sizes} "
                f"along sample dim {self.dim}"
            )

    def split(self, x: Tensor) -> list[Tensor]:
        """``(N, *sample_shape)`` -> K views ``(N, *part_shape_i)``."""
        return list(torch.split(x, self.sizes, dim=self.dim + 1))

    def join(self, parts: Sequence[Tensor]) -> Tensor:
        """Inverse of :meth:`split`."""
        return torch.cat(list(parts), dim=self.dim + 1)

    def shuffle(
        self, x: Tensor, generator: torch.Generator | None = None,
        groups: Sequence[Sequence[int]] | None = None,
    ) -> Tensor:
        """Independently shuffled batch: the first group stays, every other group of parts
        comes from its own random permutation of the batch (default: each part its own
        group, so part 0 stays and part k>0 comes from ``perm_k``).

        ``x``: ``(N, *sample_shape)``; returns a new tensor of the same shape. Each part's
        multiset of rows is unchanged; the pairing between groups is broken, the parts
        within a group stay together (a node of a factorisation tree shuffles its children).
        """
        n = x.shape[0]
        parts = self.split(x)
        groups = [[i] for i in range(self.num_parts)] if groups is None else [list(g) for g in groups]
        shuffled = list(parts)
        for group in groups[1:]:
            perm = torch.randperm(n, generator=generator, device=x.device)
            for i in group:
                shuffled[i] = parts[i][perm]
        return self.join(shuffled)

    def __repr__(self) -> str:
        return f"Factorisation(dim={self.dim}, sizes={self.sizes})"
