"""PairedMNIST with its own pools: complete pairs plus isolated top and bottom digits in
chosen counts, drawn from disjoint digits (docs/your_own_data.md).

The research question "how many single digits is a pair worth" on real data: e.g. 50
pairs, 2,000 top-only and 1,000 bottom-only digits. The training digits are shuffled
(``seed``) and cut into three disjoint sets: the first ``top_only`` become isolated top
digits, the next ``bottom_only`` isolated bottom digits, and the rest make the pairs
(each stacked over a partner of the same class with probability ``lam``, as
:func:`~factorgan.data.formats.mnist.make_digit_pairs` does, partners drawn from that rest).

``halves=true`` cuts each digit into its upper and lower halves (K = 4 parts of 14 rows:
0, 1 the top digit's halves, 2, 3 the bottom digit's), and ``half_only`` further digits
per half position give that half alone (the other half of such a digit is never seen):
data for a factorisation tree (``model=factorgan_tree``, docs/experiments/trees.md).
A whole isolated digit then holds two parts together (a top digit: parts 0 and 1).

Evaluation is PairedMNIST's: the same test pairs and, as the training split the
classifier learns from, the same training pairs as ``experiment=paired_mnist`` with the
same ``seed`` and ``lam``, so the classifier (and FID) is the one PairedMNIST runs use.
"""
from __future__ import annotations

import numpy as np
import torch

from factorgan.data.interface import DatasetError, PairedCountError
from factorgan.data.formats.mnist import load_digits, make_digit_pairs
from factorgan.data.pools import PooledData, from_observed, from_pools
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
    halves: bool = False,
    half_only: int = 0,
) -> PooledData:
    """``paired`` pairs ``(1, 56, 28)`` plus ``top_only`` / ``bottom_only`` isolated digits
    ``(1, 28, 28)``; K = 2 row parts. ``conditional``: the top digit is the generator's
    input (drawn from the pairs and the isolated top digits). ``halves``: K = 4 half-digit
    parts, plus ``half_only`` observations of each half alone (4 × ``half_only`` digits)."""
    train, test = load_digits(source, root, download)
    if min(top_only, bottom_only, paired) < 0:
        raise DatasetError(f"pool sizes must be ≥ 0: paired={paired}, top_only={top_only}, bottom_only={bottom_only}")
    # The evaluation splits: exactly PairedMNIST's with this seed (the same rng draws).
    rng = np.random.default_rng(seed)
    reference, reference_labels = make_digit_pairs(*train, lam=lam, rng=rng)
    test_pairs, test_labels = make_digit_pairs(*test, lam=lam, rng=rng)

    images, labels = train
    if half_only < 0 or (half_only and not halves):
        raise DatasetError(
            f"half_only={half_only}: observations of half-digits need dataset.halves=true (K = 4 half-digit parts)"
            if half_only > 0 else f"half_only={half_only} must be ≥ 0")
    singles = top_only + bottom_only + 4 * half_only
    if singles >= len(images):
        raise DatasetError(
            f"top_only + bottom_only + 4 × half_only = {singles} leaves none of the {len(images)} training digits "
            f"for pairs; lower them (the pairs need digits of their own)"
        )
    pools_rng = np.random.default_rng([seed, 1])  # the pools' own stream
    order = pools_rng.permutation(len(images))
    tops, bottoms, rest = order[:top_only], order[top_only:top_only + bottom_only], order[singles:]
    halves_only = order[top_only + bottom_only:singles]  # 4 blocks of half_only: one per half position
    if paired > len(rest):
        raise PairedCountError(
            f"paired={paired} is larger than the {len(rest)} digits left for pairs after "
            f"top_only={top_only}, bottom_only={bottom_only} and half_only={half_only} (×4); "
            f"the maximum is paired={len(rest)}"
        )
    pairs, _ = make_digit_pairs(images[rest], labels[rest], lam=lam, rng=pools_rng)

    def digits(index: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images[index]).unsqueeze(1)  # (n, 1, 28, 28) uint8

    name = f"MNISTPools({source}, lam={lam}, {paired} pairs, {top_only} top, {bottom_only} bottom"
    evaluation = dict(
        test=torch.from_numpy(test_pairs).unsqueeze(1),
        input_parts=(2 if halves else 1) if conditional else 0,  # the top digit: one part, or its two halves
        train_reference=torch.from_numpy(reference).unsqueeze(1),
        train_labels=torch.from_numpy(reference_labels),
        test_labels=torch.from_numpy(test_labels),
    )
    if halves:
        x, observed = _half_digit_samples(pairs[:paired], images[tops], images[bottoms],
                                          images[halves_only].reshape(4, half_only, 28, 28))
        return from_observed(
            torch.from_numpy(x).unsqueeze(1), torch.from_numpy(observed), Factorisation(dim=1, sizes=[14] * 4),
            name=f"{name}, {half_only} of each half, halves)", part_names=HALF_NAMES, **evaluation,
        )
    return from_pools(
        torch.from_numpy(pairs[:paired]).unsqueeze(1),
        [digits(tops), digits(bottoms)],
        Factorisation(dim=1, sizes=[28, 28]),
        name=f"{name})",
        part_names=["top digit", "bottom digit"],
        **evaluation,
    )


HALF_NAMES = ["top digit, upper half", "top digit, lower half", "bottom digit, upper half", "bottom digit, lower half"]


def _half_digit_samples(pairs: np.ndarray, tops: np.ndarray, bottoms: np.ndarray, halves: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``(S, 56, 28)`` uint8 (zeros where unobserved) and their observed parts
    ``(S, 4)``: the pairs (all four halves), the isolated top digits (parts 0, 1), the
    isolated bottom digits (parts 2, 3), then for each half position j the ``halves[j]``
    digits' half j alone (an upper half for j = 0, 2, a lower half for j = 1, 3)."""
    blocks, masks = [pairs], [np.ones((len(pairs), 4), bool)]
    for digits, where in ((tops, 0), (bottoms, 28)):
        x = np.zeros((len(digits), 56, 28), np.uint8)
        x[:, where:where + 28] = digits
        m = np.zeros((len(digits), 4), bool)
        m[:, where // 14:where // 14 + 2] = True
        blocks.append(x)
        masks.append(m)
    for j in range(4):
        x = np.zeros((halves.shape[1], 56, 28), np.uint8)
        x[:, 14 * j:14 * j + 14] = halves[j][:, 14 * (j % 2):14 * (j % 2) + 14]
        m = np.zeros((halves.shape[1], 4), bool)
        m[:, j] = True
        blocks.append(x)
        masks.append(m)
    return np.concatenate(blocks), np.concatenate(masks)
