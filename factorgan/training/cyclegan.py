"""CycleGAN (Zhu et al., 2017), the unsupervised baseline of the segmentation experiment.

Two domains: A = the dataset's input parts (scenes), B = its output parts (maps). Two
generators, G: A→B (the trainer's ``G``, the one evaluated) and F: B→A, and one
discriminator per domain. Nothing is paired: every real a and b is drawn independently
from all training samples, and ``paired`` is ignored.

Discriminators: the ordinary BCE GAN loss (paper eq. 1) on real a vs F(b) and real b vs
G(a). Generators, minimised together (the CycleGAN authors' loss weights):

    adv(D_B(G(a))) + adv(D_A(F(b)))                      (the configured objective, eq. 2)
    + λ (|F(G(a)) − a|₁ + |G(F(b)) − b|₁)                 (cycle consistency, λ = 10)
    + λ·λ_id (|G(b) − b|₁ + |F(a) − a|₁)                  (identity, λ_id = 0.5)

No image history pool: every D step sees a fresh generator batch, as in the other models.
CycleGAN is a discriminator (two terms, :func:`cycle_discriminator`) and its two steps
(:class:`CycleGANSteps`); the training loop is the one every model uses.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from factorgan.data.interface import TrainingData
from factorgan.method.augment import Augment
from factorgan.method.discriminator import CombinedDiscriminator, RealBatch, TermLoss
from factorgan.method.penalties import R1Penalty
from factorgan.method.factorisation import Factorisation
from factorgan.method.terms import GENERATED, PART, Batch, Term
from factorgan.method.variants import NetFactory, build
from factorgan.training.steps import StepContext

DOMAIN_A, DOMAIN_B = 0, 1


def domain_split(factorisation: Factorisation, input_parts: int) -> Factorisation:
    """Two parts: the joined input parts (domain A) and the joined output parts (B)."""
    if not 0 < input_parts < factorisation.num_parts:
        raise ValueError("CycleGAN maps between input and output parts: it needs a conditional dataset")
    sizes = factorisation.sizes
    return Factorisation(factorisation.dim, [sum(sizes[:input_parts]), sum(sizes[input_parts:])])


def cycle_discriminator(
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: Factorisation,
    input_parts: int = 1,
    spectral_norm: bool = True,
    width_mult: int = 1,
    augment: Augment | None = None,
    penalty: R1Penalty | None = None,
) -> CombinedDiscriminator:
    """One discriminator per domain: ``input`` (D_A, e.g. scenes; trained, but not in the
    combined logit) and ``output`` (D_B, e.g. maps): the combined logit of a joint sample
    is D_B on its output part, the critic of the A→B generator. Both read real parts
    ``{0: a, 1: b}`` and a fake batch whose domain-A part is F(b) and domain-B part G(a)."""
    terms = [
        Term("input", real=Batch(PART), fake=Batch(GENERATED), parts=(DOMAIN_A,), combined=False),
        Term("output", real=Batch(PART), fake=Batch(GENERATED), parts=(DOMAIN_B,)),
    ]
    domains = domain_split(factorisation, input_parts)
    return build(terms, make_net, sample_shape, domains, spectral_norm, width_mult, augment=augment, penalty=penalty)


class CycleGANSteps:
    """CycleGAN's two steps: the inverse generator F (built by ``make_generator(out_shape,
    cond_shape)`` with the configured architecture) trains with G.

    Args:
        make_generator: builds a generator ``(out_shape, cond_shape) -> module`` on the
            training device.
        data: the training data (its input and output shapes).
        cycle_weight: λ of the cycle-consistency L1 terms.
        identity_weight: λ_id; the identity L1 terms are weighted λ·λ_id (0 disables
            them; they need both domains to have one shape).
    """

    def __init__(
        self,
        make_generator: Callable[..., nn.Module],
        data: TrainingData,
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
    ) -> None:
        if not data.input_parts:
            raise ValueError("CycleGAN maps between input and output parts: it needs a conditional dataset")
        self.F = make_generator(out_shape=data.input_shape, cond_shape=data.output_shape)
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        if self.identity_weight and data.input_shape != data.output_shape:
            raise ValueError(
                f"identity loss needs domains of one shape, got {data.input_shape} and "
                f"{data.output_shape}; set model.steps.identity_weight=0"
            )

    def networks(self) -> dict[str, nn.Module]:
        return {"inverse_generator": self.F}

    @staticmethod
    def unpaired(ctx: StepContext, n: int) -> tuple[Tensor, Tensor]:
        """Real a ``(n, *input_shape)`` and b ``(n, *output_shape)`` from independent samples."""
        return ctx.data.sample_inputs(n, ctx.rng), ctx.data.sample_outputs(n, ctx.rng)

    def discriminator_losses(self, ctx: StepContext) -> dict[str, TermLoss]:
        n = ctx.batch_size
        with ctx.precision():
            with torch.no_grad():  # F(b) | G(a) joined as one batch, for D_A and D_B
                a, b = self.unpaired(ctx, n)
                fake = ctx.D.factorisation.join([self.F(ctx.noise(n), b), ctx.G(ctx.noise(n), a)])
            real_a, real_b = self.unpaired(ctx, n)
            return ctx.D.losses(RealBatch(parts={DOMAIN_A: real_a, DOMAIN_B: real_b}), fake, ctx.rng)

    def generator_loss(self, ctx: StepContext) -> tuple[Tensor, dict[str, Tensor]]:
        n, G, D = ctx.batch_size, ctx.G, ctx.D
        with ctx.precision():  # networks in the run's precision, losses in fp32
            a, b = self.unpaired(ctx, n)
            fake_b, fake_a = G(ctx.noise(n), a), self.F(ctx.noise(n), b)
            logits = D.logits({"output": fake_b, "input": fake_a})
            logit_b, logit_a = logits["output"].float(), logits["input"].float()
            rec_a, rec_b = self.F(ctx.noise(n), fake_b), G(ctx.noise(n), fake_a)
            same_b, same_a = (G(ctx.noise(n), b), self.F(ctx.noise(n), a)) if self.identity_weight else (b, a)
        adversarial = ctx.objective(logit_b).mean() + ctx.objective(logit_a).mean()
        cycle = F.l1_loss(rec_a.float(), a) + F.l1_loss(rec_b.float(), b)
        loss = adversarial + self.cycle_weight * cycle
        identity = torch.zeros((), device=a.device)
        if self.identity_weight:
            identity = F.l1_loss(same_b.float(), b) + F.l1_loss(same_a.float(), a)
            loss = loss + self.cycle_weight * self.identity_weight * identity
        return loss, {
            "loss/g_adversarial": adversarial, "loss/g_cycle": cycle, "loss/g_identity": identity,
            "prob/d_combined_fake": torch.sigmoid(logit_b.detach()).mean(),
            "logit/output_fake": logit_b.detach().mean(), "logit/input_fake": logit_a.detach().mean(),
        }
