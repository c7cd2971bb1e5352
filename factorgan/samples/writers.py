"""The sample writer a run gets without ``samples=``, chosen by the data's shape."""
from __future__ import annotations

from pathlib import Path

from torch import nn

from factorgan.data.interface import TrainingData
from factorgan.samples.arrays import ArraySampleWriter
from factorgan.samples.grids import SampleWriter


def default_writer(run_dir: Path, generator: nn.Module, data: TrainingData, seed: int) -> SampleWriter:
    """Image grids for images; heat maps and pair plots of real and generated samples for
    vectors (:class:`~factorgan.samples.arrays.ArraySampleWriter`)."""
    if len(data.sample_shape) == 1:
        return ArraySampleWriter(run_dir, generator, data, seed)
    return SampleWriter(run_dir, generator, data, seed)
