"""Pictures of samples that are not images (users' arrays, vectors): real beside generated.

Two figures, drawn with matplotlib:

- :func:`heatmap_figure`: one row per sample, one cell per value (viridis, the data's
  [0, 1] scale), real test samples on the left and generated ones on the right, the
  parts separated by white lines and named below; for a conditional model the rows
  share their inputs (real row i and generated row i have the same input part).
- :func:`pair_plot_figure` (K ≤ :data:`MAX_PAIR_PARTS` parts): every part against every
  other, real and generated points overlaid, each part's histogram on the diagonal. A
  part of one value is plotted as it is, a longer part by its first principal component
  (fitted on the real samples, the same axis for both), so the dependency between parts
  shows whatever their length.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.tensorboard import SummaryWriter

from factorgan.data.interface import TEST, TRAIN, TrainingData
from factorgan.samples.generate import draw_samples
from factorgan.samples.grids import SampleWriter

MAX_PAIR_PARTS = 6  # pair plots for up to this many parts (a K x K grid of panels)
REAL, GENERATED = "#1f77b4", "#ff7f0e"  # matplotlib's first two colours


def flat_parts(x: Tensor, parts: Sequence[Tensor] | None = None) -> tuple[np.ndarray, list[int]]:
    """Samples as rows of values, parts one after the other: ``(N, D)`` and the parts' lengths."""
    parts = list(parts) if parts is not None else [x]
    flat = [p.reshape(len(p), -1).float() for p in parts]
    return torch.cat(flat, dim=1).numpy(), [f.shape[1] for f in flat]


def part_labels(k: int, names: Sequence[str] | None = None, inputs: int = 0) -> list[str]:
    """``part 0`` … (or the dataset's names), inputs of a conditional model marked ``(input)``."""
    names = list(names) if names is not None and len(names) == k else [f"part {i}" for i in range(k)]
    return [f"{n} (input)" if i < inputs else n for i, n in enumerate(names)]


def figure_image(fig) -> Tensor:  # noqa: ANN001 - a matplotlib Figure
    """A matplotlib figure rendered to an RGB image ``(3, H, W)`` in [0, 1]."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return torch.from_numpy(rgba[:, :, :3].astype(np.float32) / 255.0).permute(2, 0, 1).contiguous()


def heatmap_figure(real: Tensor, generated: Tensor, split, labels: Sequence[str], title: str = "",  # noqa: ANN001, ANN201
                   real_name: str = "held-out"):
    """Real and generated samples side by side as heat maps, parts bounded and named.

    ``real`` / ``generated``: ``(N, *sample_shape)`` in [0, 1] (no real samples: the
    generated panel alone); ``split``: the factorisation's ``split`` (samples -> parts);
    ``real_name``: which real samples they are, for the title."""
    from matplotlib.figure import Figure

    panels = [(f"real ({len(real)} {real_name} samples)", real)] if len(real) else []
    panels.append((f"generated ({len(generated)})", generated))
    rows = max(len(real), len(generated))
    d = generated[:1].reshape(1, -1).shape[1]
    width = min(7.0, max(2.6, 0.16 * d + 1.0))
    fig = Figure(figsize=(len(panels) * width + 0.9, min(8.0, 1.6 + 0.12 * rows)), dpi=100, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    image = None
    for ax, (name, x) in zip(axes, panels):
        values, sizes = flat_parts(x, split(x))
        image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        edges = np.cumsum(sizes)
        for edge in edges[:-1]:
            ax.axvline(edge - 0.5, color="white", linewidth=2.5)
        ax.set_xticks(edges - np.asarray(sizes) / 2 - 0.5, labels, fontsize=8,
                      rotation=90 if len(sizes) > 6 else 0)  # many parts: names upright, not overlapping
        ax.tick_params(axis="x", length=0)
        ax.set_title(name, fontsize=10)
    axes[0].set_ylabel("sample")
    fig.colorbar(image, ax=axes, shrink=0.8, label="value ([0, 1])")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def principal_axes(real: Sequence[Tensor]) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Per part: its real samples' mean and first principal direction (None for a part of
    one value, plotted as it is)."""
    out = []
    for p in real:
        v = p.reshape(len(p), -1).double().numpy()
        mean = v.mean(0)
        if v.shape[1] == 1:
            out.append((mean, None))
            continue
        _, _, vt = np.linalg.svd(v - mean, full_matrices=False)
        direction = vt[0] * (1 if vt[0].sum() >= 0 else -1)  # a fixed sign: the axis does not flip between steps
        out.append((mean, direction))
    return out


def project(parts: Sequence[Tensor], axes: Sequence[tuple[np.ndarray, np.ndarray | None]]) -> np.ndarray:
    """``(N, K)``: each part's value, or its coordinate on its principal direction."""
    cols = []
    for p, (mean, direction) in zip(parts, axes):
        v = p.reshape(len(p), -1).double().numpy()
        cols.append(v[:, 0] if direction is None else (v - mean) @ direction)
    return np.stack(cols, axis=1)


