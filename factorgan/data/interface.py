"""The data interface: everything training, sample grids and evaluation read from a dataset.

A :class:`TrainingData` hands out batches, float32 in [0, 1] on its device, never its
storage: an implementation may hold every sample on the device
(:class:`factorgan.data.pools.PooledData`), memory-map them from disk or stream them.
Nothing outside ``factorgan/data`` touches a dataset's tensors.

A joint sample ``(*sample_shape)`` splits into K parts (:attr:`factorisation`); the first
:attr:`input_parts` of them are generator inputs in conditional models (the scene in
segmentation), the rest is what the generator produces.
"""
from __future__ import annotations

import abc
from typing import Iterator, Sequence

import torch
from torch import Tensor

from factorgan.errors import DatasetError, PairedCountError  # noqa: F401 (here as before)
from factorgan.method.factorisation import BaseFactorisation

TRAIN, TEST = "train", "test"


def is_all(paired: object) -> bool:
    """Whether ``paired`` is ``all`` (every complete sample), in any case and spacing."""
    return isinstance(paired, str) and paired.strip().lower() == "all"


def parse_paired(paired: int | str | None) -> int | None:
    """The one reading of a dataset's ``paired``: a count, or ``all`` / None for every
    complete sample (``paired=all`` names the run ``pairedall``)."""
    if paired is None or is_all(paired):
        return None
    try:
        return int(paired)
    except (TypeError, ValueError):
        raise DatasetError(f"paired={paired!r} must be a whole number of complete samples or 'all'") from None


def paired_count(paired: int | str | None, n: int) -> int:
    """``paired`` as a count: ``all`` (or None) is every one of the ``n`` training samples."""
    count = parse_paired(paired)
    return n if count is None else count


def as_float(x: Tensor) -> Tensor:
    """Stored samples -> float32 in [0, 1]: uint8 codes k become k / 255 (the same
    values a float dataset built from those pixels holds); float tensors pass unchanged."""
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


class TrainingData(abc.ABC):
    """Batches for training (drawn with a ``torch.Generator`` on :attr:`device`, so no
    host sync) and for evaluation (by index, in a fixed order)."""

    factorisation: BaseFactorisation
    input_parts: int  # leading parts given to the generator (0: unconditional)
    paired: int  # complete samples available as pairs
    name: str

    # ---- shapes and placement -------------------------------------------------------
    @property
    @abc.abstractmethod
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one joint sample (no batch dim)."""

    @property
    @abc.abstractmethod
    def device(self) -> torch.device:
        """Where batches are made."""

    @abc.abstractmethod
    def to(self, device: torch.device | str, memory_format: torch.memory_format = torch.preserve_format) -> "TrainingData":
        """Make batches on ``device`` (image batches in ``memory_format``); returns self."""

    # ---- training batches -----------------------------------------------------------
    @abc.abstractmethod
    def sample_paired(self, n: int, rng: torch.Generator) -> Tensor:
        """``n`` complete samples ``(n, *sample_shape)`` (for D_P and the GAN baseline)."""

    @abc.abstractmethod
    def sample_part(self, i: int, n: int, rng: torch.Generator) -> Tensor:
        """``n`` real observations of part ``i`` alone ``(n, *part_shape_i)`` (marginals)."""

    def sample_observed(self, which: Sequence[int], n: int, rng: torch.Generator) -> Tensor:
        """``n`` real observations holding every part in ``which`` together, as joint
        samples ``(n, *sample_shape)`` with the other parts zero (an inner split of a
        factorisation tree: e.g. whole top digits for the split of that digit in halves).

        A dataset that knows only complete samples and isolated parts (the paper's: the
        first ``paired`` samples complete, the rest seen one part at a time) has several
        parts together only in its paired samples, so this default draws those;
        :class:`~factorgan.data.pools.PooledData` draws every sample holding ``which``."""
        return self._keep_parts(self.sample_paired(n, rng), which)

    def _keep_parts(self, x: Tensor, which: Sequence[int]) -> Tensor:
        """Joint samples ``x`` with every part not in ``which`` set to zero."""
        keep = set(int(i) for i in which)
        parts = self.factorisation.split(x)
        return self.factorisation.join([p if i in keep else torch.zeros_like(p) for i, p in enumerate(parts)])

    @abc.abstractmethod
    def sample_inputs(self, n: int, rng: torch.Generator, paired_only: bool = False) -> Tensor:
        """``n`` generator inputs ``(n, *input_shape)``, from every sample that has them,
        or from the paired samples only (the conditional GAN baseline)."""

    @abc.abstractmethod
    def sample_outputs(self, n: int, rng: torch.Generator) -> Tensor:
        """``n`` real outputs ``(n, *output_shape)`` (the non-input parts joined), drawn
        independently of any input (CycleGAN's unpaired domain B)."""

    # ---- evaluation batches ---------------------------------------------------------
    @abc.abstractmethod
    def num_samples(self, split: str = TEST) -> int:
        """Samples in ``split`` (``train`` or ``test``)."""

    @abc.abstractmethod
    def samples(self, split: str, index: Tensor) -> Tensor:
        """Samples ``index`` ``(M,)`` of ``split``: ``(M, *sample_shape)`` on :attr:`device`."""

    def labels(self, split: str = TEST) -> Tensor | None:
        """Per-sample labels of ``split`` ``(N, K)`` where the dataset has them (PairedMNIST's
        digit classes), else None."""
        return None

    def batches(self, split: str = TEST, batch_size: int = 500) -> Iterator[Tensor]:
        """Every sample of ``split`` in order, ``batch_size`` at a time."""
        n = self.num_samples(split)
        for start in range(0, n, batch_size):
            yield self.samples(split, torch.arange(start, min(start + batch_size, n), device=self.device))

    def examples(self, n: int) -> Tensor:
        """The first ``n`` test samples (training samples if there is no test split) on
        the CPU: the fixed examples a conditional generator's grids show."""
        split = TEST if self.num_samples(TEST) else TRAIN
        m = min(n, self.num_samples(split))
        return self.samples(split, torch.arange(m, device=self.device)).cpu()

    def with_factorisation(self, factorisation: BaseFactorisation) -> "TrainingData":
        """The same samples cut into other parts (``factorisation=slices|quadrants|grid``
        in the config); returns the data. Datasets that store their parts apart (users'
        pools) keep the cut their files have."""
        raise DatasetError(
            f"{self.name} stores its parts apart, so it cannot be cut another way; "
            "leave factorisation unset (its parts are those its files hold)"
        )

    # ---- conditional models: generator inputs | generated outputs ------------------
    def _joined_shape(self, parts: Sequence[int]) -> tuple[int, ...]:
        return self.factorisation.joined_shape(self.sample_shape, list(parts))

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of the generator's input (the leading input parts), or None."""
        return self._joined_shape(range(self.input_parts)) if self.input_parts else None

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of what the generator produces (every part that is not an input)."""
        return self._joined_shape(range(self.input_parts, self.factorisation.num_parts))

    def split_inputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Joint samples ``(N, *sample_shape)`` -> (inputs ``(N, *input_shape)``, outputs
        ``(N, *output_shape)``): the leading ``input_parts`` joined, and the rest joined."""
        f, k = self.factorisation, self.input_parts
        parts = f.split(x)
        return f.join_some(parts[:k], range(k)), f.join_some(parts[k:], range(k, f.num_parts))

    def join_inputs(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """The inverse of :meth:`split_inputs`: ``(N, *sample_shape)`` joint samples."""
        return self.factorisation.join_some([inputs, outputs], range(self.factorisation.num_parts))
