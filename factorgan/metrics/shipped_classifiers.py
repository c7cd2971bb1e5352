"""MNIST classifiers that ship with the package, so every user scores with the same weights.

``factorgan/metrics/shipped/manifest.json`` lists them: for each, the cache key of the
training digits and settings it was trained on (:func:`factorgan.metrics.mnist_classifier.cache_key`),
its weights file (``.npz``, float32 arrays named as the state dict), the file's SHA-256,
the weights' SHA-256 (:func:`~factorgan.metrics.mnist_classifier.weights_sha256`), and
its accuracy on the embedded test digits. ``scripts/train_mnist_classifier.py`` made them
(and checks them: ``--check``).

A file whose checksum does not match (a damaged install) is not used: the classifier is
trained instead, with a warning, and ``metrics.json`` names the weights it got.
"""
from __future__ import annotations

import hashlib
import io
import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
MANIFEST = "manifest.json"


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest(directory: Path | None = None) -> list[dict[str, Any]]:
    """The shipped classifiers' entries (none when the manifest is missing)."""
    path = (directory or SHIPPED_DIR) / MANIFEST
    return json.loads(path.read_text())["classifiers"] if path.exists() else []


def find(key: str, directory: Path | None = None) -> dict[str, Any] | None:
    """The entry of the classifier trained on the digits and settings of cache ``key``."""
    return next((entry for entry in manifest(directory) if entry["key"] == key), None)


def path(entry: dict[str, Any], directory: Path | None = None) -> Path:
    return (directory or SHIPPED_DIR) / entry["file"]


def load(entry: dict[str, Any], directory: Path | None = None) -> dict[str, Tensor] | None:
    """The entry's state dict, or None (with a warning) when its file is missing or its
    checksum does not match the manifest's."""
    file = path(entry, directory)
    if not file.exists() or file_sha256(file) != entry["file_sha256"]:
        warnings.warn(f"the shipped MNIST classifier {file} is missing or damaged (its SHA-256 is not "
                      f"the manifest's): training it instead; reinstall factorgan to use the shipped "
                      f"weights", stacklevel=2)
        return None
    with np.load(file) as arrays:
        return {name: torch.from_numpy(arrays[name].copy()) for name in arrays.files}


def npz_bytes(state: dict[str, Tensor]) -> bytes:
    """``state`` as an uncompressed ``.npz`` (what ``np.load`` reads) with fixed zip
    timestamps (``np.savez`` stamps the time of writing): the same weights, the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name in sorted(state):
            array = io.BytesIO()
            np.lib.format.write_array(array, state[name].detach().cpu().numpy(), allow_pickle=False)
            zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), array.getvalue())
    return buffer.getvalue()


def save(state: dict[str, Tensor], entry: dict[str, Any], directory: Path | None = None) -> dict[str, Any]:
    """Write ``state`` as ``entry['file']`` and add (or replace, by key) the entry in the
    manifest with the file's checksum; returns the entry as recorded."""
    directory = directory or SHIPPED_DIR
    directory.mkdir(parents=True, exist_ok=True)
    file = directory / entry["file"]
    file.write_bytes(npz_bytes(state))
    entry = {**entry, "file_sha256": file_sha256(file)}
    entries = [e for e in manifest(directory) if e["key"] != entry["key"]] + [entry]
    (directory / MANIFEST).write_text(json.dumps({"classifiers": entries}, indent=2, sort_keys=True) + "\n")
    return entry