def pair_plot_figure(real: Tensor, generated: Tensor, split, labels: Sequence[str], title: str = ""):  # noqa: ANN001, ANN201
    """Every part against every other (``K`` x ``K`` panels): real and generated points
    overlaid below the diagonal and above it, each part's histograms on it."""
    from matplotlib.figure import Figure

    real_parts, fake_parts = split(real), split(generated)
    axes_pc = principal_axes(real_parts)
    r, g = project(real_parts, axes_pc), project(fake_parts, axes_pc)
    k = r.shape[1]
    names = [n if d is None else f"{n} (PC1)" for n, (_, d) in zip(labels, axes_pc)]
    size = 2.1 if k > 2 else 2.6
    fig = Figure(figsize=(size * k + 0.4, size * k + 0.6), dpi=100, layout="constrained")
    grid = np.atleast_2d(fig.subplots(k, k, squeeze=False))
    lo = np.minimum(r.min(0), g.min(0))
    hi = np.maximum(r.max(0), g.max(0))
    pad = 0.05 * np.maximum(hi - lo, 1e-6)
    lo, hi = lo - pad, hi + pad
    for i in range(k):
        for j in range(k):
            ax = grid[i, j]
            if i == j:
                bins = np.linspace(lo[i], hi[i], 31)
                ax.hist(r[:, i], bins=bins, color=REAL, alpha=0.5, density=True, label="real")
                ax.hist(g[:, i], bins=bins, color=GENERATED, histtype="step", linewidth=1.5, density=True,
                        label="generated")
                ax.set_yticks([])
            else:
                ax.scatter(r[:, j], r[:, i], s=4, c=REAL, alpha=0.35, linewidths=0, label="real")
                ax.scatter(g[:, j], g[:, i], s=4, c=GENERATED, alpha=0.35, linewidths=0, label="generated")
                ax.set_ylim(lo[i], hi[i])
            ax.set_xlim(lo[j], hi[j])
            ax.tick_params(labelsize=7)
            if i == k - 1:
                ax.set_xlabel(names[j], fontsize=9)
            if j == 0 and i != j:
                ax.set_ylabel(names[i], fontsize=9)
            elif j == 0:
                ax.set_ylabel(f"{names[i]}\n(density)", fontsize=9)
    handles, legend_labels = grid[0, 0].get_legend_handles_labels()
    fig.legend(handles, [f"{n} ({len(x)})" for n, x in zip(legend_labels, (r, g))], loc="outside upper center",
               ncol=2, fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def data_labels(data: TrainingData) -> list[str]:
    """The names of ``data``'s parts (:func:`part_labels`)."""
    return part_labels(data.factorisation.num_parts, getattr(data, "part_names", None), data.input_parts)


def heatmap_image(data: TrainingData, real: Tensor, generated: Tensor) -> Tensor:
    """``real`` (``data``'s held-out samples, else training ones) beside ``generated``
    as heat maps with ``data``'s parts bounded and named, an RGB image ``(3, H, W)``."""
    fig = heatmap_figure(real.clamp(0, 1), generated, data.factorisation.split, data_labels(data),
                         real_name="held-out" if data.num_samples(TEST) else "training")
    return figure_image(fig)


class ArraySampleWriter(SampleWriter):
    """Samples that are not images: real held-out samples beside generated ones as heat
    maps with the parts bounded (``samples``, ``samples/latest.png``) and, for at most
    :data:`MAX_PAIR_PARTS` parts, a pair plot of the parts against each other, real and
    generated (``samples/pairs``, ``samples/pairs_latest.png``).

    Args:
        n: rows of each heat map (the same fixed noise each time; conditional: the first
            ``n`` test inputs, so real row i and generated row i share their input).
        pair_points: real and generated samples in the pair plot (0: no pair plot).
    """

    def __init__(
        self, run_dir: Path, generator: nn.Module, data: TrainingData, seed: int, n: int = 32,
        pair_points: int = 500,
    ) -> None:
        super().__init__(run_dir, generator, data, seed, n)
        self.real = data.examples(len(self.z)).float()
        split = TEST if data.num_samples(TEST) else TRAIN
        m = min(int(pair_points), data.num_samples(split))
        self.pair_real = data.samples(split, torch.arange(m, device=data.device)).cpu().float() if m >= 2 else None
        self.pair_seed = 20_000 + seed
        self.labels = data_labels(data)
        self.pairs = self.pair_real is not None and 2 <= data.factorisation.num_parts <= MAX_PAIR_PARTS

    def grid(self) -> Tensor:
        """The heat maps, real | generated, as an RGB image ``(3, H, W)``."""
        return heatmap_image(self.data, self.real, self.draw())

    def pair_plot(self) -> Tensor | None:
        """The pair plot as an RGB image ``(3, H, W)``, or None (one part, > 6 parts, no real samples)."""
        if not self.pairs:
            return None
        generated = draw_samples(self.G, self.data, len(self.pair_real), self.pair_seed)
        fig = pair_plot_figure(self.pair_real, generated, self.data.factorisation.split, self.labels)
        return figure_image(fig)

    def write(self, writer: SummaryWriter | None, step: int) -> Path:
        latest = super().write(writer, step)
        image = self.pair_plot()
        if image is not None:
            self.save_image(image, writer, step, name="pairs")
        return latest
