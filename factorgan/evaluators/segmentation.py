"""The Cityscapes segmentation experiment's evaluator (paper section 4.3): segment every
validation scene and score the maps (:mod:`factorgan.metrics.segmentation`)."""
from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from factorgan.data.interface import TEST, TrainingData
from factorgan.metrics.segmentation import SegmentationScores
from factorgan.samples.generate import eval_mode, uniform_noise


class CityscapesEvaluator:
    """``(generator, data) -> {metric: value}``: segment every test (validation) scene
    with ``G(z, scene)`` and score the maps (:mod:`factorgan.metrics.segmentation`).

    Works for any generator that maps the dataset's input parts to its output parts
    (FactorGAN, GAN, CycleGAN's scene→map generator). Noise is drawn from a private
    generator seeded with ``seed``, so evaluation never disturbs training's random streams.
    """

    def __init__(self, batch_size: int = 50, seed: int = 0, progress: bool = True) -> None:
        self.batch_size = batch_size
        self.seed = seed
        self.progress = progress

    @torch.no_grad()
    def __call__(self, G: nn.Module, data: TrainingData) -> dict[str, float]:
        device = data.device
        if not data.input_parts or data.num_samples(TEST) == 0:
            raise ValueError(f"segmentation evaluation needs a conditional dataset with a test split, got {data}")
        g = torch.Generator(device).manual_seed(self.seed)
        scores = SegmentationScores()
        total = -(-data.num_samples(TEST) // self.batch_size)
        with eval_mode(G):  # BatchNorm with its running statistics
            for batch in tqdm(data.batches(TEST, self.batch_size), total=total, desc="evaluate",
                              unit="batch", disable=not self.progress):
                cond, true = data.split_inputs(batch)
                scores.add(G(uniform_noise(len(cond), G.noise_dim, g, device), cond).float(), true)
        return scores.metrics()
