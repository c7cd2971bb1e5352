"""The evaluator of users' own arrays: energy distances between generated and held-out
samples, of the whole sample and of each part (:mod:`factorgan.metrics.energy`).

``energy`` (joint) falls when the generator gets both the parts and their dependencies
right; ``energy_part_i`` only needs part i's marginal. ``energy_shuffled`` is the joint
distance of the generated samples with their parts shuffled across the batch (the
product of the generated marginals): when ``energy`` is well below it, the generator
has learnt dependencies between the parts, not only each part.
"""
from __future__ import annotations

import torch
from torch import nn

from factorgan.data.interface import TEST, TrainingData
from factorgan.errors import ConfigError
from factorgan.metrics.energy import energy_distance
from factorgan.samples.generate import DEFAULT_SEED, draw_samples


class EnergyEvaluator:
    """``(generator, data) -> {"energy", "energy_shuffled", "energy_part_i"...}`` on the
    held-out complete samples (``x_test``); nothing when there are none.

    Args:
        num_samples: generated samples (None: as many as the test split holds).
        seed: the generated samples' own noise.
    """

    def __init__(self, num_samples: int | None = None, seed: int = DEFAULT_SEED) -> None:
        if num_samples is not None and num_samples < 2:
            raise ConfigError(f"evaluation.num_samples={num_samples} must be ≥ 2 (or null: the test split's size)")
        self.num_samples = num_samples
        self.seed = seed

    @torch.no_grad()
    def __call__(self, G: nn.Module, data: TrainingData) -> dict[str, float]:
        n_test = data.num_samples(TEST)
        if n_test < 2:
            print(f"No evaluation: {data.name} has {n_test} held-out samples (add x_test to the .npz, or set evaluation=null)")
            return {}
        real = data.samples(TEST, torch.arange(n_test, device=data.device)).cpu()
        fake = draw_samples(G, data, self.num_samples or n_test, self.seed)
        f = data.factorisation
        shuffled = f.shuffle(fake, torch.Generator().manual_seed(self.seed))
        metrics = {"energy": energy_distance(fake, real), "energy_shuffled": energy_distance(shuffled, real)}
        for i, (a, b) in enumerate(zip(f.split(fake), f.split(real))):
            metrics[f"energy_part_{i}"] = energy_distance(a, b)
        return metrics
