"""Random data of any shape and factorisation: for benchmarks and tests that need the
real tensor shapes of an experiment without its files."""
from __future__ import annotations

from typing import Sequence

import torch

from factorgan.data.in_memory import InMemoryData
from factorgan.method.factorisation import Factorisation


def random_parts(
    sample_shape: Sequence[int],
    dim: int,
    sizes: Sequence[int],
    paired: int,
    n_train: int = 1000,
    n_test: int = 100,
    input_parts: int = 0,
    seed: int = 0,
    uint8: bool = False,
) -> InMemoryData:
    """Uniform [0, 1] samples ``(n_train, *sample_shape)`` cut into ``sizes`` along ``dim``.

    Example: PairedMNIST's shapes are ``sample_shape=(1, 56, 28), dim=1, sizes=(28, 28)``;
    K stacked digits are ``(1, 28K, 28)`` with K sizes of 28. ``uint8``: store random
    pixel codes as image datasets do (the real memory footprint).
    """
    g = torch.Generator().manual_seed(seed)
    shape = tuple(int(s) for s in sample_shape)
    if uint8:
        train = torch.randint(256, (n_train, *shape), generator=g, dtype=torch.uint8)
        test = torch.randint(256, (n_test, *shape), generator=g, dtype=torch.uint8)
    else:
        train = torch.rand((n_train, *shape), generator=g)
        test = torch.rand((n_test, *shape), generator=g)
    return InMemoryData(
        train, test, Factorisation(dim, sizes), paired=paired, input_parts=input_parts,
        name=f"random{list(shape)}",
    )
