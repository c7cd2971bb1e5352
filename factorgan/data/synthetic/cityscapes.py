"""Small synthetic street scenes in Cityscapes' pix2pix layout, for tests and CPU demos.

Each image is a random street layout (sky, buildings, road between sidewalks, trees,
cars, people, a pole with a traffic sign, sometimes the ego vehicle's bonnet) drawn
twice: the *scene* paints every region in that class's own appearance colour (not its
label colour) with per-image lighting and pixel noise; the *map* paints it in the
Cityscapes label colour. The map is thus a learnable function of the scene, and the
evaluation (nearest label colours, ignored labels) applies exactly as on real data.
Files are written as ``<root>/cityscapes/{train,val}/<i>.jpg`` (scene | map).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from factorgan.data.formats.cityscapes_labels import LABELS

CLASS_NAMES = ("sky", "building", "road", "sidewalk", "vegetation", "car", "person", "pole",
               "traffic sign", "ego vehicle")
# What each class looks like in the scene (RGB): deliberately not its label colour.
APPEARANCE = {
    "sky": (185, 205, 235), "building": (125, 110, 95), "road": (70, 70, 75),
    "sidewalk": (170, 165, 155), "vegetation": (45, 110, 40), "car": (190, 40, 35),
    "person": (215, 160, 125), "pole": (35, 35, 45), "traffic sign": (235, 205, 40),
    "ego vehicle": (15, 15, 20),
}
_COLOR = {label.name: label.color for label in LABELS}


def draw_layout(size: int, rng: np.random.Generator) -> np.ndarray:
    """A random street layout: ``(size, size)`` indices into :data:`CLASS_NAMES`."""
    c = {name: i for i, name in enumerate(CLASS_NAMES)}
    y, x = np.mgrid[0:size, 0:size] / size  # row / column in [0, 1)
    out = np.full((size, size), c["sky"], dtype=np.int64)
    road_top = rng.uniform(0.55, 0.7)
    # A skyline: buildings from a per-block roof height down to the road.
    edges = np.sort(rng.uniform(0, 1, rng.integers(2, 6)))
    roofs = rng.uniform(0.1, 0.45, len(edges) + 1)
    roof = roofs[np.searchsorted(edges, x)]
    out[(y >= roof) & (y < road_top)] = c["building"]
    for _ in range(rng.integers(1, 4)):  # trees in front of the buildings
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0.35, road_top), rng.uniform(0.05, 0.12)
        out[((x - cx) ** 2 + ((y - cy) * 1.3) ** 2 < r**2) & (y < road_top)] = c["vegetation"]
    # Road: a trapezoid widening towards the camera, sidewalks on both sides.
    below = y >= road_top
    centre, half = rng.uniform(0.4, 0.6), 0.15 + 0.6 * (y - road_top)
    out[below] = c["sidewalk"]
    out[below & (np.abs(x - centre) < half)] = c["road"]
    for _ in range(rng.integers(0, 4)):  # cars on the road
        cy = rng.uniform(road_top + 0.05, 0.85)
        cx = centre + rng.uniform(-0.5, 0.5) * (0.15 + 0.6 * (cy - road_top))
        w, h = 0.08 + 0.25 * (cy - road_top), 0.05 + 0.15 * (cy - road_top)
        out[(np.abs(x - cx) < w) & (np.abs(y - cy) < h)] = c["car"]
    for _ in range(rng.integers(0, 3)):  # people on the sidewalk
        cx, foot = rng.choice([rng.uniform(0.0, 0.15), rng.uniform(0.85, 1.0)]), rng.uniform(road_top + 0.05, 0.9)
        out[(np.abs(x - cx) < 0.02) & (y > foot - 0.15) & (y < foot)] = c["person"]
    if rng.random() < 0.7:  # a pole with a traffic sign on top
        px, top = rng.uniform(0.05, 0.95), rng.uniform(0.2, 0.4)
        out[(np.abs(x - px) < 0.012) & (y > top) & (y < road_top + 0.1)] = c["pole"]
        out[(np.abs(x - px) < 0.04) & (np.abs(y - top) < 0.04)] = c["traffic sign"]
    if rng.random() < 0.5:  # the ego vehicle's bonnet: ignored in evaluation
        out[y > rng.uniform(0.88, 0.95)] = c["ego vehicle"]
    return out


def render_pair(layout: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(scene, map), each uint8 ``(H, W, 3)``, from a layout of class indices."""
    appearance = np.array([APPEARANCE[n] for n in CLASS_NAMES], dtype=np.float64)
    colors = np.array([_COLOR[n] for n in CLASS_NAMES], dtype=np.uint8)
    light = rng.uniform(0.75, 1.15)  # per-image lighting
    scene = appearance[layout] * light + rng.normal(0.0, 8.0, layout.shape + (3,))
    return np.clip(scene, 0, 255).astype(np.uint8), colors[layout]


def make_synthetic_cityscapes(
    root: str | Path, n_train: int = 200, n_val: int = 50, size: int = 64, seed: int = 0,
    quality: int = 95,
) -> Path:
    """Write ``n_train`` / ``n_val`` aligned JPEGs (each ``2·size × size``) under
    ``<root>/cityscapes/{train,val}``; returns ``<root>/cityscapes``."""
    from PIL import Image

    out = Path(root).expanduser() / "cityscapes"
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("val", n_val)):
        split_dir = out / split
        split_dir.mkdir(parents=True, exist_ok=True)
        for i in tqdm(range(1, n + 1), desc=f"synthetic {split}", unit="img", mininterval=1.0):
            scene, seg = render_pair(draw_layout(size, rng), rng)
            Image.fromarray(np.concatenate([scene, seg], axis=1)).save(split_dir / f"{i}.jpg", quality=quality)
    return out
