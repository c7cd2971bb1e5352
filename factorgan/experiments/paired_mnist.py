"""PairedMNIST evaluation (paper section 4.1): FID per digit and the dependency metric.

Metrics (names other tools rely on):

- ``fid_top``, ``fid_bottom``: FID between the classifier's FC1 activations (50-d) of the
  generated and the real test top (bottom) digits; ``fid`` is their mean.
- ``dependency``: mean |c_P − c_Q| over the 10×10 digit pairs (:mod:`factorgan.metrics.dependency`),
  real classes from the test labels, generated classes predicted by the classifier.
- ``classifier_accuracy``: the classifier's accuracy on the test split's digits, in [0, 1].

The classifier (:mod:`factorgan.metrics.mnist_classifier`) is trained on the training split's
digits: the top digits of the training pairs, which are every training digit exactly
once (``make_digit_pairs`` stacks each digit, in a random order, over a partner); the
bottom digits are re-drawn partners and would count some digits twice.
"""
from __future__ import annotations

import torch

from torch import nn

from factorgan.data.interface import TEST, TRAIN, DatasetError, TrainingData
from factorgan.metrics.dependency import dependency_metric
from factorgan.metrics.fid import fid
from factorgan.metrics.mnist_classifier import ClassifierSettings, MNISTClassifier, accuracy, load_or_train
from factorgan.samples.generate import DEFAULT_SEED, draw_samples

METRICS = ("fid_top", "fid_bottom", "fid", "dependency", "classifier_accuracy")


def digits(data: TrainingData, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Top and bottom digits ``(N, 1, 28, 28)`` of pairs ``(N, 1, 56, 28)`` (the digits,
    whatever factorisation the model trained with: rows, quadrants, ...)."""
    return pairs[:, :, :28], pairs[:, :, 28:]


def check_paired_mnist(data: TrainingData) -> None:
    """PairedMNIST-shaped data with labelled train and test splits, or a clear error."""
    if data.sample_shape != (1, 56, 28):
        raise DatasetError(
            f"PairedMNISTEvaluator needs (1, 56, 28) samples of two stacked digits; "
            f"{data.name} has {data.sample_shape}. Use it with experiment=paired_mnist."
        )
    if data.labels(TRAIN) is None or data.labels(TEST) is None or data.num_samples(TEST) < 2:
        raise DatasetError(
            f"PairedMNISTEvaluator needs the digit classes of a labelled train and test split "
            f"(as PairedMNIST has); {data.name} has none"
        )


class PairedMNISTEvaluator:
    """Callable ``(generator, data) -> {metric: value}`` for PairedMNIST runs.

    Args:
        num_samples: generated samples and test pairs for FID and dependency
            (None: the whole test split, 1,000 pairs for the embedded digits).
        seed: seed of the generated samples' own noise (``python -m factorgan.sample``'s default).
        cache_dir: classifier cache (None: ``$FACTORGAN_CACHE`` or ``~/.cache/factorgan``).
        classifier_epochs / classifier_batch_size / classifier_lr / classifier_seed: how
            the classifier is trained (the paper: 20 epochs).
        progress: show the classifier's progress bar when it is trained.
    """

    def __init__(
        self,
        num_samples: int | None = None,
        seed: int = DEFAULT_SEED,
        cache_dir: str | None = None,
        classifier_epochs: int = 20,
        classifier_batch_size: int = 25,
        classifier_lr: float = 1e-3,
        classifier_seed: int = 0,
        progress: bool = True,
    ) -> None:
        if num_samples is not None and num_samples < 2:
            raise ValueError(f"evaluation.num_samples={num_samples} must be ≥ 2 (or null: the test split)")
        self.num_samples = num_samples
        self.seed = seed
        self.cache_dir = cache_dir
        self.settings = ClassifierSettings(classifier_epochs, classifier_batch_size, classifier_lr, classifier_seed)
        self.progress = progress

    def classifier(self, data: TrainingData) -> MNISTClassifier:
        """The cached (or freshly trained) classifier for ``data``'s training digits."""
        every = torch.arange(data.num_samples(TRAIN), device=data.device)
        top = digits(data, data.samples(TRAIN, every))[0]  # only the digits the classifier trains on
        model, path, hit = load_or_train(top, data.labels(TRAIN)[:, 0].to(top.device),
                                         self.settings, self.cache_dir, self.progress)
        print(f"MNIST classifier: {'cached' if hit else 'trained and cached'} in {path}")
        return model

    @torch.no_grad()
    def __call__(self, G: nn.Module, data: TrainingData) -> dict[str, float]:
        check_paired_mnist(data)
        model = self.classifier(data)
        device = next(model.parameters()).device
        test = data.samples(TEST, torch.arange(data.num_samples(TEST), device=data.device)).to(device)
        test_labels = data.labels(TEST).to(device)
        test_top, test_bottom = digits(data, test)
        # Every test digit once: the test pairs' top digits (as for the training split).
        acc = accuracy(model, test_top, test_labels[:, 0])
        print(f"MNIST classifier test accuracy: {acc:.4f} on {len(test_top)} digits")

        n = self.num_samples or len(test)
        m = min(n, len(test))  # real test pairs used: at most the whole split
        fake = draw_samples(G, data, n, self.seed).to(device)
        fake_top, fake_bottom = digits(data, fake)
        metrics = {
            "fid_top": fid(model.extract(fake_top), model.extract(test_top[:m])),
            "fid_bottom": fid(model.extract(fake_bottom), model.extract(test_bottom[:m])),
        }
        metrics["fid"] = (metrics["fid_top"] + metrics["fid_bottom"]) / 2
        fake_labels = torch.stack([model.predict(fake_top), model.predict(fake_bottom)], dim=1)
        metrics["dependency"] = dependency_metric(test_labels[:m], fake_labels)
        metrics["classifier_accuracy"] = acc
        return metrics
