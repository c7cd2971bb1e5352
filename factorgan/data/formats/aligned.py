"""Image pairs in pix2pix's aligned layout, the on-disk format of its Cityscapes and
Edges2Shoes archives::

    <root>/<name>/train/*.jpg    each file: image A | image B, side by side
    <root>/<name>/val/*.jpg

Each half is resized to ``size × size`` (bicubic, as pix2pix's loader) and the two are
stacked along channels into one uint8 sample ``(C_A + C_B, size, size)`` (pixel codes,
read as [0, 1]); a half read in PIL mode ``"L"`` has one channel, ``"RGB"`` three. Files
are taken in natural name order (``2.jpg`` before ``10.jpg``), so ``paired=N`` means the
first N files. Decoded splits are cached as uint8 next to the data
(``<root>/<name>/.cache/<split>_<size>px.pt``), keyed by the file list, sizes,
modification times and modes, so only the first load decodes JPEGs.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from factorgan.data.in_memory import DatasetError

EXTENSIONS = (".jpg", ".jpeg", ".png")
CACHE_DIR = ".cache"
CHANNELS = {"L": 1, "RGB": 3}


@dataclass(frozen=True)
class AlignedLayout:
    """One aligned dataset's folder and halves.

    Args:
        name: folder under the data root (``cityscapes``, ``edges2shoes``).
        halves: what the left and right halves show, for messages.
        modes: PIL mode of each half: ``"RGB"`` (3 channels) or ``"L"`` (1, greyscale).
        prepare: commands that put the data in place, shown when it is missing
            (``{root}`` is filled in).
    """

    name: str
    halves: tuple[str, str]
    modes: tuple[str, str] = ("RGB", "RGB")
    prepare: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if any(m not in CHANNELS for m in self.modes):
            raise ValueError(f"modes {self.modes}: each must be one of {sorted(CHANNELS)}")

    @property
    def channels(self) -> tuple[int, int]:
        """Channels of each half in a decoded sample."""
        return CHANNELS[self.modes[0]], CHANNELS[self.modes[1]]

    def help(self, root: Path) -> str:
        lines = [
            "Expected the pix2pix aligned layout:",
            f"  {root}/{self.name}/train/*.jpg   ({self.halves[0]} | {self.halves[1]} side by side)",
            f"  {root}/{self.name}/val/*.jpg",
        ]
        return "\n".join(lines + [c.format(root=root) for c in self.prepare])


def natural_key(path: Path) -> list[object]:
    """Sort key of a file name with its digit runs as numbers (``2.jpg`` before ``10.jpg``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_images(root: str | Path, split: str, layout: AlignedLayout) -> list[Path]:
    """The image files of one split in natural name order; a clear error if none."""
    root = Path(root).expanduser()
    split_dir = root / layout.name / split
    if not split_dir.is_dir():
        raise DatasetError(f"{layout.name} split directory {split_dir} not found.\n{layout.help(root)}")
    files = sorted((p for p in split_dir.iterdir() if p.suffix.lower() in EXTENSIONS), key=natural_key)
    if not files:
        raise DatasetError(f"{split_dir} holds no .jpg/.png images.\n{layout.help(root)}")
    return files


ALIGNED_RULE = "aligned files hold A | B side by side, two square halves: width = 2 × height (e.g. 512×256)"


def check_aligned_size(path: Path, width: int, height: int) -> None:
    """Refuse an aligned file that is not two square halves side by side (a single image,
    a stacked pair, a crop), naming the file: resizing its halves would distort them."""
    if width % 2:
        raise DatasetError(
            f"{path} is {width}×{height}: an odd width cannot be cut into two images "
            f"of the same size ({ALIGNED_RULE})"
        )
    if width != 2 * height:
        raise DatasetError(f"{path} is {width}×{height}, not an aligned pair: {ALIGNED_RULE}")


def decode_pair(path: Path, size: int, modes: tuple[str, str] = ("RGB", "RGB")) -> np.ndarray:
    """One aligned file (width = 2 × height) -> uint8 ``(C_A + C_B, size, size)``: the
    left half's channels, then the right half's, each read in its PIL mode (``"RGB"`` or
    ``"L"``)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as file:
            img = file.copy()  # decodes now, so a broken file fails here
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetError(f"cannot read {path} as an image ({err})") from None
    width, height = img.size
    check_aligned_size(path, width, height)
    half = width // 2
    boxes = [(0, 0, half, height), (half, 0, width, height)]
    arrays = []
    for box, mode in zip(boxes, modes):
        # Bicubic with PIL's antialiasing, as pix2pix's loader resizes.
        a = np.asarray(img.crop(box).convert(mode).resize((size, size), Image.BICUBIC))
        arrays.append(a[:, :, None] if a.ndim == 2 else a)
    return np.concatenate(arrays, axis=2).transpose(2, 0, 1).copy()


def _cache_key(files: list[Path], size: int, modes: tuple[str, str]) -> str:
    h = hashlib.sha1(f"{size}:{modes}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _decode_all(files: list[Path], size: int, modes: tuple[str, str], desc: str) -> torch.Tensor:
    # PIL releases the GIL while decoding and resizing: threads overlap the JPEG work.
    workers = max(1, min(8, os.cpu_count() or 1))
    channels = sum(CHANNELS[m] for m in modes)
    out = np.empty((len(files), channels, size, size), dtype=np.uint8)
    with ThreadPoolExecutor(workers) as pool:
        decoded = pool.map(lambda p: decode_pair(p, size, modes), files)
        for i, arr in enumerate(tqdm(decoded, total=len(files), desc=desc, unit="img", mininterval=1.0)):
            out[i] = arr
    return torch.from_numpy(out)


def cached(path: Path, key: str, decode: Callable[[], torch.Tensor], use: bool = True) -> torch.Tensor:
    """``decode()``'s uint8 images, read from ``path`` when it holds them under ``key``,
    else decoded and written there atomically (``use=False``: no cache at all)."""
    if use and path.exists():
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            if saved.get("key") == key:
                return saved["images"]
        except Exception as err:  # a truncated or foreign cache file: decode again
            warnings.warn(f"ignoring unreadable cache {path} ({err})")
    images = decode()
    if use:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"key": key, "images": images}, tmp)
            tmp.replace(path)  # atomic: a crash never leaves a half-written cache
        except OSError as err:
            warnings.warn(f"could not write the decode cache {path} ({err}); continuing without it")
    return images


# The order of a split's files, which decides which ones are the first `paired`
# (``dataset.order``): natural (2.jpg before 10.jpg) or lexicographic (the official
# code's: 1, 10, 100, 1000, 1001, ...).
ORDERS = ("natural", "lexicographic")


def file_order(files: list[Path], order: str) -> torch.Tensor:
    """Indices putting ``files`` (in natural order) into ``order``."""
    if order not in ORDERS:
        raise DatasetError(f"dataset.order={order!r}: use one of {', '.join(ORDERS)}")
    if order == "natural":
        return torch.arange(len(files))
    return torch.tensor(sorted(range(len(files)), key=lambda i: files[i].name), dtype=torch.long)


def load_split(
    root: str | Path, split: str, layout: AlignedLayout, size: int, cache: bool = True, order: str = "natural"
) -> torch.Tensor:
    """All files of ``split`` as uint8 ``(N, C_A + C_B, size, size)`` in ``order`` (see
    :data:`ORDERS`), from the cache when it is valid (the cache keeps natural order)."""
    root = Path(root).expanduser()
    files = list_images(root, split, layout)
    indices = file_order(files, order)  # before decoding: a bad order fails at once
    key = _cache_key(files, size, layout.modes)
    path = root / layout.name / CACHE_DIR / f"{split}_{size}px.pt"
    images = cached(path, key, lambda: _decode_all(files, size, layout.modes, desc=f"decode {layout.name}/{split}"), cache)
    return images if order == "natural" else images[indices]
