"""Sample grids at intervals: to TensorBoard and as PNG files in the run directory."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from factorgan.data.interface import TrainingData
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
        more channels shown as their RGB groups side by side)."""
        f = self.data.factorisation
        x = displayable(self.draw(), f.display_groups())
        return image_grid(x, nrow=max(1, int(len(x) ** 0.5)), padding=2, pad_value=0.5)

    def write(self, writer: SummaryWriter | None, step: int) -> Path:
        """Add the grid to TensorBoard (tag ``samples``) and save ``samples/step_N.png``
        and ``samples/latest.png``; returns the latest PNG's path."""
        grid = self.grid()
        if writer is not None:
            writer.add_image("samples", grid, step)
        self.dir.mkdir(parents=True, exist_ok=True)
        save_png(grid, self.dir / f"step_{step:07d}.png")
        latest = self.dir / "latest.png"
        save_png(grid, latest)
        return latest


class ComparisonSampleWriter(SampleWriter):
    """For conditional data: one row per test example, input | generated | true output
    (e.g. scene | predicted map | true map), the same ``n`` examples every time."""

    def __init__(
        self, run_dir: Path, generator: nn.Module, data: TrainingData, seed: int, n: int = 8
    ) -> None:
        if not data.input_parts:
            raise ValueError("ComparisonSampleWriter needs a conditional dataset (input_parts ≥ 1)")
        super().__init__(run_dir, generator, data, seed, n)
        _, self.truth = data.split_inputs(data.examples(len(self.z)))

    def grid(self) -> torch.Tensor:
        cond, out = self.data.split_inputs(self.draw())
        rows = torch.stack([cond, out, self.truth.float().clamp(0, 1)], dim=1).flatten(0, 1)
        return image_grid(rows, nrow=3, padding=2, pad_value=0.5)
