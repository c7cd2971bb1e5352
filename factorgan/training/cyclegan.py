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
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from factorgan.method.discriminator import CombinedDiscriminator, RealBatch, TermLoss
from factorgan.data.in_memory import as_float
from factorgan.nets.discriminators import DiscriminatorFactory
from factorgan.method.factorisation import Factorisation
from factorgan.training.loop import Trainer

DOMAIN_A, DOMAIN_B = 0, 1


def domain_split(factorisation: Factorisation, input_parts: int) -> Factorisation:
    """Two parts: the joined input parts (domain A) and the joined output parts (B)."""
    if not 0 < input_parts < factorisation.num_parts:
        raise ValueError("CycleGAN maps between input and output parts: it needs a conditional dataset")
    sizes = factorisation.sizes
    return Factorisation(factorisation.dim, [sum(sizes[:input_parts]), sum(sizes[input_parts:])])


class CycleDiscriminator(CombinedDiscriminator):
    """One discriminator per domain: ``input`` (D_A, e.g. scenes) and ``output`` (D_B,
    e.g. maps). ``terms(x)`` is D_B on the output part of joint samples, the critic of the
    A→B generator; :meth:`losses` takes real parts ``{0: a, 1: b}`` and a fake batch
    whose domain-A part is F(b) and domain-B part is G(a)."""

    needs_paired = False
    marginal_parts = (DOMAIN_A, DOMAIN_B)

    def __init__(
        self,
        make_net: DiscriminatorFactory,
        sample_shape: Sequence[int],
        factorisation: Factorisation,
        input_parts: int = 1,
        spectral_norm: bool = True,
        width_mult: int = 1,
    ) -> None:
        super().__init__(spectral_norm)
        self.domains = domain_split(factorisation, input_parts)
        for name, i in (("input", DOMAIN_A), ("output", DOMAIN_B)):
            shape = self.domains.part_shape(sample_shape, i)
            self._add(name, make_net(in_shape=shape, width_mult=width_mult))

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        return {"output": self.nets["output"](self.domains.split(x)[DOMAIN_B])}

    def losses(
        self, real: RealBatch, fake: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, TermLoss]:
        fake_a, fake_b = self.domains.split(fake)
        return self.real_fake_losses(
            {"input": (real.parts[DOMAIN_A], fake_a), "output": (real.parts[DOMAIN_B], fake_b)}
        )


class CycleGANTrainer(Trainer):
    """:class:`Trainer` for CycleGAN: adds the inverse generator F (built by
    ``make_generator(out_shape, cond_shape)`` with the configured architecture), trains
    G and F with one optimiser, and overrides the real / fake batches and the generator
    step. ``discriminator`` must be a :class:`CycleDiscriminator`.

    Args:
        make_generator: builds a generator ``(out_shape, cond_shape) -> module`` on the
            training device.
        cycle_weight: λ of the cycle-consistency L1 terms.
        identity_weight: λ_id; the identity L1 terms are weighted λ·λ_id (0 disables
            them; they need both domains to have one shape).
        **kwargs: :class:`Trainer`'s arguments.
    """

    def __init__(
        self,
        *,
        make_generator: Callable[..., nn.Module],
        cycle_weight: float = 10.0,
        identity_weight: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(self.D, CycleDiscriminator):
            raise TypeError("CycleGANTrainer needs model.discriminator to be a CycleDiscriminator")
        data = self.data
        self.F = make_generator(out_shape=data.input_shape, cond_shape=data.output_shape)
        self.domains = self.D.domains
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        if self.identity_weight and data.input_shape != data.output_shape:
            raise ValueError(
                f"identity loss needs domains of one shape, got {data.input_shape} and "
                f"{data.output_shape}; set model.trainer.identity_weight=0"
            )
        self.opt_g = kwargs["make_optimizer"](list(self.G.parameters()) + list(self.F.parameters()))

    # ---- data: unpaired draws from every training sample ------------------------------
    def unpaired(self, n: int) -> tuple[Tensor, Tensor]:
        """Real a ``(n, *input_shape)`` and b ``(n, *output_shape)`` from independent samples."""
        train = self.data.train
        idx = torch.randint(len(train), (2, n), generator=self.rng, device=self.device)
        return (self.domains.split(as_float(train[idx[0]]))[DOMAIN_A],
                self.domains.split(as_float(train[idx[1]]))[DOMAIN_B])

    def real_batch(self, n: int) -> RealBatch:
        a, b = self.unpaired(n)
        return RealBatch(parts={DOMAIN_A: a, DOMAIN_B: b})

    def discriminator_fake(self, n: int) -> Tensor:
        """F(b) | G(a) joined as one batch, for D_A and D_B."""
        a, b = self.unpaired(n)
        return self.domains.join([self.F(self.noise(n), b), self.G(self.noise(n), a)])

    # ---- generator step ------------------------------------------------------------
    def generator_step(self) -> None:
        n = self.schedule.batch_size
        self.D.requires_grad_(False)
        try:
            with self.precision():  # networks in the run's precision, losses in fp32
                a, b = self.unpaired(n)
                fake_b, fake_a = self.G(self.noise(n), a), self.F(self.noise(n), b)
                logit_b, logit_a = self.D.nets["output"](fake_b).float(), self.D.nets["input"](fake_a).float()
                rec_a, rec_b = self.F(self.noise(n), fake_b), self.G(self.noise(n), fake_a)
                same_b, same_a = (self.G(self.noise(n), b), self.F(self.noise(n), a)) if self.identity_weight else (b, a)
            adversarial = self.objective(logit_b).mean() + self.objective(logit_a).mean()
            cycle = F.l1_loss(rec_a.float(), a) + F.l1_loss(rec_b.float(), b)
            loss = adversarial + self.cycle_weight * cycle
            identity = torch.zeros((), device=self.device)
            if self.identity_weight:
                identity = F.l1_loss(same_b.float(), b) + F.l1_loss(same_a.float(), a)
                loss = loss + self.cycle_weight * self.identity_weight * identity
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            self.D.requires_grad_(True)
        self.scalars.add({
            "loss/g": loss, "loss/g_adversarial": adversarial, "loss/g_cycle": cycle,
            "loss/g_identity": identity, "prob/d_combined_fake": torch.sigmoid(logit_b.detach()).mean(),
            "logit/output_fake": logit_b.detach().mean(), "logit/input_fake": logit_a.detach().mean(),
        })

    # ---- state ---------------------------------------------------------------------
    def fit(self) -> None:
        self.F.train()
        super().fit()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "inverse_generator": self.F.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.F.load_state_dict(state["inverse_generator"])
        super().load_state_dict(state)

    def _params_finite(self) -> bool:
        return super()._params_finite() and all(bool(p.detach().isfinite().all()) for p in self.F.parameters())
