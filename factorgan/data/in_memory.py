"""The in-memory dataset every experiment trains from.

A :class:`PairedDataset` holds all training samples as one tensor ``(N, *sample_shape)``
on the training device (small datasets: no DataLoader, no per-step host sync): float in
[0, 1], or uint8 pixel codes k (meaning k / 255), a quarter of the memory, decoded one
batch at a time by :func:`as_float`. Only the first ``paired`` samples may be used as
joint samples (for D_P and the GAN baseline); every sample may be used as isolated parts
(for the marginals) and, in conditional models, as generator input.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from factorgan.method.factorisation import Factorisation


def as_float(x: Tensor) -> Tensor:
    """Stored samples -> float32 in [0, 1]: uint8 codes k become k / 255 (the same
    values a float dataset built from those pixels holds); float tensors pass unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


class DatasetError(ValueError):
    """A dataset is missing, malformed or asked for more than it holds."""


class PairedCountError(DatasetError):
    """``paired`` is larger than the training set (a sweep skips such runs)."""


class PairedDataset:
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
        paired: int,
        input_parts: int = 0,
        name: str = "dataset",
        train_labels: Tensor | None = None,
        test_labels: Tensor | None = None,
    ) -> None:
        factorisation.check_shape(train.shape[1:])
        n = train.shape[0]
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

    # ---- shapes ---------------------------------------------------------------------
    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.train.shape[1:])

    @property
    def num_train(self) -> int:
        return self.train.shape[0]

    def _joined_shape(self, parts: Sequence[int]) -> tuple[int, ...]:
        shape = list(self.sample_shape)
        shape[self.factorisation.dim] = sum(self.factorisation.sizes[i] for i in parts)
        return tuple(shape)

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of the generator's input (the leading input parts), or None."""
        return self._joined_shape(range(self.input_parts)) if self.input_parts else None

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of what the generator produces (every part that is not an input)."""
        return self._joined_shape(range(self.input_parts, self.factorisation.num_parts))

    @property
    def device(self) -> torch.device:
        return self.train.device

    def to(self, device: torch.device | str, memory_format: torch.memory_format = torch.preserve_format) -> "PairedDataset":
        """Move the training tensors to ``device`` (in place; image tensors in
        ``memory_format``, e.g. ``torch.channels_last``); returns self."""
        if self.train.dim() == 4:
            self.train = self.train.to(device, memory_format=memory_format)
        else:
            self.train = self.train.to(device)
        if self.train_labels is not None:
            self.train_labels = self.train_labels.to(device)
        return self

    # ---- sampling (indices drawn on the device: no host sync) ------------------------
    def _indices(self, n: int, high: int, generator: torch.Generator) -> Tensor:
        return torch.randint(high, (n,), generator=generator, device=self.device)

    def sample_paired(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` joint samples drawn with replacement from the first ``paired``."""
        if self.paired == 0:
            raise DatasetError(
                f"this model needs paired samples but paired=0; set paired to 1..{self.num_train}"
            )
        return as_float(self.train[self._indices(n, self.paired, generator)])

    def sample_part(self, i: int, n: int, generator: torch.Generator) -> Tensor:
        """``n`` real samples of part ``i`` alone, from every training sample."""
        x = as_float(self.train[self._indices(n, self.num_train, generator)])
        return self.factorisation.split(x)[i]

    def sample_inputs(self, n: int, generator: torch.Generator, paired_only: bool) -> Tensor:
        """``n`` generator inputs (the leading input parts joined): from all samples, or
        from the paired ones only (the GAN baseline sees nothing else)."""
        if not self.input_parts:
            raise DatasetError(f"{self.name} is unconditional: it has no generator inputs")
        high = self.paired if paired_only else self.num_train
        if high == 0:
            raise DatasetError("paired=0 leaves this model no generator inputs; set paired ≥ 1")
        return self.split_inputs(as_float(self.train[self._indices(n, high, generator)]))[0]

    # ---- conditional models: generator inputs | generated outputs ------------------
    def split_inputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Joint samples ``(N, *sample_shape)`` -> (inputs ``(N, *input_shape)``, outputs
        ``(N, *output_shape)``): the leading ``input_parts`` joined, and the rest joined."""
        parts, dim = self.factorisation.split(x), self.factorisation.dim + 1
        k = self.input_parts
        return torch.cat(parts[:k], dim=dim), torch.cat(parts[k:], dim=dim)

    def join_inputs(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """The inverse of :meth:`split_inputs`: ``(N, *sample_shape)`` joint samples."""
        return torch.cat([inputs, outputs], dim=self.factorisation.dim + 1)

    def __repr__(self) -> str:
        return (
            f"PairedDataset({self.name}: {self.num_train} train / {self.test.shape[0]} test "
            f"samples of shape {self.sample_shape}, paired={self.paired}, {self.factorisation})"
        )
