"""What one discriminator step and one generator step compute, apart from the loop.

The loop (:class:`factorgan.training.loop.Trainer`) owns the optimisers, freezes the
discriminators for the generator step and logs; a *steps* object only computes losses
from a :class:`StepContext`. :class:`AdversarialSteps` is GAN and FactorGAN
(docs/method.md); another variant (CycleGAN, :mod:`factorgan.training.cyclegan`) is
another steps class named by the model config (``model.steps``), with no change to the loop.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import Tensor, nn

from factorgan.data.interface import TrainingData
from factorgan.method.discriminator import CombinedDiscriminator, RealBatch, TermLoss
from factorgan.method.losses import Objective
from factorgan.samples.generate import generate, uniform_noise


@dataclass
class StepContext:
    """What a step may use: the networks, the data, the training random stream."""

    G: nn.Module
    D: CombinedDiscriminator
    data: TrainingData
    rng: torch.Generator
    batch_size: int
    objective: Objective
    precision: Callable[[], contextlib.AbstractContextManager]  # the forward passes' autocast
    inputs_paired_only: bool = False  # conditional GAN baseline: inputs from paired data only

    def noise(self, n: int) -> Tensor:
        """z ~ U(−1, 1)^noise_dim from the training stream, ``(n, noise_dim)``."""
        return uniform_noise(n, self.G.noise_dim, self.rng, self.data.device)

    def generate(self, n: int) -> Tensor:
        """``n`` generated joint samples (inputs joined in) from the training stream."""
        return generate(self.G, self.data, n, self.rng, self.inputs_paired_only)


class Steps(Protocol):
    """A model variant's two steps."""

    def networks(self) -> dict[str, nn.Module]:
        """Further networks trained with the generator (checkpoint key -> network)."""
        ...

    def discriminator_losses(self, ctx: StepContext) -> dict[str, TermLoss]:
        """Every sub-discriminator's loss for one discriminator step."""
        ...

    def generator_loss(self, ctx: StepContext) -> tuple[Tensor, dict[str, Tensor]]:
        """The generator loss (0-dim) and further 0-dim scalars to log by tag."""
        ...


def real_batch(D: CombinedDiscriminator, data: TrainingData, n: int, rng: torch.Generator) -> RealBatch:
    """Real data for one D step, only what ``D``'s terms read: complete samples first,
    then each part's isolated observations in part order, then the observations of each
    group of parts an inner tree split reads."""
    paired = data.sample_paired(n, rng) if D.needs_paired else None
    parts = {i: data.sample_part(i, n, rng) for i in D.marginal_parts}
    return RealBatch(paired=paired, parts=parts,
                     observed={g: data.sample_observed(g, n, rng) for g in D.observed_groups})


class AdversarialSteps:
    """GAN and FactorGAN: every term on its real rows against one shared generator batch;
    the generator minimises the objective on the combined logit (sub-discriminators frozen)."""

    def networks(self) -> dict[str, nn.Module]:
        return {}

    def discriminator_losses(self, ctx: StepContext) -> dict[str, TermLoss]:
        n = ctx.batch_size
        with ctx.precision():
            with torch.no_grad():
                fake = ctx.generate(n)  # ONE generator batch shared by every sub-discriminator
            return ctx.D.losses(real_batch(ctx.D, ctx.data, n, ctx.rng), fake, ctx.rng)

    def generator_loss(self, ctx: StepContext) -> tuple[Tensor, dict[str, Tensor]]:
        with ctx.precision():
            logits = ctx.D.term_logits(ctx.generate(ctx.batch_size), ctx.rng)  # augmented as in the D step
        v = ctx.D.combine(logits)  # fp32
        log = {"prob/d_combined_fake": torch.sigmoid(v.detach()).mean(), **ctx.D.status()}
        log.update({f"logit/{k}_fake": t.detach().mean() for k, t in logits.items()})
        return ctx.objective(v).mean(), log
