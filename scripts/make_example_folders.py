#!/usr/bin/env python
"""Write a small example of users' image folders (docs/your_own_data.md), then train on it.

    python scripts/make_example_folders.py --root data/example_folders
    python -m factorgan.train experiment=image_folders dataset.root=data/example_folders

Each A image is a scene of random coloured shapes (circles, squares, triangles) on a
shaded background with pixel noise; its B image is the scene's flat-colour label map
(one fixed colour per shape kind, black background). B is a deterministic function of
A's shapes, not of their colours, so a model must learn the dependency between the two.
Written (``--layout aligned``, default)::

    <root>/pairs/<i>.png          A | B side by side (PNG: label maps stay exact)
    <root>/A/<i>.jpg              isolated scenes (their maps never written)
    <root>/B/<i>.png              isolated label maps (of other scenes)
    <root>/val/pairs/<i>.png      held-out pairs

``--layout split`` writes the pairs as ``pairs/A/<i>.jpg`` + ``pairs/B/<i>.png`` (and
``val/pairs/A``, ``val/pairs/B``): matched by name without extension.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

KINDS = ("circle", "square", "triangle")
LABEL_COLOURS = np.array([(0, 0, 0), (230, 25, 75), (60, 180, 75), (0, 130, 200)], dtype=np.uint8)  # bg, kinds


def draw_labels(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random scene layout: per pixel 0 (background) or 1 + shape kind ``(size, size)``
    int, and each shape's label ``(S,)`` in drawing order (later shapes occlude earlier)."""
    y, x = np.mgrid[0:size, 0:size] / size
    labels = np.zeros((size, size), dtype=np.int64)
    kinds = rng.integers(0, len(KINDS), rng.integers(1, 5))
    for kind in kinds:
        cx, cy, r = rng.uniform(0.15, 0.85), rng.uniform(0.15, 0.85), rng.uniform(0.08, 0.22)
        if KINDS[kind] == "circle":
            mask = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        elif KINDS[kind] == "square":
            mask = (np.abs(x - cx) < r) & (np.abs(y - cy) < r)
        else:  # an upward triangle: wider towards its base
            depth = (y - (cy - r)) / (2 * r)
            mask = (depth >= 0) & (depth <= 1) & (np.abs(x - cx) < r * depth)
        labels[mask] = 1 + kind
    return labels, kinds


def render_pair(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(scene A, label map B), each uint8 ``(size, size, 3)``: A paints each shape kind in
    a random colour over a shaded background, B in its fixed label colour."""
    labels, _ = draw_labels(size, rng)
    y, x = np.mgrid[0:size, 0:size] / size
    top, bottom = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    scene = top + (bottom - top) * y[:, :, None]  # a vertical colour gradient
    for value in range(1, len(KINDS) + 1):  # one random colour per shape kind in this scene
        scene[labels == value] = rng.uniform(0, 255, 3)
    scene += rng.normal(0.0, 6.0, scene.shape) + 10.0 * np.sin(12 * x)[:, :, None]  # noise and texture
    return np.clip(scene, 0, 255).astype(np.uint8), LABEL_COLOURS[labels]


def write_example(
    root: str | Path, pairs: int = 40, a_only: int = 300, b_only: int = 200, val: int = 20,
    size: int = 64, layout: str = "aligned", seed: int = 0,
) -> Path:
    """Write the example folders under ``root`` (see the module docstring); returns root."""
    from PIL import Image

    if layout not in ("aligned", "split"):
        raise ValueError(f"layout={layout!r}: choose aligned or split")
    root = Path(root).expanduser()
    rng = np.random.default_rng(seed)

    def save(array: np.ndarray, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(path, **({"quality": 95} if path.suffix == ".jpg" else {}))

    for folder, n in (("pairs", pairs), ("val/pairs", val)):
        for i in range(1, n + 1):
            scene, labels = render_pair(size, rng)
            if layout == "aligned":
                save(np.concatenate([scene, labels], axis=1), root / folder / f"{i}.png")
            else:
                save(scene, root / folder / "A" / f"{i}.jpg")
                save(labels, root / folder / "B" / f"{i}.png")
    for i in range(1, a_only + 1):
        save(render_pair(size, rng)[0], root / "A" / f"{i}.jpg")
    for i in range(1, b_only + 1):
        save(render_pair(size, rng)[1], root / "B" / f"{i}.png")
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("data/example_folders"),
                        help="output folder (default: data/example_folders)")
    parser.add_argument("--layout", choices=("aligned", "split"), default="aligned",
                        help="pairs as aligned A|B files or as pairs/A + pairs/B (default: aligned)")
    parser.add_argument("--pairs", type=int, default=40, help="complete pairs (default: 40)")
    parser.add_argument("--a-only", type=int, default=300, help="isolated A scenes (default: 300)")
    parser.add_argument("--b-only", type=int, default=200, help="isolated B label maps (default: 200)")
    parser.add_argument("--val", type=int, default=20, help="held-out pairs in val/pairs (default: 20; 0: no val/)")
    parser.add_argument("--size", type=int, default=64, help="side of each image in pixels (default: 64)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.pairs, args.a_only, args.b_only, args.val) < 0 or args.size < 8:
        parser.error("counts must be ≥ 0 and --size ≥ 8")
    if args.root.exists() and any(args.root.iterdir()):
        parser.error(f"{args.root} is not empty: choose a new folder (the example never mixes with other files)")
    write_example(args.root, args.pairs, args.a_only, args.b_only, args.val, args.size, args.layout, args.seed)
    print(f"Wrote {args.pairs} pairs ({args.layout}), {args.a_only} A-only, {args.b_only} B-only and "
          f"{args.val} val pairs to {args.root}")
    print(f"Train on them with: python -m factorgan.train experiment=image_folders dataset.root={args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
