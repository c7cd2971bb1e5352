#!/usr/bin/env python
"""Download MNIST's IDX files into torchvision's layout for ``dataset.source=idx``.

    python scripts/prepare_mnist.py --root data
    python -m factorgan.train dataset.source=idx dataset.root=data

Writes ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (60,000 training
and 10,000 test digits) and checks that factorgan can read them. Needs a network
connection; on a machine without one, copy those four files (or their ``.gz``) there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("data"), help="dataset root (default: data)")
    args = parser.parse_args(argv)

    from factorgan.data.in_memory import DatasetError
    from factorgan.data.formats.mnist import load_idx

    raw = args.root / "MNIST" / "raw"
    try:
        (train_x, _), (test_x, _) = load_idx(args.root, download=False)
        print(f"MNIST already in {raw}: {len(train_x)} train / {len(test_x)} test digits")
        return 0
    except DatasetError:
        print(f"MNIST not found in {raw}: downloading it")
    try:
        (train_x, _), (test_x, _) = load_idx(args.root, download=True)
    except Exception as err:  # network errors come in many types
        print(f"error: could not download MNIST into {args.root}: {err}", file=sys.stderr)
        return 1
    print(f"MNIST ready in {raw}: {len(train_x)} train / {len(test_x)} test digits")
    print(f"Train on it with: python -m factorgan.train dataset.source=idx dataset.root={args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
