"""PairedMNIST evaluation (paper section 4.1): FID per digit and the dependency metric.

Metrics (names other tools rely on):

- ``fid_top``, ``fid_bottom``: FID between the classifier's FC1 activations (50-d) of the
  generated and the real test top (bottom) digits; ``fid`` is their mean.
- ``dependency``: mean |c_P − c_Q| over the 10×10 digit pairs (:mod:`factorgan.metrics.dependency`),
  real classes from the test labels, generated classes predicted by the classifier.
- ``classes_covered``, ``class_tv``: mode coverage (:mod:`factorgan.metrics.coverage`):
  the digit classes covered by at least 1 % of the generated digits (the fewer of top
  and bottom; 10 for the test split), and the total variation between the generated
  and the test split's class histograms (mean of top and bottom; 0 = the same, 1 =
  disjoint). A collapsed generator shows here when FID and dependency hide it.
- ``classifier_accuracy``: the classifier's accuracy on the test split's digits, in [0, 1].

The classifier (:mod:`factorgan.metrics.mnist_classifier`) is trained on the training split's
digits: the top digits of the training pairs, which are every training digit exactly
once (``make_digit_pairs`` stacks each digit, in a random order, over a partner); the
bottom digits are re-drawn partners and would count some digits twice.

Two protocols (``protocol``), named in the run's config and ``metrics.json``'s settings:

- ``ours`` (default): the classifier trained 20 epochs at lr 1e-3; generated digits scored
  as generated.
- ``official``: what the paper's code did (``training/MNIST.py``, ``eval/FID.py``,
  ``eval/Visualisation.py``): the classifier trained 4 epochs at lr 1e-4, and every
  generated sample saved as an 8-bit PNG (``save_image(normalize=True)``: min-max
  normalised per sample, both digits together) before its FID features are taken
  (:func:`png_round_trip` gives the same pixels without writing files). Real test digits
  and the dependency metric's predictions use the digits as they are, as there.

Every result names the classifier it was scored with (``provenance.classifier`` in
``metrics.json``: version, weights SHA-256, shipped/cached/trained, test accuracy): FIDs
are comparable when those agree.
"""
from __future__ import annotations

import torch

from torch import nn

from factorgan.data.interface import TEST, TRAIN, DatasetError, TrainingData
from factorgan.metrics.coverage import class_coverage
from factorgan.metrics.dependency import dependency_metric
from factorgan.errors import ConfigError
from factorgan.metrics.fid import fid, min_samples
from factorgan.metrics.mnist_classifier import (
    PROTOCOL_SETTINGS, VERSIONS, ClassifierSettings, LoadedClassifier, MNISTClassifier, accuracy, get_classifier,
)
from factorgan.runs.results.metrics_file import EvaluationResult
from factorgan.samples.generate import DEFAULT_SEED, draw_samples

METRICS = ("fid_top", "fid_bottom", "fid", "dependency", "classes_covered", "class_tv", "classifier_accuracy")
FEATURE_DIM = 50  # the classifier's FC1 width (MNISTClassifier.fc1): the FID's feature space
PROTOCOLS = tuple(PROTOCOL_SETTINGS)  # ours, official
# Configs written before the classifier had versions (no classifier_version key) were
# scored with version 1: they keep it, and so the numbers they recorded.
UNVERSIONED = 1
_ANNOUNCED: set[str] = set()  # lines already printed by this process (see announce)


def announce(line: str) -> None:
    """Print ``line`` once per process: the classifier's name and test accuracy are the
    same at every evaluation of a run (during training and at the end), said once."""
    if line not in _ANNOUNCED:
        _ANNOUNCED.add(line)
        print(line)


