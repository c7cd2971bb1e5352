"""The in-memory implementation of the data interface, which every experiment trains from.

An :class:`InMemoryData` holds all training samples as one tensor ``(N, *sample_shape)``
on the training device (small datasets: no DataLoader, no per-step host sync): float in
[0, 1], or uint8 pixel codes k (meaning k / 255), a quarter of the memory, decoded one
batch at a time by :func:`as_float`. Only the first ``paired`` samples may be used as
joint samples (for D_P and the GAN baseline); every sample may be used as isolated parts
(for the marginals) and, in conditional models, as generator input.
"""
from __future__ import annotations

import torch
from torch import Tensor

from factorgan.data.interface import TEST, TRAIN, DatasetError, PairedCountError, TrainingData, as_float, paired_count
from factorgan.method.factorisation import Factorisation, Parts

__all__ = ["InMemoryData", "DatasetError", "PairedCountError", "as_float"]


class InMemoryData(TrainingData):
    """Training (and test) samples plus the paired/unpaired split.

    Args:
        train: ``(N, *sample_shape)`` float tensor in [0, 1], or uint8 pixel codes.
        test: ``(M, *sample_shape)`` held-out samples (may be empty).
        factorisation: how a sample splits into parts.
        paired: how many of the first training samples are available as pairs.
        input_parts: number of leading parts that are generator inputs (conditional
            models, e.g. the scene in segmentation); 0 for unconditional generation.
        name: a readable name for messages.
        train_labels / test_labels: optional per-sample labels ``(N, K)`` for evaluation.
    """

    def __init__(
        self,
        train: Tensor,
        test: Tensor,
        factorisation: Factorisation,
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
        if not 0 <= input_parts < factorisation.num_parts:
            raise DatasetError(
                f"input_parts={input_parts} must leave at least one part to generate "
                f"(the factorisation has {factorisation.num_parts} parts)"
            )
        self.train = train
        self.test = test
        self.factorisation = factorisation
        self.paired = int(paired)
        self.input_parts = int(input_parts)
        self.name = name
        self.train_labels = train_labels
        self.test_labels = test_labels

    # ---- shapes and placement -------------------------------------------------------
    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    @property
    def num_train(self) -> int:
        return self.train.shape[0]

    @property
    def device(self) -> torch.device:
        return self.train.device

    def pool_sizes(self) -> dict[str, int]:
        """How many samples feed what: the pairs, and every sample's parts (read unpaired)."""
        return {"paired": self.paired, "samples": self.num_train}

    def to(self, device: torch.device | str, memory_format: torch.memory_format = torch.preserve_format) -> "InMemoryData":
        """Move the samples to ``device`` (in place; image tensors in ``memory_format``,
        e.g. ``torch.channels_last``); returns self."""
        def move(x: Tensor) -> Tensor:
            return x.to(device, memory_format=memory_format) if x.dim() == 4 else x.to(device)

        self.train, self.test = move(self.train), move(self.test)
        if self.train_labels is not None:
            self.train_labels = self.train_labels.to(device)
        if self.test_labels is not None:
            self.test_labels = self.test_labels.to(device)
        return self

    def with_factorisation(self, factorisation: Parts) -> "InMemoryData":
        """Cut the same samples into ``factorisation``'s parts (in place; returns self)."""
        try:
            factorisation.check_shape(self.sample_shape)
            if self.input_parts >= factorisation.num_parts:
                raise ValueError(f"{factorisation.num_parts} parts leave none to generate beside {self.input_parts} input parts")
            if self.input_parts:  # the generator's input and output must each be one tensor
                factorisation.joined_shape(self.sample_shape, list(range(self.input_parts)))
                factorisation.joined_shape(self.sample_shape, list(range(self.input_parts, factorisation.num_parts)))
        except ValueError as err:
            raise DatasetError(f"factorisation {factorisation} does not fit {self.name}: {err}") from None
        self.factorisation = factorisation
        return self

    # ---- training batches (indices drawn on the device: no host sync) --------------
    def _draw(self, n: int, high: int, rng: torch.Generator) -> Tensor:
        """``n`` training samples drawn with replacement from the first ``high``, as float."""
        return as_float(self.train[torch.randint(high, (n,), generator=rng, device=self.device)])

    def sample_paired(self, n: int, rng: torch.Generator) -> Tensor:
        """``n`` joint samples drawn with replacement from the first ``paired``."""
        if self.paired == 0:
            raise DatasetError(
                f"this model needs paired samples but paired=0; set paired to 1..{self.num_train}"
            )
        return self._draw(n, self.paired, rng)

    def sample_part(self, i: int, n: int, rng: torch.Generator) -> Tensor:
        """``n`` real samples of part ``i`` alone, from every training sample."""
        return self.factorisation.split(self._draw(n, self.num_train, rng))[i]

    def sample_inputs(self, n: int, rng: torch.Generator, paired_only: bool = False) -> Tensor:
        """``n`` generator inputs (the leading input parts joined): from all samples, or
        from the paired ones only (the GAN baseline sees nothing else)."""
        if not self.input_parts:
            raise DatasetError(f"{self.name} is unconditional: it has no generator inputs")
        high = self.paired if paired_only else self.num_train
        if high == 0:
            raise DatasetError("paired=0 leaves this model no generator inputs; set paired ≥ 1")
        return self.split_inputs(self._draw(n, high, rng))[0]

    def sample_outputs(self, n: int, rng: torch.Generator) -> Tensor:
        """``n`` real outputs (the non-input parts joined), from every training sample."""
        return self.split_inputs(self._draw(n, self.num_train, rng))[1]

    # ---- evaluation batches ---------------------------------------------------------
    def _split(self, split: str) -> Tensor:
        if split not in (TRAIN, TEST):
            raise ValueError(f"split={split!r}: use {TRAIN!r} or {TEST!r}")
        return self.train if split == TRAIN else self.test

    def num_samples(self, split: str = TEST) -> int:
        return self._split(split).shape[0]

    def samples(self, split: str, index: Tensor) -> Tensor:
        stored = self._split(split)
        return as_float(stored[index.to(stored.device)].to(self.device))

    def labels(self, split: str = TEST) -> Tensor | None:
        return self.train_labels if split == TRAIN else self.test_labels

    def __repr__(self) -> str:
        return (
            f"InMemoryData({self.name}: {self.num_train} train / {self.test.shape[0]} test "
            f"samples of shape {self.sample_shape}, paired={self.paired}, {self.factorisation})"
        )
