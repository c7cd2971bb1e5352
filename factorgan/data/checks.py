"""Checks of the loaded data against the model and the batch, before anything trains:
a model that needs complete samples on data without any, a batch larger than every pool."""
from __future__ import annotations

from typing import Any

from factorgan.data.pools import NO_PAIRS_MODELS
from factorgan.errors import ConfigError, DatasetError


def check_pairs(model: str, needs_paired: bool, data: Any, inputs_paired: bool) -> None:
    """Refuse, before anything trains, a model that needs complete samples on data that
    has none (``paired=0``, or users' own data without complete samples)."""
    if data.paired == 0 and (needs_paired or (inputs_paired and data.input_parts)):
        raise DatasetError(
            f"model={model} needs complete samples, but {data.name} has paired=0. Give it some "
            f"(paired ≥ 1), or use a model that trains without them: {NO_PAIRS_MODELS}"
        )


def _pool_words(key: str, n: int, part_names: Any) -> str:
    if key == "paired":
        return f"{n} pairs (paired={n})"
    if key == "complete":
        return f"{n} complete samples"
    if key == "samples":
        return f"{n} training samples (each part of each read unpaired)"
    if key.startswith("part_"):
        i = int(key[5:])
        name = f" ({part_names[i]})" if part_names and i < len(part_names) else ""
        return f"{n} of part {i}{name}"
    return f"{n} {key}"


# A batch this small costs nothing however small the data: never refused.
ALWAYS_FINE_BATCH = 64


def check_batch(batch_size: int, data: Any, model: str) -> None:
    """Refuse, once the data is loaded and before anything trains, a batch larger than
    every training pool: batches are drawn with replacement, so it only repeats samples
    at many times the memory and time (``trainer.batch_size=100000`` on PairedMNIST's
    4,000 digits). A batch larger than a small pool alone is the paper's own practice
    (25 from 10 pairs) and is kept, and so is any batch up to :data:`ALWAYS_FINE_BATCH`
    (a tiny dataset, such as the 14-image example folders, trains with the paper's 25)."""
    sizes = data.pool_sizes() if hasattr(data, "pool_sizes") else None
    if not sizes or batch_size <= max(*sizes.values(), ALWAYS_FINE_BATCH):
        return
    largest = max(*sizes.values(), ALWAYS_FINE_BATCH)
    held = ", ".join(_pool_words(k, v, getattr(data, "part_names", None)) for k, v in sizes.items())
    reads = " (model={} reads only the pairs)".format(model) if model in ("gan", "gan_big") else ""
    raise ConfigError(
        f"trainer.batch_size={batch_size} is larger than all of {data.name}'s training data: {held}{reads}. "
        "Batches are drawn with replacement, so a batch beyond the data only repeats samples, at the cost of "
        f"memory and time; the largest batch that works is trainer.batch_size={largest} (the paper's: 25)"
    )
