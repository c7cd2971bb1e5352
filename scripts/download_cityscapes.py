#!/usr/bin/env python
"""Download pix2pix's Cityscapes archive and unpack it for ``experiment=cityscapes_seg``.

    python scripts/download_cityscapes.py --root data
    python scripts/download_cityscapes.py --root data --archive ~/Downloads/cityscapes.tar.gz
    python -m factorgan.train experiment=cityscapes_seg dataset.root=data

Result: ``<root>/cityscapes/train/*.jpg`` (2,975) and ``<root>/cityscapes/val/*.jpg`` (500),
each a 512×256 photo | colour segmentation map. The archive (about 100 MB) comes from the
pix2pix authors' server; ``--archive`` unpacks a copy you already have instead (e.g.
on a machine without a network connection). The images derive from the Cityscapes
dataset: its terms of use apply (https://www.cityscapes-dataset.com/license/).

Same as ``python scripts/download_pix2pix.py --dataset cityscapes``, which does the work.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _load_pix2pix():
    """scripts/download_pix2pix.py, found next to this file (scripts/ is not a package)."""
    path = Path(__file__).resolve().with_name("download_pix2pix.py")
    spec = importlib.util.spec_from_file_location("download_pix2pix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_pix2pix = _load_pix2pix()
URL = _pix2pix.DATASETS["cityscapes"].url
SPLITS = _pix2pix.SPLITS
download = _pix2pix.download


def unpack(archive: Path, root: Path) -> Path:
    """Unpack the archive's ``cityscapes/{train,val}`` into ``<root>/cityscapes``."""
    return _pix2pix.unpack(archive, root, "cityscapes")


def main(argv: list[str] | None = None) -> int:
    return _pix2pix.main(argv, dataset="cityscapes", description=__doc__)


if __name__ == "__main__":
    sys.exit(main())
