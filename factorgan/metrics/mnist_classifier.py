"""The paper's MNIST classifier (Table 3), trained once per training set and cached.

Its FC1 activations (50-d) are the feature space of the PairedMNIST FID, and its
predictions give the classes of generated digits for the dependency metric.

The classifier is the same for every user (FID is only comparable between runs scored
by one classifier):

- version 2 (:data:`VERSION`) trains on the CPU on one thread with deterministic
  algorithms, and draws its initial weights, batches and dropout masks from its own seeded
  ``torch.Generator``: the same weights whatever the machine's thread count.
- For the embedded digits the weights ship with the package
  (:mod:`factorgan.metrics.shipped_classifiers`, made by
  ``scripts/train_mnist_classifier.py``): used when the training digits and settings are
  the ones they were trained on, so CPU model differences cannot change them either.
- Version 1 (release 0.1.0, and later runs made before version 2) trained on the training
  device with the default thread count (weights, and so FIDs, varied with both); it is
  kept, unchanged, for runs scored with it (their config has no ``classifier_version``).

Otherwise the classifier is trained once and cached, keyed by a hash of the training
digits and labels (in a canonical order, so the same digits paired differently share one
classifier) plus the version and training settings. The cache directory is, in order: the
``cache_dir`` argument, the environment variable ``FACTORGAN_CACHE``, ``~/.cache/factorgan``.
A classifier is named by the SHA-256 of its weights (:func:`weights_sha256`), which
``metrics.json`` records with every PairedMNIST result.
"""
from __future__ import annotations

import contextlib
import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from factorgan.cache import CACHE_ENV, cache_folder  # noqa: F401 (CACHE_ENV: here as before)
from factorgan.metrics import shipped_classifiers
from factorgan.runs import checkpoint

# Bump when the architecture or training procedure changes: old cache files are ignored.
# 1: release 0.1's (device- and thread-dependent); 2: one CPU thread, own generator.
VERSION = 2
VERSIONS = (1, 2)
DROPOUT = 0.5


