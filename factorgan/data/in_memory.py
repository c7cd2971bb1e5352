"""Complete samples in memory, the data every experiment of the paper trains from.

:class:`InMemoryData` is the constructor of :class:`~factorgan.data.pools.PooledData` for
data whose every sample is complete: one tensor ``(N, *sample_shape)`` on the training
device (small datasets: no DataLoader, no per-step host sync), float in [0, 1] or uint8
pixel codes k (meaning k / 255, a quarter of the memory, decoded one batch at a time by
:func:`as_float`). Only the first ``paired`` samples may be used as joint samples (for
D_P and the GAN baseline); every sample may be used as isolated parts (for the
marginals) and, in conditional models, as generator input.
"""
from __future__ import annotations

from torch import Tensor

from factorgan.data.interface import DatasetError, PairedCountError, as_float, paired_count
from factorgan.data.pools import PooledData, complete_pools
from factorgan.method.factorisation import BaseFactorisation

__all__ = ["InMemoryData", "DatasetError", "PairedCountError", "as_float"]


class InMemoryData(PooledData):
    """Training (and test) samples, every one complete, plus the paired/unpaired split.

    Args:
        train: ``(N, *sample_shape)`` float tensor in [0, 1], or uint8 pixel codes.
        test: ``(M, *sample_shape)`` held-out samples (may be empty).
        factorisation: how a sample splits into parts.
        paired: how many of the first training samples are available as pairs (``all``:
            every one).
        input_parts: number of leading parts that are generator inputs (conditional
            models, e.g. the scene in segmentation); 0 for unconditional generation.
        name: a readable name for messages.
        train_labels / test_labels: optional per-sample labels ``(N, K)`` for evaluation.
    """

    def __init__(
        self,
        train: Tensor,
        test: Tensor,
        factorisation: BaseFactorisation,
        paired: int | str,
        input_parts: int = 0,
        name: str = "dataset",
        train_labels: Tensor | None = None,
        test_labels: Tensor | None = None,
    ) -> None:
        factorisation.check_shape(train.shape[1:])
        n = train.shape[0]
        paired = paired_count(paired, n)
        if paired < 0:
            raise DatasetError(f"paired={paired} must be ≥ 0")
        if paired > n:
            raise PairedCountError(
                f"paired={paired} is larger than the {n} training samples of {name}; "
                f"the maximum is paired={n}"
            )
        parts, rows = complete_pools(train, factorisation)
        super().__init__(
            parts, rows, test, factorisation, paired=paired, input_parts=input_parts, name=name,
            train_labels=train_labels, test_labels=test_labels, sample_shape=train.shape[1:],
        )

    @property
    def train(self) -> Tensor:
        """The training samples ``(N, *sample_shape)`` as stored (uint8 codes or float),
        joined from the part pools: a new tensor."""
        return self._whole(self.complete)

    @property
    def num_train(self) -> int:
        return int(self.rows.shape[0])

    def __repr__(self) -> str:
        return (
            f"InMemoryData({self.name}: {self.num_train} train / {self.test.shape[0]} test "
            f"samples of shape {self.sample_shape}, paired={self.paired}, {self.factorisation})"
        )
