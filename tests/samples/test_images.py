"""Sample previews: the grid layout, PNG files, wide-channel images."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from factorgan.method.factorisation import Factorisation
from factorgan.samples.images import displayable, image_grid, save_png


def test_grid_places_each_image_with_padding_between():
    images = torch.arange(1, 6).float().view(5, 1, 1, 1).expand(5, 1, 3, 2) / 10  # 5 flat images
    grid = image_grid(images, nrow=2, padding=1, pad_value=0.5, scale=1)  # as they are
    assert grid.shape == (1, 3 * (3 + 1) + 1, 2 * (2 + 1) + 1)
    for i in range(5):
        top, left = (i // 2) * 4 + 1, (i % 2) * 3 + 1
        torch.testing.assert_close(grid[:, top : top + 3, left : left + 2], images[i])
    assert grid[0, 0].eq(0.5).all() and grid[0, :, 0].eq(0.5).all()  # borders
    assert grid[0, 9:12, 4:6].eq(0.5).all()  # the sixth cell stays empty
    with pytest.raises(ValueError, match="N, C, H, W"):
        image_grid(images[0])


def test_png_round_trip_grey_and_rgb(tmp_path):
    g = torch.Generator().manual_seed(0)
    for c in (1, 3):
        img = torch.randint(256, (c, 5, 7), generator=g).float() / 255
        path = save_png(img, tmp_path / f"c{c}.png")
        back = np.asarray(Image.open(path))
        want = (img * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        np.testing.assert_array_equal(back.reshape(want.shape), want)
    with pytest.raises(ValueError, match="1\\|3"):
        save_png(torch.zeros(6, 4, 4), tmp_path / "bad.png")


def test_six_channel_samples_show_as_two_rgb_images_side_by_side():
    x = torch.rand(2, 6, 4, 5)
    d = displayable(x)
    assert d.shape == (2, 3, 4, 10)
    torch.testing.assert_close(d[..., :5], x[:, :3])
    torch.testing.assert_close(d[..., 5:], x[:, 3:])
    assert displayable(x[:, :1]) is not None and displayable(x[:, :1]).shape == (2, 1, 4, 5)


def test_channel_groups_show_a_grey_part_next_to_a_colour_part():
    x = torch.rand(2, 4, 4, 5)  # edge map (1 channel) | photo (3)
    d = displayable(x, Factorisation(dim=0, sizes=[1, 3]).display_groups())
    assert d.shape == (2, 3, 4, 10)
    for c in range(3):
        torch.testing.assert_close(d[:, c, :, :5], x[:, 0])  # grey repeated into R, G, B
    torch.testing.assert_close(d[..., 5:], x[:, 1:])
    assert Factorisation(dim=1, sizes=[28, 28]).display_groups() is None  # rows, not channels: shown as is
    torch.testing.assert_close(displayable(x[:, :1], None), x[:, :1])


def test_sample_writer_handles_six_channel_samples(tmp_path):
    from factorgan.data.synthetic import random_parts
    from factorgan.samples.grids import SampleWriter

    data = random_parts((6, 8, 8), dim=0, sizes=[3, 3], paired=4, n_train=10, n_test=4, uint8=True)

    class Constant(torch.nn.Module):
        noise_dim = 3

        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, z):
            return torch.full((len(z), 6, 8, 8), 0.25) + self.w * 0

    writer = SampleWriter(tmp_path, Constant(), data, seed=0, n=4)
    png = writer.write(None, step=1)
    img = np.asarray(Image.open(png))
    assert img.ndim == 3 and img.shape[2] == 3  # RGB, groups side by side
    # 8x8 pairs enlarged 8 times (short side 64): two columns of 64x128 pairs, no header
    # (unconditional parts without names)
    assert img.shape[:2] == (2 * (64 + 2) + 2, 2 * (128 + 2) + 2)
    assert (img[2:66, 2:130] == 64).all()  # 0.25 -> 64 across the whole enlarged pair
