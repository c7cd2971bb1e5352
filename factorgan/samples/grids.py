"""Sample grids at intervals: to TensorBoard and as PNG files in the run directory.

Small samples are enlarged (nearest neighbour) to a readable size and grids that compare
things carry column headers (see :func:`factorgan.samples.images.image_grid`); the same
image goes to TensorBoard and to the PNG files.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from factorgan import atomic_files
from factorgan.data.interface import TrainingData
from factorgan.errors import ConfigError
from factorgan.samples.generate import eval_mode, uniform_noise
from factorgan.samples.images import displayable, image_grid, save_png


class SampleWriter:
    """Draws the same ``n`` samples each time (fixed noise; fixed test inputs when the
    generator is conditional), so successive grids show how training changes them."""

    def __init__(
        self, run_dir: Path, generator: nn.Module, data: TrainingData, seed: int, n: int = 64
    ) -> None:
        self.dir = Path(run_dir) / "samples"
        self.G = generator
        self.data = data
        # A private CPU generator: drawing the grid never disturbs the training RNG.
        g = torch.Generator().manual_seed(10_000 + seed)
        self.z = uniform_noise(n, generator.noise_dim, g, "cpu")
        self.cond = None
        if data.input_parts:
            self.cond, _ = data.split_inputs(data.examples(n))
            self.z = self.z[: len(self.cond)]

    def draw(self) -> torch.Tensor:
        """Generated joint samples ``(n, *sample_shape)`` on the CPU, clamped to [0, 1]."""
        return self.generate().clamp(0, 1)

    @torch.no_grad()
    def generate(self) -> torch.Tensor:
        """Generated joint samples ``(n, *sample_shape)`` on the CPU, float32 as generated."""
        device = next(self.G.parameters()).device
        with eval_mode(self.G):
            z = self.z.to(device)
            if self.cond is None:
                x = self.G(z)
            else:
                cond = self.cond.to(device)
                x = self.data.join_inputs(cond, self.G(z, cond))
        return x.float().cpu()

    def grid(self) -> torch.Tensor:
        """The image grid ``(1 or 3, H, W)``: the drawn samples, about square (samples of
        more channels shown as their RGB groups side by side, headed by the parts' names
        or input | generated where :meth:`part_labels` has them)."""
        f = self.data.factorisation
        samples = self.draw()
        x = displayable(samples, f.display_groups())
        labels = self.part_labels()
        if labels is not None and samples.dim() == 4 and x.shape[-1] != len(labels) * samples.shape[-1]:
            labels = None  # not shown as one image per part: nothing to head
        nrow = max(1, int(len(x) ** 0.5))
        ncol = max(1, min(nrow, len(x)))
        return image_grid(x, nrow=nrow, padding=2, pad_value=0.5, labels=None if labels is None else labels * ncol)

    def part_labels(self) -> list[str] | None:
        """Names of the parts a sample shows side by side (channel groups), for the column
        headers: the dataset's ``part_names`` (generated ones marked so in conditional
        models), or input | generated; None when the parts are not side by side, or are
        unconditional parts without names."""
        groups = self.data.factorisation.display_groups()
        if not groups or len(groups) < 2:
            return None
        names = getattr(self.data, "part_names", None)
        names = list(names) if names and len(names) == len(groups) else None
        k = self.data.input_parts
        if names is None:
            return ["input" if i < k else "generated" for i in range(len(groups))] if k else None
        return [name if i < k or not k else f"{name} (generated)" for i, name in enumerate(names)]

    def write(self, writer: SummaryWriter | None, step: int) -> Path:
        """Add the grid to TensorBoard (tag ``samples``) and save ``samples/step_N.png``
        and ``samples/latest.png``; returns the latest PNG's path."""
        return self.save_image(self.grid(), writer, step)

    def save_image(self, image: torch.Tensor, writer: SummaryWriter | None, step: int, name: str = "") -> Path:
        """``image`` ``(C, H, W)`` to TensorBoard (tag ``samples`` or ``samples/<name>``)
        and as ``samples/[<name>_]step_N.png`` and ``samples/[<name>_]latest.png``;
        returns the latest PNG's path."""
        prefix = f"{name}_" if name else ""
        if writer is not None:
            writer.add_image(f"samples/{name}" if name else "samples", image, step)
        # Whole files or none (a full disk stops the run with a clear message, no half
        # image left; a viewer of latest.png never reads one being written).
        path = atomic_files.write_atomic(self.dir / f"{prefix}step_{step:07d}.png", lambda f: save_png(image, f),
                                         atomic_files.CONTINUE)
        png = path.read_bytes()  # the same bytes: PNG encoding is most of a write's time
        return atomic_files.write_atomic(self.dir / f"{prefix}latest.png", lambda f: f.write(png), atomic_files.CONTINUE)


COMPARISON_LABELS = ("input", "generated", "real")


class ComparisonSampleWriter(SampleWriter):
    """For conditional data: one row per test example, input | generated | true output
    (e.g. scene | predicted map | true map), the same ``n`` examples every time, under a
    header naming the three columns.

    Args:
        labels: the three column headers (default: input | generated | real, e.g.
            ``[scene, prediction, truth]`` for segmentation).
    """

    def __init__(
        self, run_dir: Path, generator: nn.Module, data: TrainingData, seed: int, n: int = 8,
        labels: Sequence[str] | None = None,
    ) -> None:
        if not data.input_parts:
            raise ValueError("ComparisonSampleWriter needs a conditional dataset (input_parts ≥ 1)")
        super().__init__(run_dir, generator, data, seed, n)
        _, self.truth = data.split_inputs(data.examples(len(self.z)))
        self.labels = [str(label) for label in (labels if labels is not None else COMPARISON_LABELS)]
        if len(self.labels) != 3:
            raise ConfigError(f"samples.labels={self.labels}: give three column headers, e.g. [scene,prediction,truth]")

    def grid(self) -> torch.Tensor:
        cond, out = self.data.split_inputs(self.draw())
        rows = torch.stack([cond, out, self.truth.float().clamp(0, 1)], dim=1).flatten(0, 1)
        return image_grid(rows, nrow=3, padding=2, pad_value=0.5, labels=self.labels)
