"""Image pairs generated jointly from noise (paper section 4.2): Cityscapes photo | map
and Edges2Shoes edge map | shoe photo, both in pix2pix's aligned layout
(:mod:`factorgan.data.formats.aligned`).

A sample is the two images stacked along channels, ``(C_A + C_B, size, size)``: 3 + 3
for Cityscapes, 1 + 3 for Edges2Shoes (edge maps are greyscale). The two images are the
K = 2 parts (``Factorisation(dim=0, sizes=[C_A, C_B])``) and nothing is a generator input:
FactorGAN has a marginal discriminator per image plus D_P and D_Q on the pair. The
paper works at 64×64. The test set is the ``val`` split (the LS score's data).
"""
from __future__ import annotations

from pathlib import Path

from factorgan.data.formats import aligned
from factorgan.data.in_memory import DatasetError, InMemoryData
from factorgan.data.formats.cityscapes import CITYSCAPES
from factorgan.method.factorisation import Factorisation

EDGES2SHOES = aligned.AlignedLayout(
    name="edges2shoes",
    halves=("edge map", "shoe photo"),
    modes=("L", "RGB"),
    prepare=("Get the data with: python scripts/download_pix2pix.py --dataset edges2shoes --root {root}",),
)


def aligned_pairs(
    layout: aligned.AlignedLayout, paired: int, root: str, size: int, cache: bool, order: str = "natural"
) -> InMemoryData:
    """An unconditional :class:`InMemoryData` of ``layout``'s image pairs at ``size``; the
    first ``paired`` training files in ``order`` (:data:`~factorgan.data.formats.aligned.ORDERS`) are pairs."""
    if size < 8:
        raise DatasetError(f"dataset.size={size}: image pairs need a side of at least 8 pixels")
    # uint8, decoded per batch: Edges2Shoes' 49,825 pairs at 64 px take 0.82 GB, not 3.3.
    train = aligned.load_split(root, "train", layout, size, cache, order)
    test = aligned.load_split(root, "val", layout, size, cache)
    return InMemoryData(
        train=train,
        test=test,
        factorisation=Factorisation(dim=0, sizes=list(layout.channels)),
        paired=paired,
        input_parts=0,
        name=f"{layout.name} pairs({Path(root) / layout.name}, {size}px)",
    )


def cityscapes_pairs(
    paired: int, root: str = "data", size: int = 64, cache: bool = True, order: str = "natural"
) -> InMemoryData:
    """Cityscapes photo | colour map pairs, ``(6, size, size)``, parts ``[3, 3]``."""
    return aligned_pairs(CITYSCAPES, paired, root, size, cache, order)


def edges2shoes(
    paired: int, root: str = "data", size: int = 64, cache: bool = True, order: str = "natural"
) -> InMemoryData:
    """Edges2Shoes edge map | shoe photo pairs, ``(4, size, size)``, parts ``[1, 3]``."""
    return aligned_pairs(EDGES2SHOES, paired, root, size, cache, order)
