"""Image grids and PNG files for sample previews.

Written here rather than taken from ``torchvision.utils``: importing torchvision adds
about 170 MB to every training process's resident memory, for two small functions.
"""
from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np
import torch
from torch import Tensor

# Previews of small samples (28-px digits, 32-px test scenes) are enlarged by a whole
# factor, nearest-neighbour, until each sample's short side is at least MIN_SIDE pixels:
# at most MAX_SCALE times, never past MAX_GRID_SIDE pixels for the whole grid, and never
# for samples already MIN_SIDE or larger (a 256x256 scene stays 256x256).
MIN_SIDE = 64
MAX_SCALE = 8
MAX_GRID_SIDE = 4096
HEADER_FONT_SIZES = (12, 10, 9)  # the largest at which every word fits its column


def upscale_factor(h: int, w: int, min_side: int = MIN_SIDE, max_scale: int = MAX_SCALE) -> int:
    """The whole factor that brings an ``h`` x ``w`` image's short side to ``min_side``
    pixels or more (1 if it is that big already; at most ``max_scale``)."""
    short = max(1, min(h, w))
    if short >= min_side:
        return 1
    return max(1, min(max_scale, math.ceil(min_side / short)))


def upscale(images: Tensor, scale: int) -> Tensor:
    """``(..., H, W)`` -> ``(..., scale·H, scale·W)``: every pixel a ``scale`` x ``scale``
    block (nearest neighbour, so the preview's pixels are the samples' own values)."""
    if scale == 1:
        return images
    return images.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1)


