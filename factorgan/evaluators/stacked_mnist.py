"""StackedMNIST evaluation (``experiment=triple_mnist``): FID per digit position and the
generalised dependency metrics, for K ≥ 2 stacked digits.

Metrics (for K digits, top first):

- ``fid_1`` … ``fid_K``: FID between the classifier's FC1 activations (50-d) of the
  generated and the real test digits at that position; ``fid`` is their mean.
- ``dependency``: the 2-digit dependency metric averaged over every digit pair
  (:func:`factorgan.metrics.dependency.dependency_metric`); real classes from the test
  labels, generated classes predicted by the classifier.
- ``dependency_joint``: mean |c_P − c_Q| over all 10^K class tuples
  (:func:`factorgan.metrics.dependency.joint_dependency_metric`): sees dependencies of
  more than two digits, but is noisier.
- ``classes_covered``, ``class_tv``: mode coverage (:mod:`factorgan.metrics.coverage`):
  the classes the least-covered digit position covers, the mean histogram distance.
- ``classifier_accuracy``: the classifier's accuracy on the test split's top digits.

The classifier is PairedMNIST's (:class:`~factorgan.evaluators.paired_mnist.PairedMNISTEvaluator`
trains and caches it): trained on the top digits of the training stacks, which are every
training digit exactly once, so a StackedMNIST run and a PairedMNIST run on the same
digits share one cached classifier (the cache is keyed by the set of training digits).
At K = 2 the metrics are PairedMNIST's under other names: ``fid_1`` = ``fid_top``,
``fid_2`` = ``fid_bottom``.
"""
from __future__ import annotations

import torch
from torch import nn

from factorgan.data.interface import TEST, TRAIN, DatasetError, TrainingData
from factorgan.evaluators.paired_mnist import PairedMNISTEvaluator, announce
from factorgan.metrics.coverage import class_coverage
from factorgan.metrics.dependency import dependency_metric, joint_dependency_metric
from factorgan.metrics.fid import fid
from factorgan.metrics.mnist_classifier import accuracy
from factorgan.runs.results.metrics_file import EvaluationResult
from factorgan.samples.generate import draw_samples

DIGIT = 28


def metric_names(num_digits: int) -> tuple[str, ...]:
    """The evaluator's metrics, in the order it returns them, for ``num_digits`` digits."""
    return (*(f"fid_{k + 1}" for k in range(num_digits)), "fid", "dependency", "dependency_joint",
            "classes_covered", "class_tv", "classifier_accuracy")


def stacked_digits(stacks: torch.Tensor) -> list[torch.Tensor]:
    """The K digits ``(N, 1, 28, 28)`` of stacks ``(N, 1, 28·K, 28)``, top first: cut by
    rows whatever factorisation the model trained with (rows, quadrants, ...)."""
    return list(stacks.split(DIGIT, dim=2))


def check_stacked_mnist(data: TrainingData) -> int:
    """K for StackedMNIST-shaped data (``(1, 28·K, 28)`` samples, K ≥ 2, with labelled
    ``(N, K)`` train and test splits), or a clear error."""
    shape = data.sample_shape
    k = shape[1] // DIGIT if len(shape) == 3 else 0
    if len(shape) != 3 or k < 2 or shape != (1, DIGIT * k, DIGIT):
        raise DatasetError(
            f"StackedMNISTEvaluator needs (1, 28·K, 28) samples of K ≥ 2 stacked digits; "
            f"{data.name} has {shape}. Use it with experiment=triple_mnist."
        )
    labels = [data.labels(split) for split in (TRAIN, TEST)]
    if any(l is None or l.ndim != 2 or l.shape[1] != k for l in labels) or data.num_samples(TEST) < 2:
        raise DatasetError(
            f"StackedMNISTEvaluator needs the digit classes (N, {k}) of a labelled train and test "
            f"split (as StackedMNIST has); {data.name} has none"
        )
    return k


class StackedMNISTEvaluator(PairedMNISTEvaluator):
    """Callable ``(generator, data) -> {metric: value}`` for StackedMNIST runs (any K ≥ 2).

    Takes PairedMNISTEvaluator's options (num_samples, seed, cache_dir, classifier_epochs,
    classifier_batch_size, classifier_lr, classifier_seed, classifier_version, protocol,
    progress) and its classifier; the official protocol's PNG round trip takes each whole
    stack, as it would have been saved.
    """

    @torch.no_grad()
    def __call__(self, G: nn.Module, data: TrainingData) -> EvaluationResult:
        k = check_stacked_mnist(data)
        model = self.classifier(data)  # trained on the training stacks' top digits
        device = next(model.parameters()).device
        test = data.samples(TEST, torch.arange(data.num_samples(TEST), device=data.device)).to(device)
        test_labels = data.labels(TEST).to(device)
        test_digits = stacked_digits(test)  # K × (M, 1, 28, 28)
        # Every test digit once: the test stacks' top digits (the rest are re-drawn).
        acc = accuracy(model, test_digits[0], test_labels[:, 0])
        announce(f"MNIST classifier test accuracy: {acc:.4f} on {len(test)} digits")

        n = self.num_samples or len(test)
        m = min(n, len(test))  # real test stacks used: at most the whole split
        fake = draw_samples(G, data, n, self.seed).to(device)
        fake_digits, scored_digits = stacked_digits(fake), stacked_digits(self.fid_samples(fake))
        metrics = {
            f"fid_{i + 1}": fid(model.extract(scored), model.extract(real[:m]))
            for i, (scored, real) in enumerate(zip(scored_digits, test_digits))
        }
        metrics["fid"] = sum(metrics.values()) / k
        fake_labels = torch.stack([model.predict(fake) for fake in fake_digits], dim=1)  # (n, K)
        metrics["dependency"] = dependency_metric(test_labels[:m], fake_labels)
        metrics["dependency_joint"] = joint_dependency_metric(test_labels[:m], fake_labels)
        metrics.update(class_coverage(fake_labels, test_labels[:m]))  # mode collapse, said
        metrics["classifier_accuracy"] = acc
        return self.result(metrics, acc)
