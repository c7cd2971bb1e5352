"""Image grids and PNG files for sample previews.

Written here rather than taken from ``torchvision.utils``: importing torchvision adds
about 170 MB to every training process's resident memory, for two small functions.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor


def image_grid(images: Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 0.0) -> Tensor:
    """Tile ``images`` ``(N, C, H, W)`` row by row, ``nrow`` per row, into one image
    ``(C, rows·(H+p)+p, nrow·(W+p)+p)`` with ``padding`` p pixels of ``pad_value``
    around and between them (torchvision's ``make_grid`` layout)."""
    if images.dim() != 4:
        raise ValueError(f"image_grid needs (N, C, H, W) images, got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    ncol = max(1, min(nrow, n))
    nrows = math.ceil(n / ncol)
    grid = images.new_full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i in range(n):
        top = (i // ncol) * (h + padding) + padding
        left = (i % ncol) * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def channel_groups(sizes: Sequence[int], dim: int) -> list[int] | None:
    """The channel sizes of a factorisation's parts when it cuts along channels
    (``dim`` 0 of ``(C, H, W)``), else None: what :func:`displayable` shows side by side."""
    return list(sizes) if dim == 0 else None


def displayable(images: Tensor, groups: Sequence[int] | None = None) -> Tensor:
    """``(N, C, H, W)`` -> ``(N, 1 or 3, H, W·parts)``: images of more channels than RGB
    shown as their parts side by side. ``groups``: the parts' channel counts (e.g.
    ``[1, 3]`` for an edge map | shoe photo pair), each 1 (grey, repeated to RGB next to
    a colour part) or 3; without it, RGB groups when C is a multiple of 3, else single
    channels (a scene | map pair of 6 channels shows as two RGB images).

    Samples that are not images show as grey pictures of their values: vectors ``(N, D)``
    as strips ``(N, 1, h, D)`` one pixel column per value, matrices ``(N, A, B)`` as
    ``(N, 1, A, B)``, anything else flattened into strips."""
    if images.dim() == 3:
        return images.unsqueeze(1)
    if images.dim() != 4:
        flat = images.reshape(len(images), 1, 1, -1)
        return flat.expand(-1, -1, max(4, flat.shape[-1] // 8), -1)
    c = images.shape[1]
    if groups is not None and sum(groups) == c and all(g in (1, 3) for g in groups) and len(groups) > 1:
        parts = list(images.split(list(groups), dim=1))
        if any(g == 3 for g in groups):
            parts = [p.expand(-1, 3, -1, -1) for p in parts]
        return torch.cat(parts, dim=3)
    if c in (1, 3):
        return images
    group = 3 if c % 3 == 0 else 1
    return torch.cat(images.split(group, dim=1), dim=3)


def save_png(image: Tensor, path: str | Path) -> Path:
    """Save ``image`` ``(C, H, W)`` in [0, 1] (C = 1 grey or 3 RGB) as an 8-bit PNG."""
    from PIL import Image

    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"save_png needs a (1|3, H, W) image, got shape {tuple(image.shape)}")
    pixels = image.detach().float().clamp(0, 1).mul(255).add_(0.5).to(torch.uint8).cpu()
    array = pixels.permute(1, 2, 0).numpy()
    path = Path(path)
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else np.ascontiguousarray(array)).save(path)
    return path
