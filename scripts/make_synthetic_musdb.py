#!/usr/bin/env python
"""Write short synthetic songs in MUSDB18-HQ's layout (or as .stem.mp4 with --stems), for
the CPU demo ``experiment=musdb_sep_synthetic`` and for trying the MUSDB pipeline:

    python scripts/make_synthetic_musdb.py --root data/synthetic_musdb
    python -m factorgan.train experiment=musdb_sep_synthetic
"""
from __future__ import annotations

import argparse

from factorgan.data.synthetic.musdb import make_synthetic_musdb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="data/synthetic_musdb", help="output folder (gets train/ and test/)")
    parser.add_argument("--train", type=int, default=8, help="training songs")
    parser.add_argument("--test", type=int, default=3, help="test songs")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each song")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stems", action="store_true", help="write .stem.mp4 files (MUSDB18; needs ffmpeg)")
    args = parser.parse_args()
    root = make_synthetic_musdb(args.root, args.train, args.test, args.seconds, args.seed, args.stems)
    print(f"Wrote {args.train} training and {args.test} test songs to {root}")


if __name__ == "__main__":
    main()
