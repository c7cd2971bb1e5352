"""The Cityscapes label table: names, ids, trainIds, colours and which labels count.

Facts from the Cityscapes benchmark's label definition (Cordts et al., 2016; the
``cityscapesScripts`` helpers). 19 labels are evaluated (trainId 0..18); the others are
ignored in evaluation. Some labels share a colour with an evaluated one (``polegroup``
with ``pole``, ``license plate`` with ``car``): a colour stands for the *first* label in
this table that has it (the benchmark's own convention for the inverse mapping), so a
car-coloured pixel is a car and counts.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Label(NamedTuple):
    name: str
    id: int
    train_id: int  # 255 / -1: not trained on
    ignore_in_eval: bool
    color: tuple[int, int, int]


LABELS: tuple[Label, ...] = (
    Label("unlabeled", 0, 255, True, (0, 0, 0)),
    Label("ego vehicle", 1, 255, True, (0, 0, 0)),
    Label("rectification border", 2, 255, True, (0, 0, 0)),
    Label("out of roi", 3, 255, True, (0, 0, 0)),
    Label("static", 4, 255, True, (0, 0, 0)),
    Label("dynamic", 5, 255, True, (111, 74, 0)),
    Label("ground", 6, 255, True, (81, 0, 81)),
    Label("road", 7, 0, False, (128, 64, 128)),
    Label("sidewalk", 8, 1, False, (244, 35, 232)),
    Label("parking", 9, 255, True, (250, 170, 160)),
    Label("rail track", 10, 255, True, (230, 150, 140)),
    Label("building", 11, 2, False, (70, 70, 70)),
    Label("wall", 12, 3, False, (102, 102, 156)),
    Label("fence", 13, 4, False, (190, 153, 153)),
    Label("guard rail", 14, 255, True, (180, 165, 180)),
    Label("bridge", 15, 255, True, (150, 100, 100)),
    Label("tunnel", 16, 255, True, (150, 120, 90)),
    Label("pole", 17, 5, False, (153, 153, 153)),
    Label("polegroup", 18, 255, True, (153, 153, 153)),
    Label("traffic light", 19, 6, False, (250, 170, 30)),
    Label("traffic sign", 20, 7, False, (220, 220, 0)),
    Label("vegetation", 21, 8, False, (107, 142, 35)),
    Label("terrain", 22, 9, False, (152, 251, 152)),
    Label("sky", 23, 10, False, (70, 130, 180)),
    Label("person", 24, 11, False, (220, 20, 60)),
    Label("rider", 25, 12, False, (255, 0, 0)),
    Label("car", 26, 13, False, (0, 0, 142)),
    Label("truck", 27, 14, False, (0, 0, 70)),
    Label("bus", 28, 15, False, (0, 60, 100)),
    Label("caravan", 29, 255, True, (0, 0, 90)),
    Label("trailer", 30, 255, True, (0, 0, 110)),
    Label("train", 31, 16, False, (0, 80, 100)),
    Label("motorcycle", 32, 17, False, (0, 0, 230)),
    Label("bicycle", 33, 18, False, (119, 11, 32)),
    Label("license plate", -1, -1, True, (0, 0, 142)),
)

# The 19 evaluated labels, in trainId order.
EVAL_LABELS: tuple[Label, ...] = tuple(
    sorted((label for label in LABELS if not label.ignore_in_eval), key=lambda label: label.train_id)
)


class Palette(NamedTuple):
    """Distinct label colours as tensors for nearest-colour snapping."""

    colors: Tensor  # (P, 3) float in [0, 1]
    eval_class: Tensor  # (P,) long: index into EVAL_LABELS, or -1 for an ignored colour


def full_palette() -> Palette:
    """Every distinct colour of :data:`LABELS`; each stands for the first label with it."""
    colors: list[tuple[int, int, int]] = []
    classes: list[int] = []
    eval_index = {label.name: i for i, label in enumerate(EVAL_LABELS)}
    for label in LABELS:
        if label.color in colors:
            continue  # a later label with an earlier label's colour: the first one wins
        colors.append(label.color)
        classes.append(eval_index.get(label.name, -1))
    return Palette(torch.tensor(colors, dtype=torch.float32) / 255.0, torch.tensor(classes))


def eval_palette() -> Tensor:
    """Colours of the 19 evaluated labels ``(19, 3)`` in [0, 1], trainId order."""
    return torch.tensor([label.color for label in EVAL_LABELS], dtype=torch.float32) / 255.0
