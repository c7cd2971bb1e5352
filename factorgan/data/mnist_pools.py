"""PairedMNIST with its own pools: complete pairs plus isolated top and bottom digits in
chosen counts, drawn from disjoint digits (docs/your_own_data.md).

The research question "how many single digits is a pair worth" on real data: e.g. 50
pairs, 2,000 top-only and 1,000 bottom-only digits. The training digits are shuffled
(``seed``) and cut into three disjoint sets: the first ``top_only`` become isolated top
digits, the next ``bottom_only`` isolated bottom digits, and the rest make the pairs
(each stacked over a partner of the same class with probability ``lam``, as
:func:`~factorgan.data.mnist.make_digit_pairs` does, partners drawn from that rest).

Evaluation is PairedMNIST's: the same test pairs and, as the training split the
classifier learns from, the same training pairs as ``experiment=paired_mnist`` with the
same ``seed`` and ``lam``, so the classifier (and FID) is the one PairedMNIST runs use.
"""
from __future__ import annotations

import numpy as np
import torch

from factorgan.data.interface import DatasetError, PairedCountError
from factorgan.data.mnist import load_digits, make_digit_pairs
from factorgan.data.pools import PooledData, from_pools
from factorgan.method.factorisation import Factorisation


def mnist_pools(
    paired: int,
    top_only: int = 2000,
    bottom_only: int = 1000,
    lam: float = 0.9,
    source: str = "embedded",
    root: str | None = None,
    download: bool = False,
    seed: int = 0,
    conditional: bool = False,
) -> PooledData:
    """``paired`` pairs ``(1, 56, 28)`` plus ``top_only`` / ``bottom_only`` isolated digits
    ``(1, 28, 28)``; K = 2 row parts. ``conditional``: the top digit is the generator's
    input (drawn from the pairs and the isolated top digits)."""
    train, test = load_digits(source, root, download)
    if min(top_only, bottom_only, paired) < 0:
        raise DatasetError(f"pool sizes must be ≥ 0: paired={paired}, top_only={top_only}, bottom_only={bottom_only}")
    # The evaluation splits: exactly PairedMNIST's with this seed (the same rng draws).
    rng = np.random.default_rng(seed)
    reference, reference_labels = make_digit_pairs(*train, lam=lam, rng=rng)
    test_pairs, test_labels = make_digit_pairs(*test, lam=lam, rng=rng)

    images, labels = train
    singles = top_only + bottom_only
    if singles >= len(images):
        raise DatasetError(
            f"top_only + bottom_only = {singles} leaves none of the {len(images)} training digits for pairs; "
            f"lower them (the pairs need digits of their own)"
        )
    pools_rng = np.random.default_rng([seed, 1])  # the pools' own stream
    order = pools_rng.permutation(len(images))
    tops, bottoms, rest = order[:top_only], order[top_only:singles], order[singles:]
    if paired > len(rest):
        raise PairedCountError(
            f"paired={paired} is larger than the {len(rest)} digits left for pairs after "
            f"top_only={top_only} and bottom_only={bottom_only}; the maximum is paired={len(rest)}"
        )
    pairs, _ = make_digit_pairs(images[rest], labels[rest], lam=lam, rng=pools_rng)

    def digits(index: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images[index]).unsqueeze(1)  # (n, 1, 28, 28) uint8

    return from_pools(
        torch.from_numpy(pairs[:paired]).unsqueeze(1),
        [digits(tops), digits(bottoms)],
        Factorisation(dim=1, sizes=[28, 28]),
        test=torch.from_numpy(test_pairs).unsqueeze(1),
        input_parts=1 if conditional else 0,
        name=f"MNISTPools({source}, lam={lam}, {paired} pairs, {top_only} top, {bottom_only} bottom)",
        part_names=["top digit", "bottom digit"],
        train_reference=torch.from_numpy(reference).unsqueeze(1),
        train_labels=torch.from_numpy(reference_labels),
        test_labels=torch.from_numpy(test_labels),
    )
