"""Users' own images as folders: a few complete pairs (A, B) plus isolated A and B images.

Layout (docs/your_own_data.md)::

    <root>/pairs/<name>            complete pairs as aligned files: A | B side by side,
                                   two square halves (width = 2 × height), pix2pix's files
      or <root>/pairs/A/<name>     complete pairs as two folders, matched by name
         <root>/pairs/B/<name>     without extension (pairs/A/x.jpg goes with pairs/B/x.png)
    <root>/A/<name>, <root>/B/<name>   isolated images of each part (any counts)
    <root>/val/pairs/...           held-out complete pairs, either pair layout: the LS
                                   score and the sample grids (val/A, val/B are ignored)

Every folder is optional, but each part needs at least one image and ``pairs/`` holds one
layout, not both. A sample is A's channels then B's, uint8 ``(C_A + C_B, size, size)``
with ``C = 3`` for a part in mode ``RGB`` and 1 for ``L`` (grey); the two parts are
``Factorisation(dim=0, sizes=[C_A, C_B])``. Images are read in any format PIL opens
(upright as viewers show them: EXIF orientation applied), 8-bit only, and resized to
``size × size`` with PIL's bicubic filter (pix2pix's resize; non-square images are
stretched). Conversions never lose information silently:

- an ``RGB`` part takes colour images as they are (alpha dropped, palettes expanded)
  and grey images with their value repeated in all three channels;
- an ``L`` part takes grey images, and colour images only when they are grey up to JPEG
  noise (:data:`GREY_SHARE` of the pixels with channels at most :data:`GREY_TOLERANCE`
  levels apart); any other colour image is refused, naming the file.

Files are taken in natural name order (``2.png`` before ``10.png``, as
:mod:`factorgan.data.formats.aligned` sorts): ``paired=N`` makes the first N complete pairs
available as pairs; the others still feed both part pools (``paired=all``: every pair).
Decoded folders are cached per folder under ``$FACTORGAN_CACHE/image_folders`` (or
``~/.cache/factorgan/image_folders``; never in the data folder), keyed by the file
names, sizes and modification times, ``size`` and the modes.
"""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from factorgan.cache import cache_folder
from factorgan.data.formats.aligned import cached, check_aligned_size, natural_key
from factorgan.data.interface import DatasetError, parse_paired
from factorgan.data.pools import PooledData, from_pools
from factorgan.method.factorisation import Factorisation

MODES = {"RGB": 3, "L": 1}
GREY_TOLERANCE = 16  # channel spread (of 255) still counted as grey: JPEG's chroma noise
GREY_SHARE = 0.99  # share of a grey image's pixels within the tolerance (ringing at edges)
CACHE_VERSION = 1  # bump when decoding changes: old cache files are then ignored
EXAMPLE = "python scripts/make_example_folders.py --root data/example_folders"
LAYOUT = (
    "Expected image folders (each optional, at least one of pairs/, A/, B/):\n"
    "  {root}/pairs/       complete pairs: aligned files (A | B side by side, width = 2 × height),\n"
    "                      or pairs/A/<name> and pairs/B/<name> matched by name without extension\n"
    "  {root}/A/, {root}/B/   isolated images of each part\n"
    "  {root}/val/pairs/   held-out complete pairs (evaluation and sample grids)\n"
    f"Write an example with: {EXAMPLE}"
)


def _layout(root: Path) -> str:
    return LAYOUT.format(root=root)


def image_extensions() -> frozenset[str]:
    """File suffixes of the formats PIL can open (other files in the folders are ignored)."""
    from PIL import Image

    Image.init()
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def list_images(folder: Path) -> list[Path]:
    """The image files directly in ``folder`` (not hidden, not in subfolders), in natural
    name order; [] when the folder does not exist."""
    if not folder.is_dir():
        return []
    exts = image_extensions()
    files = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in exts)
    return sorted(files, key=natural_key)


