"""Segmentation metrics on colour maps: MSE, pixel accuracy (nearest colours, ignored
labels excluded), per-class accuracy, and the evaluator on a trainer."""
from __future__ import annotations


import pytest
import torch
from torch import nn

from factorgan.data.in_memory import InMemoryData
from factorgan.data.formats.cityscapes_labels import LABELS
from factorgan.method.factorisation import Factorisation
from factorgan.evaluators.segmentation import CityscapesEvaluator
from factorgan.metrics.segmentation import SegmentationScores, nearest_color

COLOR = {label.name: torch.tensor(label.color, dtype=torch.float32) / 255.0 for label in LABELS}


def segmentation_metrics(pred, true) -> dict[str, float]:
    """The metrics of one batch of predicted and true maps, as the evaluator accumulates them."""
    scores = SegmentationScores()
    scores.add(pred, true)
    return scores.metrics()


def paint(names: list[list[str]]) -> torch.Tensor:
    """A (1, 3, H, W) colour map from a grid of label names."""
    return torch.stack([torch.stack([COLOR[n] for n in row], dim=1) for row in names], dim=1).unsqueeze(0)


def street(h: int = 4, w: int = 8) -> list[list[str]]:
    """Top half sky, bottom half road; one car pixel."""
    grid = [["sky"] * w for _ in range(h // 2)] + [["road"] * w for _ in range(h - h // 2)]
    grid[-1][0] = "car"
    return grid


def test_perfect_prediction_scores_100_and_mse_0():
    true = paint(street())
    m = segmentation_metrics(true.clone(), true)
    assert m["mse"] == 0.0 and m["pixel_accuracy"] == 100.0
    assert {k: v for k, v in m.items() if k.startswith("class_accuracy/")} == {
        "class_accuracy/sky": 100.0, "class_accuracy/road": 100.0, "class_accuracy/car": 100.0}


def test_colour_swap_lowers_accuracy_by_the_swapped_fraction():
    grid = street()  # 32 pixels: 16 sky, 15 road, 1 car
    true = paint(grid)
    swapped = [["sidewalk" if n == "road" else n for n in row] for row in grid]
    pred = paint(swapped)
    m = segmentation_metrics(pred, true)
    assert m["pixel_accuracy"] == pytest.approx(100.0 * 17 / 32)
    assert m["class_accuracy/road"] == 0.0 and m["class_accuracy/sky"] == 100.0 and m["class_accuracy/car"] == 100.0
    diff = ((COLOR["sidewalk"] - COLOR["road"]) ** 2).sum()
    assert m["mse"] == pytest.approx(float(diff) * 15 / (32 * 3), rel=1e-6)


def test_ignored_true_labels_do_not_count():
    grid = street()
    true_plain = paint(grid)
    pred = paint([["sidewalk" if n == "road" else n for n in row] for row in grid])
    base = segmentation_metrics(pred, true_plain)["pixel_accuracy"]
    # make the first 8 sky pixels "unlabeled" (black) and 4 road pixels "parking" in the
    # truth: ignored, whatever is predicted there
    grid[0] = ["unlabeled"] * 8
    grid[-1][4:8] = ["parking"] * 4
    m = segmentation_metrics(pred, paint(grid))
    # counted: 8 sky (right), 11 road (wrong), 1 car (right) -> 9 / 20
    assert m["pixel_accuracy"] == pytest.approx(100.0 * 9 / 20)
    assert m["pixel_accuracy"] != pytest.approx(base)
    scores = SegmentationScores()
    scores.add(pred, paint(grid))
    assert int(scores.total.sum()) == 20


def test_shared_colours_count_as_the_evaluated_label():
    """Car and pole colours are also licence plate / polegroup colours: they still count."""
    true = paint([["car", "pole"]])
    assert segmentation_metrics(true, true)["pixel_accuracy"] == 100.0


def test_noisy_colours_snap_to_the_nearest_label():
    torch.manual_seed(0)
    true = paint(street(8, 8))
    noisy_truth = (true + 0.03 * torch.randn_like(true)).clamp(0, 1)  # JPEG-like artefacts
    noisy_pred = (true + 0.03 * torch.randn_like(true)).clamp(0, 1)
    m = segmentation_metrics(noisy_pred, noisy_truth)
    assert m["pixel_accuracy"] == 100.0 and 0.0 < m["mse"] < 0.01
    idx = nearest_color(torch.tensor([[0.99, 0.01, 0.0], [0.27, 0.51, 0.70]]).T.reshape(1, 3, 1, 2),
                        torch.stack([COLOR["rider"], COLOR["sky"]]))
    assert idx.tolist() == [[[0, 1]]]


def test_scores_accumulate_over_batches_like_one_batch():
    torch.manual_seed(1)
    true = torch.cat([paint(street()) for _ in range(4)])
    pred = (true + 0.3 * torch.randn_like(true)).clamp(0, 1)
    scores = SegmentationScores()
    scores.add(pred[:1], true[:1])
    scores.add(pred[1:], true[1:])
    whole = segmentation_metrics(pred, true)
    for k, v in scores.metrics().items():
        assert v == pytest.approx(whole[k], rel=1e-9), k


class CopyInput(nn.Module):
    """A 'generator' that outputs its input plus a noise-controlled error."""

    noise_dim = 3

    def __init__(self, error: float = 0.0) -> None:
        super().__init__()
        self.error = error
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, z, cond):
        return (cond + self.error * z[:, :1, None, None]).clamp(0, 1)


@pytest.mark.parametrize("batch_size", [2, 5])
def test_evaluator_scores_the_generator_on_the_test_split(batch_size):
    maps = torch.cat([paint(street()) for _ in range(5)])
    samples = torch.cat([maps, maps], dim=1)  # scene == map: copying the input is perfect
    data = InMemoryData(samples, samples.clone(), Factorisation(0, [3, 3]), paired=2, input_parts=1)
    G = CopyInput()
    G.train()
    m = CityscapesEvaluator(batch_size=batch_size, progress=False)(G, data)
    assert m["mse"] == 0.0 and m["pixel_accuracy"] == 100.0
    assert G.training  # the generator's mode is restored
    noisy = CityscapesEvaluator(batch_size=batch_size, progress=False)(
        CopyInput(error=0.5), data)
    assert noisy["mse"] > 0.0 and noisy["pixel_accuracy"] < 100.0


def test_official_accuracy_masks_car_and_pole_and_averages_images():
    """pixel_accuracy_official: car (license plate's colour) and pole (polegroup's) pixels
    never count, and each image weighs the same whatever its counted pixels."""
    a = [["road", "car"], ["pole", "sky"]]
    b = [["road", "road"], ["road", "road"]]
    true = torch.cat([paint(a), paint(b)])
    pred = torch.cat([paint([["road", "sky"], ["sky", "sky"]]),  # car and pole wrong
                      paint([["road", "sidewalk"], ["sidewalk", "sidewalk"]])])  # 1 of 4 right
    m = segmentation_metrics(pred, true)
    # official: image a counts road and sky (2 of 2 right), image b 1 of 4 -> mean(100, 25)
    assert m["pixel_accuracy_official"] == pytest.approx(62.5)
    # pooled: 8 counted pixels (car and pole included), 3 right
    assert m["pixel_accuracy"] == pytest.approx(100.0 * 3 / 8)
    # batches add up to the same per-image mean
    scores = SegmentationScores()
    scores.add(pred[:1], true[:1])
    scores.add(pred[1:], true[1:])
    assert scores.metrics()["pixel_accuracy_official"] == pytest.approx(62.5)


def test_official_accuracy_skips_an_image_with_nothing_counted():
    true = torch.cat([paint([["car", "pole"]]), paint([["road", "sky"]])])
    pred = torch.cat([paint([["car", "pole"]]), paint([["road", "road"]])])
    assert segmentation_metrics(pred, true)["pixel_accuracy_official"] == pytest.approx(50.0)
