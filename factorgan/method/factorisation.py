"""How a joint sample splits into K parts, and the independently shuffled batch.

A :class:`Factorisation` cuts a batch ``(N, *sample_shape)`` into K parts along one
sample dimension (rows of a stacked digit image, channel groups of an image pair); a
:class:`GridFactorisation` cuts images into a grid of blocks (quadrants: K = 4). Either
can be chosen in the config for any dataset that stores whole samples
(``factorisation=slices|quadrants|grid``, docs/your_own_data.md).
The dependency discriminators need samples from the product of the part marginals;
:meth:`BaseFactorisation.shuffle` draws them by taking every part except the first from its own
random permutation of the batch.
"""
from __future__ import annotations

import abc
from typing import Sequence

import torch
from torch import Tensor


class BaseFactorisation(abc.ABC):
    """A way to cut joint samples into K parts (what every factorisation offers; a new
    cut subclasses it)."""

    @property
    @abc.abstractmethod
    def num_parts(self) -> int:
        """K."""

    @abc.abstractmethod
    def check_shape(self, sample_shape: Sequence[int]) -> None:
        """Raise ValueError unless samples of ``sample_shape`` can be cut."""

    @abc.abstractmethod
    def part_shape(self, sample_shape: Sequence[int], i: int) -> tuple[int, ...]:
        """Shape of part ``i`` of one sample of shape ``sample_shape`` (no batch dim)."""

    @abc.abstractmethod
    def split(self, x: Tensor) -> list[Tensor]:
        """``(N, *sample_shape)`` -> K tensors ``(N, *part_shape_i)``."""

    @abc.abstractmethod
    def join(self, parts: Sequence[Tensor]) -> Tensor:
        """Inverse of :meth:`split` (all K parts)."""

    @abc.abstractmethod
    def join_some(self, parts: Sequence[Tensor], which: Sequence[int]) -> Tensor:
        """The parts ``which`` (given as ``parts``, in that order) as one tensor: what a
        term seeing several parts, or a conditional generator's input, is shown."""

    @abc.abstractmethod
    def joined_shape(self, sample_shape: Sequence[int], which: Sequence[int]) -> tuple[int, ...]:
        """Shape of :meth:`join_some` of the parts ``which`` (no batch dim)."""

    def split_some(self, x: Tensor, which: Sequence[int]) -> list[Tensor]:
        """Inverse of :meth:`join_some`: the parts ``which`` of ``x`` (what a term sees),
        in that order. One part is itself; all parts in order are :meth:`split`."""
        if len(which) == 1:
            return [x]
        if list(which) == list(range(self.num_parts)):
            return self.split(x)
        raise ValueError(f"{self!r} cannot split a view of parts {list(which)}")

    def display_groups(self) -> list[int] | None:
        """The parts' channel counts when they are channel groups (shown side by side in
        sample grids), else None."""
        return None

    def shuffle(
        self, x: Tensor, rng: torch.Generator | None = None,
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
            perm = torch.randperm(n, generator=rng, device=x.device)
            for i in group:
                shuffled[i] = parts[i][perm]
        return self.join(shuffled)


Parts = BaseFactorisation  # its earlier name


class Factorisation(BaseFactorisation):
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

    def join_some(self, parts: Sequence[Tensor], which: Sequence[int]) -> Tensor:
        return torch.cat(list(parts), dim=self.dim + 1)

    def split_some(self, x: Tensor, which: Sequence[int]) -> list[Tensor]:
        return list(torch.split(x, [self.sizes[i] for i in which], dim=self.dim + 1))

    def joined_shape(self, sample_shape: Sequence[int], which: Sequence[int]) -> tuple[int, ...]:
        shape = [int(s) for s in sample_shape]
        shape[self.dim] = sum(self.sizes[i] for i in which)
        return tuple(shape)

    def display_groups(self) -> list[int] | None:
        return list(self.sizes) if self.dim == 0 else None

    def __repr__(self) -> str:
        return f"Factorisation(dim={self.dim}, sizes={self.sizes})"


class GridFactorisation(BaseFactorisation):
    """Cut images ``(C, H, W)`` into a grid of blocks, row-major: part ``r · cols + c`` is
    the block in grid row r, column c. ``rows`` / ``cols``: a count of equal blocks
    (``rows=2, cols=2``: quadrants, K = 4) or the blocks' heights / widths.

    A grid's parts are not one slice of the sample, so terms and generator inputs see a
    single part or the whole sample (a conditional model needs :class:`Factorisation`).
    """

    def __init__(self, rows: int | Sequence[int] = 2, cols: int | Sequence[int] = 2) -> None:
        for name, spec in (("rows", rows), ("cols", cols)):
            counts = [spec] if isinstance(spec, int) else list(spec)
            if not counts or any(int(c) <= 0 for c in counts):
                raise ValueError(f"grid {name}={spec!r}: give a positive count or positive block sizes")
        self.rows = rows if isinstance(rows, int) else [int(r) for r in rows]
        self.cols = cols if isinstance(cols, int) else [int(c) for c in cols]
        if self.num_parts < 2:
            raise ValueError(f"a grid of {rows}×{cols} blocks has fewer than 2 parts")

    @staticmethod
    def _count(spec: int | list[int]) -> int:
        return spec if isinstance(spec, int) else len(spec)

    @property
    def num_parts(self) -> int:
        return self._count(self.rows) * self._count(self.cols)

    def _sizes(self, spec: int | list[int], length: int, what: str, sample_shape: Sequence[int]) -> list[int]:
        if isinstance(spec, int):
            if length % spec:
                raise ValueError(f"sample shape {tuple(sample_shape)}: {what} {length} is not divisible into {spec} equal blocks")
            return [length // spec] * spec
        if sum(spec) != length:
            raise ValueError(f"sample shape {tuple(sample_shape)}: block {what}s {spec} do not add up to {length}")
        return spec

    def _grid(self, sample_shape: Sequence[int]) -> tuple[list[int], list[int]]:
        if len(sample_shape) != 3:
            raise ValueError(f"a grid factorisation cuts images (C, H, W); samples have shape {tuple(sample_shape)}")
        _, h, w = sample_shape
        return (self._sizes(self.rows, h, "height", sample_shape), self._sizes(self.cols, w, "width", sample_shape))

    def check_shape(self, sample_shape: Sequence[int]) -> None:
        self._grid(sample_shape)

    def part_shape(self, sample_shape: Sequence[int], i: int) -> tuple[int, ...]:
        heights, widths = self._grid(sample_shape)
        return (int(sample_shape[0]), heights[i // len(widths)], widths[i % len(widths)])

    def split(self, x: Tensor) -> list[Tensor]:
        heights, widths = self._grid(x.shape[1:])
        return [block for band in torch.split(x, heights, dim=2) for block in torch.split(band, widths, dim=3)]

    def join(self, parts: Sequence[Tensor]) -> Tensor:
        if len(parts) != self.num_parts:
            raise ValueError(f"a grid joins all its {self.num_parts} blocks, got {len(parts)}")
        ncol = self._count(self.cols)
        bands = [torch.cat(list(parts[r * ncol:(r + 1) * ncol]), dim=3) for r in range(len(parts) // ncol)]
        return torch.cat(bands, dim=2)

    def join_some(self, parts: Sequence[Tensor], which: Sequence[int]) -> Tensor:
        if len(which) == 1:
            return parts[0]
        if sorted(which) == list(range(self.num_parts)):
            return self.join(parts)
        raise ValueError(f"a grid factorisation shows one block or the whole image, not blocks {list(which)}")

    def joined_shape(self, sample_shape: Sequence[int], which: Sequence[int]) -> tuple[int, ...]:
        if len(which) == 1:
            return self.part_shape(sample_shape, which[0])
        if sorted(which) == list(range(self.num_parts)):
            return tuple(int(s) for s in sample_shape)
        raise ValueError(
            f"a grid factorisation shows one block or the whole image, not blocks {list(which)} "
            "(conditional models need a slice factorisation: factorisation=slices)"
        )

    def __repr__(self) -> str:
        return f"GridFactorisation(rows={self.rows}, cols={self.cols})"
