"""Write a small incomplete dataset as an .npz for ``experiment=arrays`` (docs/your_own_data.md).

K = 3 parts of 8 values each. A hidden class (one of 5) sets every part's mean, so the
parts depend on each other; each sample then loses parts at random: a few are complete,
most hold one or two parts. ``x_test`` holds complete held-out samples.

    python scripts/make_example_arrays.py --out data/example_arrays.npz
    python -m factorgan.train experiment=arrays dataset.path=data/example_arrays.npz 'dataset.sizes=[8,8,8]'
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

PARTS, WIDTH, CLASSES = 3, 8, 5


def sample(rng: np.random.Generator, means: np.ndarray, n: int) -> np.ndarray:
    """``n`` complete samples ``(n, PARTS * WIDTH)``: class means plus unit noise."""
    classes = rng.integers(CLASSES, size=n)
    return (means[classes] + 0.5 * rng.normal(size=(n, PARTS * WIDTH))).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/example_arrays.npz")
    parser.add_argument("--n", type=int, default=5000, help="training samples")
    parser.add_argument("--complete", type=float, default=0.02, help="fraction of complete samples")
    parser.add_argument("--test", type=int, default=1000, help="complete held-out samples")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    means = rng.normal(scale=2.0, size=(CLASSES, PARTS * WIDTH))
    x = sample(rng, means, args.n)
    # Complete samples first, then random non-empty, non-full patterns of observed parts.
    observed = np.ones((args.n, PARTS), dtype=bool)
    n_complete = int(round(args.complete * args.n))
    patterns = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1) if 0 < a + b + c < PARTS], bool)
    observed[n_complete:] = patterns[rng.integers(len(patterns), size=args.n - n_complete)]
    x[~np.repeat(observed, WIDTH, axis=1)] = np.nan  # missing entries: never read
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, x=x, observed=observed, x_test=sample(rng, means, args.test))
    counts = observed.sum(axis=0)
    print(f"Wrote {out}: {args.n} samples ({n_complete} complete; part observations {counts.tolist()}), "
          f"{args.test} held-out complete samples")


if __name__ == "__main__":
    main()
