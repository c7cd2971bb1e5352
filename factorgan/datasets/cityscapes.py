"""Cityscapes scenes and colour segmentation maps in pix2pix's aligned layout.

Layout (the pix2pix ``cityscapes.tar.gz`` archive, 2,975 train / 500 val files)::

    <root>/cityscapes/train/*.jpg    each file: photo | colour map, side by side
    <root>/cityscapes/val/*.jpg

Each half is resized to ``size × size`` and the two are stacked along channels into one
``(6, size, size)`` sample (uint8 pixel codes, read as [0, 1]): channels 0-2 the scene (the generator's input),
3-5 the map (generated). Files are taken in natural name order (``2.jpg`` before
``10.jpg``), so ``paired=N`` means the first N files. Decoded splits are cached as
uint8 next to the data (``<root>/cityscapes/.cache/<split>_<size>px.pt``), keyed by the
file list, sizes and modification times, so only the first load decodes JPEGs.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from factorgan.datasets.base import DatasetError, PairedDataset
from factorgan.factorisation import Factorisation

SPLITS = ("train", "val")
EXTENSIONS = (".jpg", ".jpeg", ".png")
CACHE_DIR = ".cache"


def layout_help(root: Path) -> str:
    return (
        f"Expected the pix2pix aligned layout:\n"
        f"  {root}/cityscapes/train/*.jpg   (photo | colour map side by side)\n"
        f"  {root}/cityscapes/val/*.jpg\n"
        f"Get the real data with:      python scripts/download_cityscapes.py --root {root}\n"
        f"or make a synthetic set with: python scripts/make_synthetic_cityscapes.py --root {root}"
    )


def _natural_key(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_images(root: str | Path, split: str) -> list[Path]:
    """The image files of one split in natural name order; a clear error if none."""
    root = Path(root).expanduser()
    split_dir = root / "cityscapes" / split
    if not split_dir.is_dir():
        raise DatasetError(f"Cityscapes split directory {split_dir} not found.\n{layout_help(root)}")
    files = sorted((p for p in split_dir.iterdir() if p.suffix.lower() in EXTENSIONS), key=_natural_key)
    if not files:
        raise DatasetError(f"{split_dir} holds no .jpg/.png images.\n{layout_help(root)}")
    return files


def decode_pair(path: Path, size: int) -> np.ndarray:
    """One aligned file -> uint8 ``(6, size, size)``: scene channels, then map channels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetError(f"cannot read {path} as an image ({err})") from None
    width, height = img.size
    if width % 2:
        raise DatasetError(
            f"{path} is {width}×{height}: an odd width cannot be cut into a photo and a map "
            "of the same size (aligned files are photo | map, each half as wide)"
        )
    half = width // 2
    halves = [img.crop((0, 0, half, height)), img.crop((half, 0, width, height))]
    # Bicubic with PIL's antialiasing, as pix2pix's loader resizes.
    arrays = [np.asarray(h.resize((size, size), Image.BICUBIC)) for h in halves]
    return np.concatenate(arrays, axis=2).transpose(2, 0, 1).copy()


def _cache_key(files: list[Path], size: int) -> str:
    h = hashlib.sha1(str(size).encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _decode_all(files: list[Path], size: int, desc: str) -> torch.Tensor:
    # PIL releases the GIL while decoding and resizing: threads overlap the JPEG work.
    workers = max(1, min(8, os.cpu_count() or 1))
    out = np.empty((len(files), 6, size, size), dtype=np.uint8)
    with ThreadPoolExecutor(workers) as pool:
        for i, arr in enumerate(tqdm(pool.map(lambda p: decode_pair(p, size), files),
                                     total=len(files), desc=desc, unit="img", mininterval=1.0)):
            out[i] = arr
    return torch.from_numpy(out)


def load_split(root: str | Path, split: str, size: int = 128, cache: bool = True) -> torch.Tensor:
    """All files of ``split`` as uint8 ``(N, 6, size, size)``, from the cache when valid."""
    root = Path(root).expanduser()
    files = list_images(root, split)
    key = _cache_key(files, size)
    path = root / "cityscapes" / CACHE_DIR / f"{split}_{size}px.pt"
    if cache and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved.get("key") == key:
                return saved["images"]
        except Exception as err:  # a truncated or foreign cache file: decode again
            warnings.warn(f"ignoring unreadable cache {path} ({err})")
    images = _decode_all(files, size, desc=f"decode cityscapes/{split}")
    if cache:
        try:
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"key": key, "images": images}, tmp)
            tmp.replace(path)  # atomic: a crash never leaves a half-written cache
        except OSError as err:
            warnings.warn(f"could not write the decode cache {path} ({err}); continuing without it")
    return images


def cityscapes(paired: int, root: str = "data", size: int = 128, cache: bool = True) -> PairedDataset:
    """Cityscapes segmentation as a conditional :class:`PairedDataset`.

    Samples are ``(6, size, size)``: scene (generator input, part 0) | colour map
    (part 1), ``Factorisation(dim=0, sizes=[3, 3])``, ``input_parts=1``. The test set is
    the ``val`` split. ``size`` must be a multiple of 16 for the U-Net.
    """
    if size < 1:
        raise DatasetError(f"dataset.size={size} must be positive")
    # Kept as uint8 (decoded per batch): the 2,975 training pairs at 128 px take 0.29 GB
    # instead of 1.17 GB in float32.
    train = load_split(root, "train", size, cache)
    test = load_split(root, "val", size, cache)
    return PairedDataset(
        train=train,
        test=test,
        factorisation=Factorisation(dim=0, sizes=[3, 3]),
        paired=paired,
        input_parts=1,
        name=f"Cityscapes({Path(root) / 'cityscapes'}, {size}px)",
    )