def parse_modes(modes: Sequence[str | int]) -> tuple[str, str]:
    """``[RGB, L]`` (or channel counts ``[3, 1]``) -> PIL modes of part A and part B."""
    by_channels = {str(c): m for m, c in MODES.items()}
    out = []
    for m in modes:
        key = str(m).strip()
        mode = by_channels.get(key, key.upper())
        if mode not in MODES:
            raise DatasetError(f"dataset.modes={list(modes)}: each part is RGB (or 3) or L (grey, or 1), not {m!r}")
        out.append(mode)
    if len(out) != 2:
        raise DatasetError(f"dataset.modes={list(modes)}: give one mode per part, e.g. [RGB,L]")
    return out[0], out[1]


# ---- decoding one image -------------------------------------------------------------
def open_image(path: Path):  # -> PIL.Image.Image
    """The decoded image, upright; a DatasetError naming ``path`` if PIL cannot read it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as file:
            img = ImageOps.exif_transpose(file)  # decodes now, so a broken file fails here
            img.load()
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DatasetError(f"cannot read {path} as an image ({err})") from None
    if img.mode.startswith("I") or img.mode == "F":
        raise DatasetError(f"{path} is a {img.mode} image (16-bit or float): save it as 8-bit grey or RGB")
    return img


def to_mode(img, mode: str, path: Path, what: str):  # -> PIL.Image.Image
    """``img`` in PIL ``mode`` by the module's rules (colour is never silently made grey)."""
    if mode == "RGB" or img.mode in ("L", "LA", "1"):
        return img.convert(mode)  # grey -> RGB repeats the value; RGBA -> RGB drops alpha
    rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    grey_share = float((spread <= GREY_TOLERANCE).mean())
    if grey_share < GREY_SHARE:
        raise DatasetError(
            f"{path}{what} is a colour image ({1 - grey_share:.0%} of its pixels have channels more than "
            f"{GREY_TOLERANCE} levels apart) in a part that dataset.modes makes grey (L). Make that part "
            f"RGB in dataset.modes, or convert the images to grey yourself"
        )
    return img.convert("RGB").convert("L")  # R ≈ G ≈ B: the luma is that value


def as_array(img, size: int) -> np.ndarray:
    """A PIL image (mode L or RGB) -> uint8 ``(C, size, size)``, bicubic as pix2pix resizes."""
    from PIL import Image

    a = np.asarray(img.resize((size, size), Image.BICUBIC))
    return (a[:, :, None] if a.ndim == 2 else a).transpose(2, 0, 1)


def decode_image(path: Path, size: int, mode: str) -> np.ndarray:
    """One image of one part -> uint8 ``(C, size, size)``."""
    return as_array(to_mode(open_image(path), mode, path, ""), size)


def decode_aligned(path: Path, size: int, modes: tuple[str, str]) -> np.ndarray:
    """One aligned file A | B -> uint8 ``(C_A + C_B, size, size)``."""
    img = open_image(path)
    width, height = img.size
    check_aligned_size(path, width, height)
    halves = [img.crop((0, 0, height, height)), img.crop((height, 0, width, height))]
    return np.concatenate([
        as_array(to_mode(half, mode, path, f" ({side} half)"), size)
        for half, mode, side in zip(halves, modes, ("left", "right"))
    ])


def decode_split(paths: tuple[Path, Path], size: int, modes: tuple[str, str]) -> np.ndarray:
    """pairs/A/<name> and pairs/B/<name> -> uint8 ``(C_A + C_B, size, size)``."""
    return np.concatenate([decode_image(p, size, m) for p, m in zip(paths, modes)])


# ---- folders ------------------------------------------------------------------------
@dataclass(frozen=True)
class Group:
    """One folder's images, decoded together and cached as one file.

    ``items``: per sample, the files it is read from (one, or pairs/A's and pairs/B's);
    ``decode``: items -> uint8 ``(channels, size, size)``.
    """

    name: str
    items: list[tuple[Path, ...]]
    decode: Callable[[tuple[Path, ...]], np.ndarray]
    channels: int
    modes: tuple[str, ...]


