"""The image-pair experiments' evaluator (paper section 4.2): the LS score
(:mod:`factorgan.metrics.ls_score`) of an unconditional generator on the test split."""
from __future__ import annotations

import torch
from torch import nn
from tqdm.auto import tqdm

from factorgan.data.interface import TEST, TrainingData
from factorgan.metrics.ls_score import LSScore, RealSamples
from factorgan.samples.generate import eval_mode


class LSScoreEvaluator(LSScore):
    """``(generator, data) -> {"ls", "ls_std"}``: the LS score of an unconditional
    generator ``G(z)`` on ``data``'s test split (settings: :class:`LSScore`).

    ``ls`` is the mean test loss over ``runs`` runs, ``ls_std`` their population standard
    deviation (ddof=0, so one run gives 0).
    """

    def __call__(self, G: nn.Module, data: TrainingData) -> dict[str, float]:
        if data.input_parts:
            raise ValueError(
                f"the LS score rates unconditional generators G(z) of whole samples, but {data.name} "
                f"is conditional (input_parts={data.input_parts})"
            )
        n = data.num_samples(TEST)
        if n < 2:
            raise ValueError(
                f"the LS score needs a test split of at least 2 samples to partition; "
                f"{data.name} has {n}"
            )
        real = RealSamples(lambda index: data.samples(TEST, index), n, data.sample_shape, data.device)
        scores = []
        with eval_mode(G):  # BatchNorm with its running statistics
            with tqdm(total=self.runs * self.epochs, desc="LS score", unit="epoch", disable=not self.progress) as bar:
                for seed in self.run_seeds():
                    scores.append(self.run(G, real, seed, on_epoch=lambda: bar.update(1)))
                    bar.set_postfix(ls=f"{scores[-1]:.4f}")
        t = torch.tensor(scores, dtype=torch.float64)
        return {"ls": float(t.mean()), "ls_std": float(t.std(correction=0))}
