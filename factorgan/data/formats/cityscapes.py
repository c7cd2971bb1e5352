"""Cityscapes scenes and colour segmentation maps in pix2pix's aligned layout.

Layout (the pix2pix ``cityscapes.tar.gz`` archive, 2,975 train / 500 val files; read by
:mod:`factorgan.data.formats.aligned`)::

    <root>/cityscapes/train/*.jpg    each file: photo | colour map, side by side
    <root>/cityscapes/val/*.jpg

Each half is resized to ``size × size`` and the two are stacked along channels into one
``(6, size, size)`` sample (uint8 pixel codes, read as [0, 1]): channels 0-2 the scene
(the generator's input), 3-5 the map (generated). ``paired=N`` means the first N files
in natural name order. Decoded splits are cached next to the data
(``<root>/cityscapes/.cache/<split>_<size>px.pt``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from factorgan.data.formats import aligned
from factorgan.data.in_memory import DatasetError, InMemoryData
from factorgan.method.factorisation import Factorisation

CITYSCAPES = aligned.AlignedLayout(
    name="cityscapes",
    halves=("photo", "colour map"),
    prepare=(
        "Get the real data with:      python scripts/download_cityscapes.py --root {root}",
        "or make a synthetic set with: python scripts/make_synthetic_cityscapes.py --root {root}",
    ),
)


def list_images(root: str | Path, split: str) -> list[Path]:
    """The Cityscapes files of one split in natural name order; a clear error if none."""
    return aligned.list_images(root, split, CITYSCAPES)


def decode_pair(path: Path, size: int) -> np.ndarray:
    """One aligned file -> uint8 ``(6, size, size)``: scene channels, then map channels."""
    return aligned.decode_pair(path, size, CITYSCAPES.modes)


def load_split(root: str | Path, split: str, size: int = 128, cache: bool = True, order: str = "natural") -> torch.Tensor:
    """All files of ``split`` as uint8 ``(N, 6, size, size)``, from the cache when valid."""
    return aligned.load_split(root, split, CITYSCAPES, size, cache, order)


def cityscapes(
    paired: int, root: str = "data", size: int = 128, cache: bool = True, order: str = "natural"
) -> InMemoryData:
    """Cityscapes segmentation as a conditional :class:`InMemoryData`.

    Samples are ``(6, size, size)``: scene (generator input, part 0) | colour map
    (part 1), ``Factorisation(dim=0, sizes=[3, 3])``, ``input_parts=1``. The test set is
    the ``val`` split. ``size`` must be a multiple of 16 for the U-Net. ``order``: the
    training files' order, whose first ``paired`` are pairs (``natural`` or the official
    code's ``lexicographic``).
    """
    if size < 1:
        raise DatasetError(f"dataset.size={size} must be positive")
    # Kept as uint8 (decoded per batch): the 2,975 training pairs at 128 px take 0.29 GB
    # instead of 1.17 GB in float32.
    train = load_split(root, "train", size, cache, order)
    test = load_split(root, "val", size, cache)
    return InMemoryData(
        train=train,
        test=test,
        factorisation=Factorisation(dim=0, sizes=[3, 3]),
        paired=paired,
        input_parts=1,
        name=f"Cityscapes({Path(root) / 'cityscapes'}, {size}px)",
    )