def image_grid(
    images: Tensor, nrow: int = 8, padding: int = 2, pad_value: float = 0.0,
    scale: int | None = None, labels: Sequence[str] | None = None,
) -> Tensor:
    """Tile ``images`` ``(N, C, H, W)`` row by row, ``nrow`` per row, into one image
    ``(C, rows·(H+p)+p, nrow·(W+p)+p)`` with ``padding`` p pixels of ``pad_value``
    around and between them (torchvision's ``make_grid`` layout).

    ``scale``: enlarge every image that many times first (nearest neighbour); None picks
    :func:`upscale_factor`'s readable size, capped so the grid stays under
    :data:`MAX_GRID_SIDE` pixels. ``labels``: column headers in a white strip above the
    grid, one per column, or ``k`` per column (a multiple of the column count, e.g. the
    same ``["input", "generated"]`` for every column of side-by-side pairs), each over
    its ``1/k`` of the column's width."""
    if images.dim() != 4:
        raise ValueError(f"image_grid needs (N, C, H, W) images, got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    ncol = max(1, min(nrow, n))
    if scale is None:
        scale = grid_scale(n, h, w, ncol, padding)
    if scale != 1:
        images = upscale(images, scale)
        h, w = h * scale, w * scale
    grid = _tile(images, ncol, padding, pad_value)
    if labels:
        grid = torch.cat([column_header(grid.shape[2], labels, ncol, w, padding, c).to(grid), grid], dim=1)
    return grid


def grid_scale(n: int, h: int, w: int, ncol: int, padding: int = 2) -> int:
    """:func:`upscale_factor` of ``h`` x ``w`` images, lowered until a grid of ``n`` of
    them in ``ncol`` columns is at most :data:`MAX_GRID_SIDE` pixels on its long side."""
    nrows = math.ceil(n / max(1, ncol))
    scale = upscale_factor(h, w)
    while scale > 1 and max(nrows * (scale * h + padding), ncol * (scale * w + padding)) + padding > MAX_GRID_SIDE:
        scale -= 1
    return scale


def _tile(images: Tensor, ncol: int, padding: int, pad_value: float) -> Tensor:
    n, c, h, w = images.shape
    nrows = math.ceil(n / ncol)
    grid = images.new_full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i in range(n):
        top = (i // ncol) * (h + padding) + padding
        left = (i % ncol) * (w + padding) + padding
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def column_header(
    width: int, labels: Sequence[str], ncol: int, tile_width: int, padding: int, channels: int = 1
) -> Tensor:
    """A white strip ``(channels, h, width)`` with ``labels`` in black above the columns of
    an :func:`image_grid` layout (``ncol`` columns of ``tile_width`` pixels, ``padding``
    apart): ``k = len(labels) / ncol`` labels per column, each centred over its ``1/k`` of
    the column, wrapped at spaces and cut to fit, never drawn over a neighbour's slot."""
    if len(labels) % ncol:
        raise ValueError(f"{len(labels)} labels for {ncol} columns: give one or more per column, the same count each")
    strip = _header_image(width, tuple(str(label) for label in labels), ncol, tile_width, padding)
    return strip.expand(channels, -1, -1).clone()  # the cached strip stays as drawn


@functools.lru_cache(maxsize=16)
def _header_image(width: int, labels: tuple[str, ...], ncol: int, tile_width: int, padding: int) -> Tensor:
    # Cached: a writer draws the same header every sample_every steps.
    from PIL import Image, ImageDraw

    k = len(labels) // ncol
    slot = tile_width / k
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    room = math.floor(slot) - 2
    for size in HEADER_FONT_SIZES:
        font = _font(size)
        if all(measure.textlength(word, font=font) <= room for label in labels for word in label.split()):
            break
    spans = []
    for j, label in enumerate(labels):
        left = padding + (j // k) * (tile_width + padding) + (j % k) * slot
        lo, hi = math.ceil(left) + 1, math.floor(left + slot) - 1  # a pixel clear of each edge
        spans.append((lo, hi, _wrap(label, hi - lo, measure, font)))
    ascent, descent = font.getmetrics()
    line_height = ascent + descent + 1
    height = 4 + line_height * max(1, max(len(lines) for _, _, lines in spans))
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for lo, hi, lines in spans:
        for i, line in enumerate(lines):
            x = lo + max(0.0, (hi - lo - draw.textlength(line, font=font)) / 2)
            draw.text((x, 2 + i * line_height), line, fill=0, font=font)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0)


@functools.lru_cache(maxsize=4)
def _font(size: int):  # noqa: ANN202 - a PIL font
    from PIL import ImageFont

    try:  # Pillow ≥ 10.1 with FreeType: a scalable font; else the fixed bitmap one
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _wrap(text: str, room: float, draw, font) -> list[str]:  # noqa: ANN001 - PIL objects
    """``text`` in lines of at most ``room`` pixels: broken at spaces, words too long cut."""
    def fits(s: str) -> bool:
        return draw.textlength(s, font=font) <= room

    def cut(s: str) -> str:
        while s and not fits(s):
            s = s[:-1]
        return s

    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            joined = f"{line} {word}" if line else word
            if fits(joined):
                line = joined
            else:
                if line:
                    lines.append(line)
                line = cut(word)
        lines.append(line)
    return [line for line in lines if line] or [""]


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


def save_png(image: Tensor, path: str | Path | BinaryIO) -> Path | BinaryIO:
    """Save ``image`` ``(C, H, W)`` in [0, 1] (C = 1 grey or 3 RGB) as an 8-bit PNG (to a
    path, or to an open binary file)."""
    from PIL import Image

    if image.dim() != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"save_png needs a (1|3, H, W) image, got shape {tuple(image.shape)}")
    pixels = image.detach().float().clamp(0, 1).mul(255).add_(0.5).to(torch.uint8).cpu()
    array = pixels.permute(1, 2, 0).numpy()
    target = path if hasattr(path, "write") else Path(path)  # type: ignore[arg-type]
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else np.ascontiguousarray(array)).save(target, format="PNG")
    return target


@functools.lru_cache(maxsize=4)
def _colour_table(name: str) -> Tensor:
    from matplotlib import colormaps

    return torch.from_numpy(colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32))


def colourise(values: Tensor, cmap: str = "magma") -> Tensor:
    """Values ``(..., H, W)`` in [0, 1] -> RGB ``(..., 3, H, W)`` through a matplotlib colour
    map (256 steps; values outside [0, 1] are clipped)."""
    index = values.detach().float().clamp(0, 1).mul(255).round().long()
    return _colour_table(cmap)[index].movedim(-1, -3).contiguous()