def _few(names: Sequence[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def match_by_stem(a_files: list[Path], b_files: list[Path], where: Path) -> list[tuple[Path, Path]]:
    """Pairs of ``(A file, B file)`` with the same name without extension, in A's order;
    a DatasetError listing a few names when the two folders do not hold the same names."""
    stems: list[dict[str, Path]] = []
    for files, side in ((a_files, "A"), (b_files, "B")):
        by_stem: dict[str, Path] = {}
        for f in files:
            if f.stem in by_stem:
                raise DatasetError(
                    f"{where}/{side} holds {by_stem[f.stem].name} and {f.name}: pairs are matched by name without "
                    "extension, so each name may appear once"
                )
            by_stem[f.stem] = f
        stems.append(by_stem)
    only_a = [s for s in stems[0] if s not in stems[1]]
    only_b = [s for s in stems[1] if s not in stems[0]]
    if only_a or only_b:
        raise DatasetError(
            f"{where}/A and {where}/B must hold the same names (matched without extension): "
            f"{len(only_a)} only in A ({_few(only_a) or '-'}), {len(only_b)} only in B ({_few(only_b) or '-'}). "
            "Move images without a partner to <root>/A or <root>/B (isolated parts)"
        )
    return [(stems[0][s], stems[1][s]) for s in stems[0]]


def pair_group(folder: Path, name: str, size: int, modes: tuple[str, str]) -> Group:
    """The complete pairs in ``folder`` (aligned files, or A/ and B/ subfolders)."""
    aligned = list_images(folder)
    split = [folder / "A", folder / "B"]
    channels = MODES[modes[0]] + MODES[modes[1]]
    if any(d.is_dir() for d in split):
        if aligned:
            raise DatasetError(
                f"{folder} holds both aligned files ({_few([f.name for f in aligned], 3)}) and "
                f"{'/'.join(d.name for d in split if d.is_dir())} folders: use one pair layout"
            )
        missing = [d for d in split if not d.is_dir()]
        if missing:
            raise DatasetError(f"{folder} has {'A' if missing[0].name == 'B' else 'B'}/ but no {missing[0]}: "
                               "split pairs need both pairs/A and pairs/B")
        items = match_by_stem(list_images(split[0]), list_images(split[1]), folder)
        return Group(name, list(items), partial(decode_split, size=size, modes=modes), channels, modes)
    items = [(f,) for f in aligned]
    return Group(name, items, lambda item: decode_aligned(item[0], size, modes), channels, modes)


def part_group(folder: Path, name: str, size: int, mode: str) -> Group:
    items = [(f,) for f in list_images(folder)]
    return Group(name, items, lambda item: decode_image(item[0], size, mode), MODES[mode], (mode,))


# ---- decoding a folder, cached ------------------------------------------------------
def _cache_key(root: Path, group: Group, size: int) -> str:
    h = hashlib.sha1(f"{CACHE_VERSION}:{root}:{group.name}:{size}:{group.modes}".encode())
    for item in group.items:
        for f in item:
            st = f.stat()
            h.update(f"{f.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def decode_group(group: Group, size: int, desc: str) -> torch.Tensor:
    """Every item of ``group``: uint8 ``(N, channels, size, size)`` (threads: PIL releases
    the GIL while decoding and resizing)."""
    out = np.empty((len(group.items), group.channels, size, size), dtype=np.uint8)
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        decoded = pool.map(group.decode, group.items)
        for i, arr in enumerate(tqdm(decoded, total=len(out), desc=desc, unit="img", mininterval=1.0)):
            out[i] = arr
    return torch.from_numpy(out)


def load_group(group: Group, root: Path, size: int, cache_dir: Path | None) -> torch.Tensor:
    """``group`` decoded, from ``cache_dir`` when its key still matches (None: no cache)."""
    if not group.items:
        return torch.empty((0, group.channels, size, size), dtype=torch.uint8)
    if cache_dir is None:
        return decode_group(group, size, f"decode {group.name}")
    key = _cache_key(root, group, size)
    # One file per folder and settings, replaced when the folder changes: the cache
    # does not grow with every edit.
    tag = hashlib.sha1(str(root).encode()).hexdigest()[:12]
    path = cache_dir / f"{root.name}_{tag}_{group.name.replace('/', '-')}_{size}px_{'-'.join(group.modes)}.pt"
    return cached(path, key, lambda: decode_group(group, size, f"decode {group.name}"))


# ---- the dataset --------------------------------------------------------------------
def _check_root(root: Path) -> None:
    if not root.is_dir():
        raise DatasetError(f"dataset.root={root} is not a folder.\n{_layout(root)}")
    if not any((root / d).is_dir() for d in ("pairs", "A", "B")):
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not p.name.startswith("."))
        raise DatasetError(
            f"{root} has none of pairs/, A/, B/ (it holds: {_few(found, 8) or 'nothing'}).\n{_layout(root)}"
        )


def image_folders(
    root: str,
    paired: int | str | None = None,
    size: int = 64,
    modes: Sequence[str | int] = ("RGB", "RGB"),
    conditional: bool = False,
    part_names: Sequence[str] = ("A", "B"),
    cache: bool = True,
    cache_dir: str | None = None,
) -> PooledData:
    """Pools of ``root``'s images (module docstring): samples uint8 ``(C_A + C_B, size, size)``.

    Args:
        root: the folder holding ``pairs/``, ``A/``, ``B/`` and ``val/``.
        paired: complete pairs usable as pairs: the first N in name order, or ``all``/None.
        size: side every image is resized to.
        modes: PIL mode of part A and part B: ``RGB`` or ``L`` (grey); or 3 / 1.
        conditional: A is the generator's input (image-to-image translation).
        part_names: what A and B show, for messages.
        cache: keep decoded images in the cache folder.
        cache_dir: the cache folder (None: ``$FACTORGAN_CACHE/image_folders`` or
            ``~/.cache/factorgan/image_folders``).
    """
    path = Path(root).expanduser().resolve()
    _check_root(path)
    if size < 8:
        raise DatasetError(f"dataset.size={size}: images need a side of at least 8 pixels")
    mode_a, mode_b = parse_modes(modes)
    names = [str(n) for n in part_names]
    if len(names) != 2:
        raise DatasetError(f"dataset.part_names={names}: give one name per part, e.g. [photo,map]")
    folder_cache = None
    if cache:
        folder_cache = cache_folder(cache_dir) / "image_folders"

    val = path / "val"
    if val.is_dir() and not (val / "pairs").is_dir() and list_images(val):
        raise DatasetError(f"{val} holds images directly; put held-out pairs in {val / 'pairs'} (the layout of pairs/)")
    groups = {
        "pairs": pair_group(path / "pairs", "pairs", size, (mode_a, mode_b)),
        "A": part_group(path / "A", "A", size, mode_a),
        "B": part_group(path / "B", "B", size, mode_b),
        "val": pair_group(val / "pairs", "val/pairs", size, (mode_a, mode_b)),
    }
    counts = {k: len(g.items) for k, g in groups.items()}
    for part, name in zip(("A", "B"), names):
        if counts["pairs"] + counts[part] == 0:
            raise DatasetError(
                f"{path} holds no image of part {part} ({name}): neither complete pairs in pairs/ nor "
                f"isolated images in {part}/. Every part needs images (its discriminator learns from them).\n"
                + _layout(path)
            )
    loaded = {k: load_group(g, path, size, folder_cache) for k, g in groups.items()}
    return from_pools(
        loaded["pairs"],
        [loaded["A"], loaded["B"]],
        Factorisation(dim=0, sizes=[MODES[mode_a], MODES[mode_b]]),
        test=loaded["val"],
        paired=parse_paired(paired),
        input_parts=1 if conditional else 0,
        name=f"image_folders({path}, {size}px, {mode_a}|{mode_b})",
        part_names=names,
    )