def png_round_trip(samples: torch.Tensor) -> torch.Tensor:
    """Samples ``(N, C, H, W)`` as the official code scored them: saved one by one with
    torchvision 0.5's ``save_image(sample, normalize=True)`` (min-max over the sample:
    ``(x - min) / (max - min + 1e-5)``; then ``floor(255·x + 0.5)`` as 8 bits) and read
    back with ``imread(...) / 255`` (the three equal RGB channels averaged: exact)."""
    flat = samples.flatten(1)
    low = flat.min(1).values.view(-1, *[1] * (samples.dim() - 1))
    high = flat.max(1).values.view(-1, *[1] * (samples.dim() - 1))
    scaled = (samples - low) / (high - low + 1e-5)
    return scaled.mul(255).add(0.5).clamp(0, 255).to(torch.uint8).float().div(255)


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
        classifier_epochs / classifier_batch_size / classifier_lr: how the classifier is
            trained (None: the protocol's; ours 20 epochs at 1e-3, official 4 at 1e-4,
            batches of 25).
        classifier_seed: its seed.
        classifier_version: its training procedure (2: reproducible, shipped for the
            embedded digits; 1: release 0.1's, for configs written before versions).
        protocol: ``ours`` or ``official`` (see the module docstring).
        progress: show the classifier's progress bar when it is trained.
    """

    def __init__(
        self,
        num_samples: int | None = None,
        seed: int = DEFAULT_SEED,
        cache_dir: str | None = None,
        classifier_epochs: int | None = None,
        classifier_batch_size: int | None = None,
        classifier_lr: float | None = None,
        classifier_seed: int = 0,
        classifier_version: int = UNVERSIONED,
        protocol: str = "ours",
        progress: bool = True,
    ) -> None:
        if num_samples is not None and num_samples < min_samples(FEATURE_DIM):
            # Fewer samples than features: a singular covariance and a meaningless FID.
            raise ConfigError(
                f"evaluation.num_samples={num_samples} is too few: FID needs more samples than feature "
                f"dimensions (the classifier's {FEATURE_DIM}-d features), at least {min_samples(FEATURE_DIM)}; "
                f"or null: the whole test split"
            )
        if protocol not in PROTOCOLS:
            raise ConfigError(f"evaluation.protocol={protocol!r} is not a protocol; use one of "
                              f"{', '.join(PROTOCOLS)}")
        if classifier_version not in VERSIONS:
            raise ConfigError(f"evaluation.classifier_version={classifier_version!r} does not exist; use "
                              f"{max(VERSIONS)} (reproducible, shipped) or 1 (release 0.1's, for old runs)")
        self.num_samples = num_samples
        self.seed = seed
        self.cache_dir = cache_dir
        self.protocol = protocol
        base = PROTOCOL_SETTINGS[protocol]
        try:
            self.settings = ClassifierSettings(
                base.epochs if classifier_epochs is None else classifier_epochs,
                base.batch_size if classifier_batch_size is None else classifier_batch_size,
                base.lr if classifier_lr is None else classifier_lr,
                classifier_seed, classifier_version)
        except ValueError as err:
            raise ConfigError(f"evaluation.classifier_epochs, classifier_batch_size and classifier_lr "
                              f"must be positive: {err}") from err
        self.progress = progress
        self.loaded: LoadedClassifier | None = None  # the last classifier used (its provenance)

    def classifier(self, data: TrainingData) -> MNISTClassifier:
        """The shipped, cached (or freshly trained) classifier for ``data``'s training digits."""
        every = torch.arange(data.num_samples(TRAIN), device=data.device)
        top = digits(data, data.samples(TRAIN, every))[0]  # only the digits the classifier trains on
        self.loaded = get_classifier(top, data.labels(TRAIN)[:, 0].to(top.device),
                                     self.settings, self.cache_dir, self.progress)
        done = {"shipped": "shipped with factorgan", "cached": "cached", "trained": "trained and cached"}
        announce(f"MNIST classifier (version {self.settings.version}, weights {self.loaded.sha256[:12]}): "
                 f"{done[self.loaded.source]}, {self.loaded.path}")
        return self.loaded.model

    def fid_samples(self, samples: torch.Tensor) -> torch.Tensor:
        """Generated samples as the protocol scores their FID (official: 8-bit PNGs)."""
        return png_round_trip(samples) if self.protocol == "official" else samples

    def result(self, metrics: dict[str, float], test_accuracy: float) -> EvaluationResult:
        """``metrics`` naming the classifier they were scored with (``metrics.json``'s
        ``provenance``)."""
        assert self.loaded is not None
        return EvaluationResult(metrics, provenance={"classifier": self.loaded.provenance(test_accuracy)})

    @torch.no_grad()
    def __call__(self, G: nn.Module, data: TrainingData) -> EvaluationResult:
        check_paired_mnist(data)
        model = self.classifier(data)
        device = next(model.parameters()).device
        test = data.samples(TEST, torch.arange(data.num_samples(TEST), device=data.device)).to(device)
        test_labels = data.labels(TEST).to(device)
        test_top, test_bottom = digits(data, test)
        # Every test digit once: the test pairs' top digits (as for the training split).
        acc = accuracy(model, test_top, test_labels[:, 0])
        announce(f"MNIST classifier test accuracy: {acc:.4f} on {len(test_top)} digits")

        n = self.num_samples or len(test)
        m = min(n, len(test))  # real test pairs used: at most the whole split
        fake = draw_samples(G, data, n, self.seed).to(device)
        fake_top, fake_bottom = digits(data, fake)
        scored_top, scored_bottom = digits(data, self.fid_samples(fake))
        metrics = {
            "fid_top": fid(model.extract(scored_top), model.extract(test_top[:m])),
            "fid_bottom": fid(model.extract(scored_bottom), model.extract(test_bottom[:m])),
        }
        metrics["fid"] = (metrics["fid_top"] + metrics["fid_bottom"]) / 2
        fake_labels = torch.stack([model.predict(fake_top), model.predict(fake_bottom)], dim=1)
        metrics["dependency"] = dependency_metric(test_labels[:m], fake_labels)
        metrics.update(class_coverage(fake_labels, test_labels[:m]))
        metrics["classifier_accuracy"] = acc
        return self.result(metrics, acc)
