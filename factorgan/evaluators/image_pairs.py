"""The image-pair experiments' evaluator (paper section 4.2): the LS score
(:mod:`factorgan.metrics.ls_score`) of an unconditional generator on the test split
(users' image folders: of a conditional one too, and no score without a test split)."""
from __future__ import annotations

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from factorgan.data.interface import TEST, TrainingData
from factorgan.errors import ConfigError
from factorgan.metrics.ls_score import LSScore, RealSamples
from factorgan.samples.generate import eval_mode


class JointSamples:
    """A conditional generator drawn like an unconditional one: ``z`` ``(N, Z)`` -> joint
    samples ``(N, *sample_shape)``, each a test input drawn at random (``seed``) joined
    with ``G(z, input)``. The LS score of these rates the outputs and their dependence on
    the input, on held-out inputs."""

    def __init__(self, G: nn.Module, data: TrainingData, seed: int) -> None:
        self.G, self.data, self.noise_dim = G, data, G.noise_dim
        self.pick = torch.Generator(data.device).manual_seed(seed)

    def __call__(self, z: Tensor) -> Tensor:
        data = self.data
        index = torch.randint(data.num_samples(TEST), (len(z),), generator=self.pick, device=data.device)
        cond, _ = data.split_inputs(data.samples(TEST, index))
        return data.join_inputs(cond, self.G(z, cond))


class LSScoreEvaluator(LSScore):
    """``(generator, data) -> {"ls", "ls_std"}``: the LS score of an unconditional
    generator ``G(z)`` on ``data``'s test split (settings: :class:`LSScore`).

    ``ls`` is the mean test loss over ``runs`` runs, ``ls_std`` their population standard
    deviation (ddof=0, so one run gives 0).

    Two switches for users' data (both off: the paper's experiments refuse such data):
    ``conditional``: rate a conditional generator's joint samples (:class:`JointSamples`);
    ``skip_small_test``: a test split too small to partition (none: image folders without
    ``val/``) gives no metrics and a one-line message instead of an error.
    """

    def __init__(self, *args: object, conditional: bool = False, skip_small_test: bool = False, **kwargs: object) -> None:
        try:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        except ValueError as err:  # a setting out of range: a message, not a traceback
            raise ConfigError(f"evaluation settings: {err}") from err
        self.conditional, self.skip_small_test = conditional, skip_small_test

    def __call__(self, G: nn.Module, data: TrainingData) -> dict[str, float]:
        n = data.num_samples(TEST)
        if self.skip_small_test and not 0 < round(self.train_fraction * n) < n:
            print(f"No evaluation: {data.name} has {n} held-out samples, too few to split "
                  f"{self.train_fraction:.0%} / {1 - self.train_fraction:.0%} for the LS score "
                  "(image folders: put complete pairs in val/pairs)")
            return {}
        sampler: nn.Module | JointSamples = G
        if data.input_parts and self.conditional:
            sampler = JointSamples(G, data, self.seed)
        elif data.input_parts:
            raise ValueError(
                f"the LS score rates unconditional generators G(z) of whole samples, but {data.name} "
                f"is conditional (input_parts={data.input_parts})"
            )
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
                    scores.append(self.run(sampler, real, seed, on_epoch=lambda: bar.update(1)))  # type: ignore[arg-type]
                    bar.set_postfix(ls=f"{scores[-1]:.4f}")
        t = torch.tensor(scores, dtype=torch.float64)
        return {"ls": float(t.mean()), "ls_std": float(t.std(correction=0))}
