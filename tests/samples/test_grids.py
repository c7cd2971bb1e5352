"""Readable previews: small samples enlarged by nearest neighbour (big ones left alone),
column headers over grids that compare things, the same image in TensorBoard and PNG."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from factorgan.data.synthetic import random_parts
from factorgan.errors import ConfigError
from factorgan.samples.grids import ComparisonSampleWriter, SampleWriter
from factorgan.samples.images import MAX_GRID_SIDE, column_header, grid_scale, image_grid, upscale_factor

TEXT = 0.75  # header pixels darker than this are text (the strip is white, text black)


class Constant(torch.nn.Module):
    """A generator whose outputs are all ``value`` (conditional when ``conditional``)."""

    noise_dim = 3

    def __init__(self, shape: tuple[int, ...], value: float = 0.25) -> None:
        super().__init__()
        self.shape, self.value = shape, value
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, z, cond=None):
        return torch.full((len(z), *self.shape), self.value) + self.w * 0


class Images:
    """Captures ``add_image`` calls as a TensorBoard writer would receive them."""

    def __init__(self) -> None:
        self.images: dict[str, torch.Tensor] = {}

    def add_image(self, tag, image, step):
        self.images[tag] = image.clone()


def header_rows(grid: torch.Tensor, pad: float = 0.5) -> int:
    """Rows above the grid's first padding row (all ``pad``): the header's height (0 if none)."""
    return int(grid.eq(pad).all(0).all(1).int().argmax())


def test_small_samples_are_enlarged_by_repeating_each_pixel():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 56, 28, generator=g)  # PairedMNIST samples: short side 28 -> 3x (84 px)
    assert upscale_factor(56, 28) == 3
    grid = image_grid(x, nrow=2, padding=2, pad_value=0.5)
    h, w = 3 * 56, 3 * 28
    assert grid.shape == (1, 3 * (h + 2) + 2, 2 * (w + 2) + 2)
    for i in range(5):
        top, left = (i // 2) * (h + 2) + 2, (i % 2) * (w + 2) + 2
        cell = grid[0, top : top + h, left : left + w].numpy()
        np.testing.assert_array_equal(cell, np.kron(x[i, 0].numpy(), np.ones((3, 3), np.float32)))
    assert grid[0, :2].eq(0.5).all() and grid[0, :, w + 2 : w + 4].eq(0.5).all()  # padding stays 2 px


def test_big_samples_are_not_enlarged_and_the_grid_size_is_capped():
    x = torch.rand(2, 3, 256, 256)
    assert upscale_factor(256, 256) == 1 and upscale_factor(64, 128) == 1
    grid = image_grid(x, nrow=2, padding=2)
    assert grid.shape == (3, 256 + 4, 2 * 258 + 2)
    torch.testing.assert_close(grid[:, 2:258, 2:258], x[0], rtol=0, atol=0)
    # tiny samples: at most MAX_SCALE (8) times, and the whole grid within MAX_GRID_SIDE
    assert upscale_factor(2, 2) == 8 and upscale_factor(32, 32) == 2
    assert grid_scale(n=64, h=28, w=28, ncol=8) == 3
    scale = grid_scale(n=2500, h=28, w=28, ncol=50)  # 3x would be 4302 px wide
    assert scale == 2 and 50 * (28 * scale + 2) + 2 <= MAX_GRID_SIDE


def test_header_text_lies_only_above_the_labelled_columns():
    x = torch.rand(6, 3, 32, 32)  # 2 rows of scene | prediction | truth, enlarged 2x
    labelled = image_grid(x, nrow=3, padding=2, pad_value=0.5, labels=["scene", "prediction", "truth"])
    plain = image_grid(x, nrow=3, padding=2, pad_value=0.5)
    top = header_rows(labelled)
    assert top >= 10 and labelled.shape[1:] == (plain.shape[1] + top, plain.shape[2])
    torch.testing.assert_close(labelled[:, top:], plain, rtol=0, atol=0)  # the samples are untouched
    text = labelled[:, :top].min(0).values < TEXT  # (top, width)
    for j in range(3):
        left = 2 + j * 66
        assert text[:, left : left + 64].any(), j  # every column is named
    gaps = torch.ones(labelled.shape[2], dtype=torch.bool)
    for j in range(3):
        gaps[2 + j * 66 + 1 : 2 + j * 66 + 63] = False  # a pixel clear of each column edge
    assert not text[:, gaps].any()  # no text over the padding or the grid's margins


def test_labels_per_part_head_each_half_of_every_column():
    header = column_header(width=2 + 2 * 130, labels=["input", "generated"] * 2, ncol=2, tile_width=128,
                           padding=2, channels=3)
    assert header.shape[0] == 3 and header.shape[2] == 262
    text = header.min(0).values < TEXT
    for column in range(2):
        left = 2 + column * 130
        assert text[:, left : left + 64].any() and text[:, left + 64 : left + 128].any()
        assert not text[:, left + 63 : left + 65].any()  # the halves' labels do not run together
    with pytest.raises(ValueError, match="labels for 2 columns"):
        column_header(100, ["a", "b", "c"], ncol=2, tile_width=40, padding=2)


def test_long_labels_wrap_and_never_leave_their_column():
    header = column_header(width=2 + 3 * 66, labels=["mixture", "accompaniment generated", "vocals true"],
                           ncol=3, tile_width=64, padding=2)
    text = header[0] < TEXT
    assert text[:, 67:131].any()
    assert not text[:, :3].any() and not text[:, 65:69].any() and not text[:, 131:135].any()
    single = column_header(width=2 + 3 * 66, labels=["mixture", "vocals", "drums"], ncol=3, tile_width=64, padding=2)
    assert header.shape[1] > single.shape[1]  # two lines of text for the long label


def test_comparison_grid_has_a_header_and_tensorboard_gets_the_png(tmp_path):
    data = random_parts((6, 8, 8), dim=0, sizes=[3, 3], paired=4, n_train=10, n_test=4, input_parts=1)
    writer = ComparisonSampleWriter(tmp_path, Constant((3, 8, 8)), data, seed=0, n=2,
                                    labels=["scene", "prediction", "truth"])
    tb = Images()
    png = writer.write(tb, step=3)
    img = np.asarray(Image.open(png)).astype(np.float32) / 255
    grid = tb.images["samples"]
    np.testing.assert_allclose(img, grid.permute(1, 2, 0).numpy(), atol=1 / 255 + 1e-6)
    top = header_rows(grid)
    assert top > 0 and grid.shape[1:] == (top + 2 * (64 + 2) + 2, 3 * (64 + 2) + 2)  # 8 px -> 64 px
    pred = grid[:, top + 2 : top + 66, 68:132]
    assert pred.eq(0.25).all()  # the generated column, enlarged
    truth = data.split_inputs(data.examples(2))[1][0]
    torch.testing.assert_close(grid[:, top + 2 : top + 66, 134:198], truth.repeat_interleave(8, 1).repeat_interleave(8, 2))
    assert writer.labels == ["scene", "prediction", "truth"]
    default = ComparisonSampleWriter(tmp_path, Constant((3, 8, 8)), data, seed=0, n=2)
    assert default.labels == ["input", "generated", "real"]
    with pytest.raises(ConfigError, match="three column headers"):
        ComparisonSampleWriter(tmp_path, Constant((3, 8, 8)), data, seed=0, n=2, labels=["a", "b"])


def test_conditional_pairs_are_headed_input_and_generated(tmp_path):
    data = random_parts((6, 8, 8), dim=0, sizes=[3, 3], paired=4, n_train=10, n_test=4, input_parts=1)
    writer = SampleWriter(tmp_path, Constant((3, 8, 8)), data, seed=0, n=4)
    assert writer.part_labels() == ["input", "generated"]
    grid = writer.grid()
    top = header_rows(grid)
    assert top > 0 and grid.shape[2] == 2 * (128 + 2) + 2
    text = grid[:, :top].min(0).values < TEXT
    for left in (2, 132):
        assert text[:, left : left + 64].any() and text[:, left + 64 : left + 128].any()
    data.part_names = ["scene", "map"]  # a dataset that names its parts
    assert writer.part_labels() == ["scene", "map (generated)"]
    unconditional = random_parts((6, 8, 8), dim=0, sizes=[3, 3], paired=4, n_train=10, n_test=4)
    plain = SampleWriter(tmp_path, Constant((6, 8, 8)), unconditional, seed=0, n=4)
    assert plain.part_labels() is None and header_rows(plain.grid()) == 0
    stacked = random_parts((1, 16, 8), dim=1, sizes=[8, 8], paired=4, n_train=10, n_test=4)
    assert SampleWriter(tmp_path, Constant((1, 16, 8)), stacked, seed=0, n=4).part_labels() is None


def test_spectrogram_columns_are_named_after_the_parts():
    from factorgan.samples.spectrograms import SpectrogramSampleWriter

    labels = SpectrogramSampleWriter.column_labels
    writer = SpectrogramSampleWriter.__new__(SpectrogramSampleWriter)
    writer.part_names = ("mixture", "accompaniment", "vocals")
    assert labels(writer, 1, 2) == ["mixture", "accompaniment generated", "vocals generated",
                                    "accompaniment true", "vocals true"]
    assert labels(writer, 1, 1) == ["input 1", "part 1 generated", "part 1 true"]  # names that do not fit


def spectrogram_writer(tmp_path, frames: int = 32):
    from factorgan.samples.spectrograms import SpectrogramSampleWriter

    data = random_parts((3, 256, frames), dim=0, sizes=[1, 1, 1], paired=4, n_train=6, n_test=3, input_parts=1)
    return SpectrogramSampleWriter(tmp_path, Constant((2, 256, frames), value=0.5), data, seed=0, n=2)


def test_spectrogram_grid_has_whole_labels_a_frequency_axis_and_wide_colour_tiles(tmp_path):
    from factorgan.samples.spectrograms import MIN_WIDTH, ROWS_PER_OCTAVE, log_frequency_rows

    writer = spectrogram_writer(tmp_path)
    grid = writer.grid()
    assert grid.shape[0] == 3  # a colour map, not grey
    positions = log_frequency_rows(256)
    assert len(positions) == round(8 * ROWS_PER_OCTAVE) + 1  # 43 Hz .. 11 kHz: 8 octaves, log-spaced
    ratios = positions[1:] / positions[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, ratios[0].item()))
    tile_w = MIN_WIDTH  # 32 frames, each 5 px wide: wide enough for "accompaniment" on one line
    axis = grid.shape[2] - (5 * (tile_w + 2) + 2)
    assert 20 <= axis <= 60  # the Hz axis strip on the left
    top = grid.shape[1] - (2 * (len(positions) + 2) + 2)  # the header above 2 rows of log-frequency tiles
    assert top >= 10
    text = grid[:, :top, axis:].min(0).values < TEXT
    for j in range(5):
        left = 2 + j * (tile_w + 2)
        assert text[:, left : left + tile_w].any(), j
    from PIL import ImageDraw, Image
    from factorgan.samples.images import HEADER_FONT_SIZES, _font
    width = ImageDraw.Draw(Image.new("L", (1, 1))).textlength("accompaniment", font=_font(HEADER_FONT_SIZES[0]))
    assert width <= tile_w - 4  # the whole word, at the largest size: nothing cut
    assert (grid[:, top:, :axis].min(0).values < TEXT).any()  # tick labels beside the rows
    assert (grid[:, top + 2 : top + 2 + len(positions), axis + 2 : axis + 2 + tile_w].std(0) > 0).any()  # colour


def test_spectrogram_clips_fall_back_to_one_snippet_at_one_gain(tmp_path):
    writer = spectrogram_writer(tmp_path)
    clips = writer.clips(0)
    assert list(clips) == ["1_mixture", "2_accompaniment_true", "3_accompaniment_generated", "4_vocals_true",
                           "5_vocals_generated"]
    assert max(float(a.abs().max()) for a in clips.values()) == pytest.approx(0.9, abs=1e-4)
    assert {len(a) for a in clips.values()} == {(32 - 1) * 256}  # data without song order: its one snippet


def test_a_full_disk_stops_the_sample_write_with_a_clear_error_and_no_half_image(tmp_path, monkeypatch):
    """A sample image is written whole or not at all: a write that fails part-way leaves
    the previous latest.png intact and no partial file, and says how to go on."""
    import errno

    from factorgan.errors import WriteFailed
    from factorgan.samples import grids

    data = random_parts((6, 8, 8), dim=0, sizes=[3, 3], paired=4, n_train=10, n_test=4, input_parts=1)
    writer = ComparisonSampleWriter(tmp_path, Constant((3, 8, 8)), data, seed=0, n=2)
    latest = writer.write(None, step=1)
    before = latest.read_bytes()

    def full(image, f):
        f.write(b"\x89PNG half an image")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(grids, "save_png", full)
    with pytest.raises(WriteFailed) as err:
        writer.write(None, step=2)
    message = str(err.value)
    assert "could not write" in message and "step_0000002.png: No space left on device" in message
    assert "MiB free on its disk" in message and "the same command with resume=true" in message
    assert latest.read_bytes() == before and Image.open(latest).size  # the step-1 image, whole
    assert sorted(p.name for p in writer.dir.iterdir()) == ["latest.png", "step_0000001.png"]  # no partial file
