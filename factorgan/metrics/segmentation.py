"""Segmentation metrics on colour maps (paper section 4.3).

Maps stay RGB images. Metrics on the validation set:

- ``mse``: mean squared error between predicted and true maps in RGB space, values in
  [0, 1], averaged over every pixel and channel.
- ``pixel_accuracy`` (percent): every predicted pixel takes the class of the nearest
  colour (Euclidean in RGB) among the 19 evaluated labels; the true map is snapped to the
  nearest colour of *all* labels (JPEG artefacts blur its colours), and pixels whose true
  label is ignored in evaluation do not count. Pooled over all counted pixels.
- ``pixel_accuracy_official`` (percent): as the official FactorGAN code computes it (the
  protocol of the paper's 71.7 / 54.0 / 56.7 %): the same snapping, but every pixel whose
  snapped true colour is the colour of *any* ignored label is left out, which also drops
  car (license plate's colour) and pole (polegroup's colour) pixels; the accuracy of each
  image, then their mean (the official code's mean of batch means, equal for equal batches;
  an image without counted pixels is skipped, where the official code would give NaN).
- ``class_accuracy/<class>`` (percent): the same as ``pixel_accuracy``, restricted to the
  pixels of one true class (recall); classes absent from the validation maps are left out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from factorgan.data.formats.cityscapes_labels import EVAL_LABELS, LABELS, eval_palette, full_palette


def official_counted(colors: Tensor) -> Tensor:
    """``(P,)`` bool: the palette colours the official code counts, those that no ignored
    label has (its mask compares colours, not labels)."""
    ignored = torch.tensor([label.color for label in LABELS if label.ignore_in_eval], dtype=torch.float32) / 255.0
    return ~(colors[:, None, :] == ignored[None]).all(-1).any(-1)


def nearest_color(images: Tensor, colors: Tensor) -> Tensor:
    """Index of the nearest palette colour per pixel: ``(N, 3, H, W)``, ``(P, 3)`` ->
    ``(N, H, W)`` long."""
    # ||x - c||² = ||x||² - 2 x·c + ||c||²; ||x||² is the same for every c.
    dots = torch.einsum("nchw,pc->nphw", images, colors)
    dist = colors.pow(2).sum(1).view(1, -1, 1, 1) - 2 * dots
    return dist.argmin(dim=1)


@dataclass
class SegmentationScores:
    """Running sums over batches of (predicted, true) colour maps."""

    squared_error: float = 0.0
    values: int = 0
    correct: Tensor = field(default_factory=lambda: torch.zeros(len(EVAL_LABELS), dtype=torch.long))
    total: Tensor = field(default_factory=lambda: torch.zeros(len(EVAL_LABELS), dtype=torch.long))
    official_sum: float = 0.0  # sum of per-image official accuracies (fractions)
    official_images: int = 0

    def add(self, pred: Tensor, true: Tensor) -> None:
        """``pred``, ``true``: ``(N, 3, H, W)`` colour maps in [0, 1] (same device)."""
        if pred.shape != true.shape or pred.shape[1] != 3:
            raise ValueError(f"need two (N, 3, H, W) maps of one shape, got {tuple(pred.shape)} and {tuple(true.shape)}")
        self.squared_error += float((pred - true).double().pow(2).sum())
        self.values += pred.numel()
        palette = full_palette()
        pred_class = nearest_color(pred, eval_palette().to(pred))
        true_color = nearest_color(true, palette.colors.to(true))
        true_class = palette.eval_class.to(pred.device)[true_color]
        valid = true_class >= 0  # ignored labels map to -1
        hits = valid & (pred_class == true_class)
        k = len(EVAL_LABELS)
        self.total += torch.bincount(true_class[valid], minlength=k).cpu()
        self.correct += torch.bincount(true_class[hits], minlength=k).cpu()
        counted = official_counted(palette.colors).to(pred.device)[true_color]
        per_image = (counted & hits).sum((1, 2)).double() / counted.sum((1, 2)).double()
        per_image = per_image[counted.flatten(1).any(1)]  # images with nothing counted: skipped
        self.official_sum += float(per_image.sum())  # CPU-GPU sync point, once per batch
        self.official_images += len(per_image)

    def metrics(self) -> dict[str, float]:
        counted = int(self.total.sum())
        out = {
            "mse": self.squared_error / max(self.values, 1),
            "pixel_accuracy": 100.0 * int(self.correct.sum()) / counted if counted else float("nan"),
            "pixel_accuracy_official": (100.0 * self.official_sum / self.official_images
                                        if self.official_images else float("nan")),
        }
        for label, hit, total in zip(EVAL_LABELS, self.correct.tolist(), self.total.tolist()):
            if total:
                out[f"class_accuracy/{label.name}"] = 100.0 * hit / total
        return out
