"""The discriminator the generator trains against, and the one place its logit is made.

Every model variant is a set of named sub-discriminators (*terms*), each a network that
outputs a logit, and :func:`combine` turns their logits into the combined logit

    d_C(x) = d_P(x) − d_Q(x) + Σ_i d_i(x_i)                 (FactorGAN, Theorem 1)

(the GAN baseline has the single term ``joint``). ``terms(x)`` exposes every part so
TensorBoard can show each one. ``losses(real, fake)`` trains every term with the ordinary
BCE GAN loss on its own real/fake inputs (METHOD.md's table):

| term        | real (label 1)                 | fake (label 0)                         |
|-------------|--------------------------------|----------------------------------------|
| marginal_i  | part i of any training sample  | part i of the generator batch          |
| dep_p       | a paired (joint) real batch    | the same batch, parts shuffled         |
| dep_q       | the generator batch            | the same batch, parts shuffled         |
| joint (GAN) | a paired (joint) real batch    | the generator batch                    |

Real and fake go through a network in one forward pass (one spectral-norm power
iteration per step instead of two, and half the kernel launches).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn

from factorgan.discriminators import DiscriminatorFactory
from factorgan.spectral_norm import apply_spectral_norm
from factorgan.factorisation import Factorisation
from factorgan.losses import discriminator_bce_and_accuracy

# Sign of each term in the combined logit; any term not listed counts +1.
TERM_SIGNS: dict[str, float] = {"dep_q": -1.0}


def combine(terms: dict[str, Tensor]) -> Tensor:
    """Combined logit from the terms' logits (each ``(N,)``): Σ sign(name) · d_name."""
    total: Tensor | None = None
    for name, logit in terms.items():
        signed = -logit if TERM_SIGNS.get(name, 1.0) < 0 else logit
        total = signed if total is None else total + signed
    if total is None:
        raise ValueError("a discriminator needs at least one term")
    return total


@dataclass
class RealBatch:
    """Real data for one discriminator step.

    ``paired``: ``(N, *sample_shape)`` joint samples from the paired subset, or None when
    no term needs them; ``parts``: part index -> ``(N, *part_shape)`` isolated real parts.
    """

    paired: Tensor | None = None
    parts: dict[int, Tensor] = field(default_factory=dict)


@dataclass
class TermLoss:
    loss: Tensor  # 0-dim BCE loss
    accuracy: Tensor  # 0-dim fraction of correct real/fake decisions


def _term_loss(net: nn.Module, real: Tensor, fake: Tensor) -> TermLoss:
    """BCE loss and accuracy of one sub-discriminator (real and fake in one pass)."""
    logits = net(torch.cat([real, fake], dim=0))
    return TermLoss(*discriminator_bce_and_accuracy(logits, real.shape[0]))


class CombinedDiscriminator(nn.Module, abc.ABC):
    """Base class: named sub-discriminator networks in ``self.nets``.

    Subclasses say which real data they need (``needs_paired``, ``marginal_parts``) and
    how each term is trained (``losses``).
    """

    needs_paired: bool = True
    marginal_parts: tuple[int, ...] = ()

    def __init__(self, spectral_norm: bool) -> None:
        super().__init__()
        self.nets = nn.ModuleDict()
        self.spectral_norm = spectral_norm

    def _add(self, name: str, net: nn.Module) -> None:
        self.nets[name] = apply_spectral_norm(net) if self.spectral_norm else net

    @abc.abstractmethod
    def terms(self, x: Tensor) -> dict[str, Tensor]:
        """Each term's logit ``(N,)`` on joint samples ``x`` ``(N, *sample_shape)``."""

    def forward(self, x: Tensor) -> Tensor:
        """Combined logit ``(N,)`` on joint samples ``x``."""
        return combine(self.terms(x))

    @abc.abstractmethod
    def losses(
        self, real: RealBatch, fake: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, TermLoss]:
        """Each term's BCE loss and accuracy for one discriminator step."""


class JointDiscriminator(CombinedDiscriminator):
    """The GAN baseline: one discriminator on the joint sample, trained on paired data.

    ``width_mult=2`` gives the paper's "GAN (big)".
    """

    def __init__(
        self,
        make_net: DiscriminatorFactory,
        sample_shape: Sequence[int],
        factorisation: Factorisation | None = None,
        input_parts: int = 0,
        spectral_norm: bool = True,
        width_mult: int = 1,
    ) -> None:
        super().__init__(spectral_norm)
        self._add("joint", make_net(in_shape=tuple(sample_shape), width_mult=width_mult))

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        return {"joint": self.nets["joint"](x)}

    def losses(
        self, real: RealBatch, fake: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, TermLoss]:
        assert real.paired is not None, "the joint discriminator needs paired samples"
        return {"joint": _term_loss(self.nets["joint"], real.paired, fake)}


class FactorisedDiscriminator(CombinedDiscriminator):
    """FactorGAN's discriminator: marginals, an optional D_P and D_Q.

    Args:
        make_net: builds one network from an input shape.
        sample_shape: shape of one joint sample.
        factorisation: how samples split into parts.
        input_parts: leading parts that are generator inputs (conditional FactorGAN):
            they get no marginal discriminator, since q(x_1) = p(x_1) by construction.
        dep_p: include the p-dependency discriminator (False: FactorGAN-no-cp, d_P ≡ 0).
        dep_q: include the q-dependency discriminator.
        spectral_norm: spectral-normalise every network.
    """

    def __init__(
        self,
        make_net: DiscriminatorFactory,
        sample_shape: Sequence[int],
        factorisation: Factorisation,
        input_parts: int = 0,
        dep_p: bool = True,
        dep_q: bool = True,
        spectral_norm: bool = True,
        width_mult: int = 1,
    ) -> None:
        super().__init__(spectral_norm)
        self.factorisation = factorisation
        self.marginal_parts = tuple(range(input_parts, factorisation.num_parts))
        self.needs_paired = dep_p
        for i in self.marginal_parts:
            shape = factorisation.part_shape(sample_shape, i)
            self._add(f"marginal_{i}", make_net(in_shape=shape, width_mult=width_mult))
        if dep_p:
            self._add("dep_p", make_net(in_shape=tuple(sample_shape), width_mult=width_mult))
        if dep_q:
            self._add("dep_q", make_net(in_shape=tuple(sample_shape), width_mult=width_mult))

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        parts = self.factorisation.split(x)
        out = {f"marginal_{i}": self.nets[f"marginal_{i}"](parts[i]) for i in self.marginal_parts}
        for name in ("dep_p", "dep_q"):
            if name in self.nets:
                out[name] = self.nets[name](x)
        return out

    def losses(
        self, real: RealBatch, fake: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, TermLoss]:
        fake_parts = self.factorisation.split(fake)
        out = {
            f"marginal_{i}": _term_loss(self.nets[f"marginal_{i}"], real.parts[i], fake_parts[i])
            for i in self.marginal_parts
        }
        if "dep_p" in self.nets:
            assert real.paired is not None, "D_P needs paired samples"
            shuffled = self.factorisation.shuffle(real.paired, generator)
            out["dep_p"] = _term_loss(self.nets["dep_p"], real.paired, shuffled)
        if "dep_q" in self.nets:
            shuffled = self.factorisation.shuffle(fake, generator)
            out["dep_q"] = _term_loss(self.nets["dep_q"], fake, shuffled)
        return out
