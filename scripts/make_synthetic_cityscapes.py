#!/usr/bin/env python
"""Write a small synthetic Cityscapes set in pix2pix's aligned layout (tests, CPU demo).

    python scripts/make_synthetic_cityscapes.py --root data/synthetic
    python -m factorgan.train experiment=cityscapes_seg_synthetic

Writes ``<root>/cityscapes/{train,val}/<i>.jpg``: random street scenes | their colour
segmentation maps in the Cityscapes label colours (see
``factorgan/data/synthetic/cityscapes.py``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("data/synthetic"), help="output root (default: data/synthetic)")
    parser.add_argument("--train", type=int, default=500, help="training images (default: 500)")
    parser.add_argument("--val", type=int, default=100, help="validation images (default: 100)")
    parser.add_argument("--size", type=int, default=64, help="side of each half in pixels (default: 64)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.train < 1 or args.val < 1 or args.size < 8:
        parser.error("--train and --val must be ≥ 1 and --size ≥ 8")

    from factorgan.data.synthetic.cityscapes import make_synthetic_cityscapes

    out = make_synthetic_cityscapes(args.root, args.train, args.val, args.size, args.seed)
    print(f"Wrote {args.train} train / {args.val} val images to {out}")
    print(f"Train on them with: python -m factorgan.train experiment=cityscapes_seg_synthetic dataset.root={args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
