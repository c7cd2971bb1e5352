"""Pictures of vector samples: real beside generated heat maps with the parts bounded and
named, and a pair plot of the parts, real and generated, for a few parts."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from factorgan.data.synthetic import random_parts
from factorgan.samples.arrays import (
    MAX_PAIR_PARTS, ArraySampleWriter, heatmap_figure, pair_plot_figure, part_labels, principal_axes, project,
)
from factorgan.samples.grids import SampleWriter
from factorgan.samples.writers import default_writer
from test_grids import Constant, Images  # the same fakes as the image grids' tests


def vectors(sizes=(4, 4, 4), **kw):
    return random_parts((sum(sizes),), dim=0, sizes=list(sizes), paired=10, n_train=20, n_test=50, **kw)


def test_vectors_get_heat_maps_and_a_pair_plot_in_tensorboard_and_pngs(tmp_path):
    data = vectors()
    writer = default_writer(tmp_path, Constant((12,)), data, seed=0)
    assert isinstance(writer, ArraySampleWriter)
    assert type(default_writer(tmp_path, Constant((1, 8, 8)), random_parts((1, 8, 8), 1, [4, 4], 2, 4, 2), 0)) \
        is SampleWriter  # images keep the image grid
    tb = Images()
    latest = writer.write(tb, step=5)
    assert set(tb.images) == {"samples", "samples/pairs"}
    for tag, png in (("samples", latest), ("samples/pairs", tmp_path / "samples" / "pairs_latest.png")):
        image = tb.images[tag]
        assert image.shape[0] == 3 and min(image.shape[1:]) >= 300  # a readable figure, not a strip
        assert np.asarray(Image.open(png)).shape[:2] == tuple(image.shape[1:])
    assert (tmp_path / "samples" / "pairs_step_0000005.png").exists()
    heat = tb.images["samples"]
    assert heat.std(0).gt(0.05).any()  # colour (viridis), not grey


def test_heat_maps_name_the_parts_and_bound_them():
    data = vectors((3, 5, 2))
    real = data.examples(8)
    fig = heatmap_figure(real, torch.full_like(real, 0.5), data.factorisation.split, part_labels(3))
    real_ax, fake_ax = fig.axes[:2]
    assert "real" in real_ax.get_title() and "generated" in fake_ax.get_title()
    for ax in (real_ax, fake_ax):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["part 0", "part 1", "part 2"]
        edges = sorted(line.get_xdata()[0] for line in ax.get_lines())
        assert edges == [2.5, 7.5]  # white lines between the parts (3 | 5 | 2 values)
        assert ax.get_images()[0].get_array().shape == (8, 10)  # one row per sample, one cell per value
    assert part_labels(2, ["photo", "map"], inputs=1) == ["photo (input)", "map"]


def test_pair_plot_has_a_panel_per_pair_of_parts_and_projects_long_parts(tmp_path):
    data = vectors((1, 4, 4))
    real = data.samples("test", torch.arange(50))
    fig = pair_plot_figure(real, real.flip(0), data.factorisation.split, part_labels(3))
    assert len(fig.axes) == 3 * 3
    assert [ax.get_xlabel() for ax in fig.axes[-3:]] == ["part 0", "part 1 (PC1)", "part 2 (PC1)"]
    assert all(len(ax.collections) == 2 for i, ax in enumerate(fig.axes) if i % 4)  # real and generated points
    parts = data.factorisation.split(real)
    axes = principal_axes(parts)
    assert axes[0][1] is None and axes[1][1].shape == (4,)
    coords = project(parts, axes)
    # the first principal component carries the most variance of any unit direction
    v = parts[1].double().numpy()
    assert coords[:, 1].var() >= ((v - v.mean(0)) @ np.eye(4)).var(0).max() - 1e-9
    many = vectors((1,) * (MAX_PAIR_PARTS + 1))
    assert not ArraySampleWriter(tmp_path, Constant((MAX_PAIR_PARTS + 1,)), many, seed=0).pairs


def test_conditional_rows_share_their_inputs_with_the_real_rows(tmp_path):
    data = vectors((4, 8), input_parts=1)
    writer = ArraySampleWriter(tmp_path, Constant((8,)), data, seed=0, n=6)
    real_in, _ = data.split_inputs(writer.real)
    fake_in, fake_out = data.split_inputs(writer.draw())
    torch.testing.assert_close(fake_in, real_in.clamp(0, 1))  # row i: the same input part
    assert fake_out.eq(0.25).all()
    assert writer.labels == ["part 0 (input)", "part 1"]
    assert writer.pair_plot().shape[0] == 3