class MNISTClassifier(nn.Module):
    """Table 3: conv 5×5 (10) → avg-pool 2 → LeakyReLU → conv 5×5 (20) → avg-pool 2 →
    LeakyReLU → FC1 320→50, LeakyReLU, dropout 0.5 → FC2 50→10.

    The table lists 'same' output sizes (28×28) but 12×12 / 4×4 after pooling, which only
    unpadded convolutions give (28→24→12→8→4; 4·4·20 = 320 FC1 inputs); we follow the
    sizes that add up.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def features(self, x: Tensor) -> Tensor:
        """FC1 activations (after LeakyReLU, before dropout): ``(N, 1, 28, 28)`` -> ``(N, 50)``."""
        h = F.leaky_relu(F.avg_pool2d(self.conv1(x), 2))
        h = F.leaky_relu(F.avg_pool2d(self.conv2(h), 2))
        return F.leaky_relu(self.fc1(h.flatten(1)))

    def forward(self, x: Tensor, rng: torch.Generator | None = None) -> Tensor:
        """Class logits ``(N, 10)`` for digits ``(N, 1, 28, 28)`` in [0, 1]; in training
        mode the dropout masks come from ``rng`` (None: the global RNG, version 1)."""
        h = self.features(x)
        if self.training and rng is not None:
            keep = torch.rand(h.shape, generator=rng, device=h.device) >= DROPOUT
            h = h * keep / (1 - DROPOUT)
        else:
            h = F.dropout(h, p=DROPOUT, training=self.training)
        return self.fc2(h)

    @torch.no_grad()
    def reset_parameters(self, rng: torch.Generator) -> None:
        """PyTorch's default initialisation of every layer (weights and biases uniform in
        ±1/sqrt(fan_in), which is what ``kaiming_uniform_(a=√5)`` gives), drawn from
        ``rng`` instead of the global RNG."""
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):
            bound = 1 / math.sqrt(layer.weight[0].numel())
            layer.weight.uniform_(-bound, bound, generator=rng)
            layer.bias.uniform_(-bound, bound, generator=rng)

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 1000) -> Tensor:
        """Predicted classes ``(N,)`` (eval mode, in batches, on one thread, on the model's
        device)."""
        x = x.to(self.fc1.weight.device)
        with single_thread():
            return torch.cat([self(b).argmax(1) for b in x.split(batch_size)])

    @torch.no_grad()
    def extract(self, x: Tensor, batch_size: int = 1000) -> Tensor:
        """FC1 features ``(N, 50)`` (in batches, on one thread: the same features whatever
        the thread count, on the model's device)."""
        x = x.to(self.fc1.weight.device)
        with single_thread():
            return torch.cat([self.features(b) for b in x.split(batch_size)])


@dataclass(frozen=True)
class ClassifierSettings:
    """How the classifier is trained: Adam, cross-entropy, the paper's 20 epochs.

    The paper gives no learning rate; the official code used 1e-4 on 60,000 digits. On the
    4,000 embedded digits 20 epochs at 1e-4 fall short of 1e-3's test accuracy
    (docs/experiments/paired_mnist.md), so 1e-3 (Adam's default) it is.
    """

    epochs: int = 20
    batch_size: int = 25
    lr: float = 1e-3
    seed: int = 0
    version: int = VERSION  # the training procedure (:data:`VERSIONS`)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"classifier settings must be positive: {self}")
        if self.version not in VERSIONS:
            raise ValueError(f"classifier version {self.version} does not exist; use one of {VERSIONS}")

    def training(self) -> dict[str, Any]:
        """The settings without the version (as cache keys and manifests name them)."""
        return {k: v for k, v in asdict(self).items() if k != "version"}


# The classifier of each evaluation protocol (PairedMNISTEvaluator's ``protocol``): ours,
# and the official code's (training/MNIST.py: 4 epochs of Adam at 1e-4, batches of 25).
PROTOCOL_SETTINGS: dict[str, ClassifierSettings] = {
    "ours": ClassifierSettings(),
    "official": ClassifierSettings(epochs=4, lr=1e-4),
}


def to_uint8(images: Tensor) -> np.ndarray:
    """Digits in [0, 1] ``(N, 1, 28, 28)`` -> uint8 ``(N, 28, 28)`` (exact for MNIST pixels)."""
    return images.detach().reshape(-1, 28, 28).mul(255).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


def canonical_order(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indices sorting the digits by (label, pixels): the order of a set of digits."""
    rows = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    rows = np.ascontiguousarray(rows)
    # One opaque byte string per digit: numpy compares these bytewise (label byte first).
    return np.argsort(rows.view(np.dtype((np.void, rows.shape[1]))).ravel(), kind="stable")


def cache_key(images: np.ndarray, labels: np.ndarray, settings: ClassifierSettings) -> str:
    """Hex digest of (version, settings, digits, labels); digits in canonical order."""
    h = hashlib.sha256()
    # Version 1's keys had no version field: its cache files stay valid.
    h.update(repr((settings.version, sorted(settings.training().items()))).encode())
    h.update(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:20]


@contextlib.contextmanager
def single_thread(deterministic: bool = False) -> Iterator[None]:
    """One CPU thread for the duration (restored after): every float sum then runs in one
    order, whatever the machine's thread count. ``deterministic``: also PyTorch's
    deterministic algorithms (for CPU work only: on CUDA they refuse cuBLAS without
    ``CUBLAS_WORKSPACE_CONFIG``, and a version-1 classifier may sit on the GPU)."""
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


def train_classifier(
    images: Tensor, labels: Tensor, settings: ClassifierSettings, progress: bool = True
) -> MNISTClassifier:
    """Train a fresh classifier on digits ``(N, 1, 28, 28)`` with labels ``(N,)`` (in
    eval mode; version 2 on the CPU, version 1 on ``images.device``)."""
    if settings.version == 1:
        return _train_v1(images, labels, settings, progress)
    images, labels = images.detach().cpu().float(), labels.detach().cpu()
    # Gradients on even when called under no_grad (e.g. from an evaluator).
    with single_thread(deterministic=True), torch.enable_grad():
        rng = torch.Generator().manual_seed(settings.seed)  # init, batches and dropout
        with torch.random.fork_rng(devices=[]):  # construction's own init must not move the caller's RNG
            model = MNISTClassifier()
        model.reset_parameters(rng)
        opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
        model.train()
        _fit(model, opt, images, labels, settings, rng, progress, dropout_rng=rng)
    return model.eval()


def _train_v1(images: Tensor, labels: Tensor, settings: ClassifierSettings, progress: bool) -> MNISTClassifier:
    """Version 1, unchanged: on the training device with the default thread count (its
    weights depend on both), initialised and dropped out from the seeded global RNG."""
    device = images.device
    cuda = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda), torch.enable_grad():
        torch.manual_seed(settings.seed)
        model = MNISTClassifier().to(device)
        rng = torch.Generator(device).manual_seed(settings.seed)
        opt = torch.optim.Adam(model.parameters(), lr=settings.lr)
        model.train()
        _fit(model, opt, images, labels.to(device), settings, rng, progress, dropout_rng=None)
    return model.eval()


def _fit(model: MNISTClassifier, opt: torch.optim.Optimizer, images: Tensor, labels: Tensor,
         settings: ClassifierSettings, rng: torch.Generator, progress: bool,
         dropout_rng: torch.Generator | None) -> None:
    """Cross-entropy epochs over batches in an order drawn from ``rng``."""
    n = len(images)
    steps = settings.epochs * -(-n // settings.batch_size)
    with tqdm(total=steps, desc="MNIST classifier", unit="step", disable=not progress,
              mininterval=1.0, dynamic_ncols=True) as bar:
        for _ in range(settings.epochs):
            for idx in torch.randperm(n, generator=rng, device=images.device).split(settings.batch_size):
                loss = F.cross_entropy(model(images[idx], dropout_rng), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")


def accuracy(model: MNISTClassifier, images: Tensor, labels: Tensor) -> float:
    """Fraction of ``images`` ``(N, 1, 28, 28)`` classified as ``labels`` ``(N,)``."""
    model.eval()
    return float((model.predict(images).cpu() == labels.cpu()).float().mean())


def weights_sha256(model: MNISTClassifier | dict[str, Tensor]) -> str:
    """The classifier's name: SHA-256 of its weights (names, dtypes, shapes and bytes, in
    name order), the same for a shipped, cached or freshly trained copy."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


@dataclass
class LoadedClassifier:
    """A classifier and where it came from.

    Attributes:
        model: in eval mode (on the CPU; version 1's cache files on the training device).
        source: ``shipped`` (with the package), ``cached`` (trained before, from the
            cache) or ``trained`` (now, and cached).
        path: the file it was read from or written to.
        sha256: :func:`weights_sha256`.
    """

    model: MNISTClassifier
    settings: ClassifierSettings
    source: str
    path: Path
    sha256: str
    train_seconds: float | None = field(default=None)

    def provenance(self, test_accuracy: float | None = None) -> dict[str, Any]:
        """What ``metrics.json`` records about the classifier (two results are comparable
        when their ``sha256`` agree)."""
        out: dict[str, Any] = {"name": "mnist_classifier", "version": self.settings.version,
                               "sha256": self.sha256, "source": self.source, **self.settings.training()}
        if test_accuracy is not None:
            out["test_accuracy"] = float(test_accuracy)
        return out


def classifier_key(images: Tensor, labels: Tensor, settings: ClassifierSettings) -> tuple[str, np.ndarray]:
    """(cache key, canonical order) of training digits ``(N, 1, 28, 28)`` and labels ``(N,)``."""
    pixels, classes = to_uint8(images), labels.detach().cpu().numpy().astype(np.int64)
    order = canonical_order(pixels, classes)
    return cache_key(pixels[order], classes[order], settings), order


def get_classifier(
    images: Tensor,
    labels: Tensor,
    settings: ClassifierSettings = ClassifierSettings(),
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> LoadedClassifier:
    """The classifier for these training digits: shipped, from the cache, or trained and cached.

    Args:
        images: training digits ``(N, 1, 28, 28)`` in [0, 1].
        labels: their classes ``(N,)``.
    """
    key, order = classifier_key(images, labels, settings)
    device = images.device if settings.version == 1 else torch.device("cpu")
    shipped = shipped_classifiers.find(key)
    if shipped is not None:
        state = shipped_classifiers.load(shipped)
        if state is not None:
            return LoadedClassifier(_from_state(state, device), settings, "shipped",
                                    shipped_classifiers.path(shipped), weights_sha256(state))
    path = cache_folder(cache_dir) / "mnist_classifier" / f"{key}.pt"
    if path.exists():
        state = checkpoint.load(path, map_location=device)["state_dict"]
        return LoadedClassifier(_from_state(state, device), settings, "cached", path, weights_sha256(state))
    print(f"Training the MNIST classifier (version {settings.version}) on {len(images)} digits "
          f"({settings.epochs} epochs); it is cached in {path}")
    idx = torch.from_numpy(order).to(images.device)
    start = time.perf_counter()
    model = train_classifier(images[idx], labels.to(images.device)[idx], settings, progress)
    seconds = time.perf_counter() - start
    sha = weights_sha256(model)
    checkpoint.save_atomic(
        {"state_dict": model.state_dict(), "settings": settings.training(), "num_train": len(images),
         "train_seconds": seconds, "version": settings.version, "sha256": sha},
        path,
    )
    return LoadedClassifier(model, settings, "trained", path, sha, seconds)


def _from_state(state: dict[str, Tensor], device: torch.device) -> MNISTClassifier:
    with torch.random.fork_rng(devices=[]):  # the weights are replaced: keep the RNG stream
        model = MNISTClassifier().to(device)
    model.load_state_dict(state)
    return model.eval()
