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
iteration per step instead of two, and half the kernel launches). With
``stack_same_shape``, networks of one stackable architecture and input shape (e.g. the
MLP marginals of equal parts, or D_P and D_Q) are held as one batched network
(:mod:`factorgan.nets.stacked`) and run their terms in one pass; ``terms()`` still names
every term.
"""
from __future__ import annotations

import abc
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import Tensor, nn

from factorgan.nets.discriminators import DiscriminatorFactory
from factorgan.nets.spectral_norm import apply_spectral_norm
from factorgan.method.factorisation import Factorisation
from factorgan.method.losses import discriminator_bce_and_accuracy

# Sign of each term in the combined logit; any term not listed counts +1.
TERM_SIGNS: dict[str, float] = {"dep_q": -1.0}


def combine(terms: dict[str, Tensor]) -> Tensor:
    """Combined logit from the terms' logits (each ``(N,)``): Σ sign(name) · d_name,
    in fp32 whatever precision the terms came in."""
    total: Tensor | None = None
    for name, logit in terms.items():
        logit = logit.float()
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


def real_fake(real: Tensor, fake: Tensor) -> Tensor:
    """One sub-discriminator's D-step batch: real first, then fake, ``(N + M, ...)``."""
    return torch.cat([real, fake], dim=0)


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
        self.stacks: dict[str, tuple[str, ...]] = {}  # stacked network's key -> its terms

    def _add(self, name: str, net: nn.Module) -> None:
        self.nets[name] = apply_spectral_norm(net) if self.spectral_norm else net

    def _stack_same_shape(self, in_shapes: dict[str, tuple[int, ...]]) -> None:
        """Replace the networks of each stackable architecture (a class with a ``stack``
        method) and input shape by one stacked network, keyed ``"a+b"``."""
        groups: dict[tuple, list[str]] = defaultdict(list)
        for name, net in self.nets.items():
            if callable(getattr(type(net), "stack", None)):
                groups[(type(net), in_shapes[name])].append(name)
        for names in groups.values():
            if len(names) < 2:
                continue
            stacked = type(self.nets[names[0]]).stack([self.nets[n] for n in names])  # type: ignore[attr-defined]
            for n in names:
                del self.nets[n]
            key = "+".join(names)
            self.nets[key] = stacked
            self.stacks[key] = tuple(names)

    def logits(self, inputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Each term's logits ``(N_t,)`` on its own input batch ``{term: (N_t, ...)}``.

        A stacked network runs all its terms in one batched pass (their batches have
        one size), so ``inputs`` names all of a stacked network's terms or none of them.
        Returns the terms in the order of ``inputs``.
        """
        out: dict[str, Tensor] = {}
        for key, net in self.nets.items():
            names = self.stacks.get(key, (key,))
            given = [n in inputs for n in names]
            if not any(given):
                continue
            if not all(given):
                raise ValueError(f"stacked terms {names} run together: give inputs for all of them")
            if key in self.stacks:
                out.update(zip(names, net(torch.stack([inputs[n] for n in names])).unbind(0)))
            else:
                out[key] = net(inputs[key])
        return {name: out[name] for name in inputs}

    def real_fake_losses(self, batches: dict[str, tuple[Tensor, Tensor]]) -> dict[str, TermLoss]:
        """BCE loss and accuracy per term from its ``(real, fake)`` batches: each term's
        real and fake rows go through its network in one pass (:func:`real_fake`), and
        stacked terms run together (:meth:`logits`)."""
        inputs = {name: real_fake(real, fake) for name, (real, fake) in batches.items()}
        return {
            name: TermLoss(*discriminator_bce_and_accuracy(logit, batches[name][0].shape[0]))
            for name, logit in self.logits(inputs).items()
        }

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
        return self.real_fake_losses({"joint": (real.paired, fake)})


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
        stack_same_shape: hold networks of one stackable architecture and input shape
            as one batched network (same maths, fewer and larger kernels).
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
        stack_same_shape: bool = False,
    ) -> None:
        super().__init__(spectral_norm)
        self.factorisation = factorisation
        self.marginal_parts = tuple(range(input_parts, factorisation.num_parts))
        self.needs_paired = dep_p
        self.dependency_terms = tuple(name for name, on in (("dep_p", dep_p), ("dep_q", dep_q)) if on)
        shapes = {f"marginal_{i}": factorisation.part_shape(sample_shape, i) for i in self.marginal_parts}
        shapes.update({name: tuple(sample_shape) for name in self.dependency_terms})
        for name, shape in shapes.items():
            self._add(name, make_net(in_shape=shape, width_mult=width_mult))
        if stack_same_shape:
            self._stack_same_shape(shapes)

    def terms(self, x: Tensor) -> dict[str, Tensor]:
        parts = self.factorisation.split(x)
        inputs = {f"marginal_{i}": parts[i] for i in self.marginal_parts}
        inputs.update({name: x for name in self.dependency_terms})
        return self.logits(inputs)

    def losses(
        self, real: RealBatch, fake: Tensor, generator: torch.Generator | None = None
    ) -> dict[str, TermLoss]:
        fake_parts = self.factorisation.split(fake)
        batches = {f"marginal_{i}": (real.parts[i], fake_parts[i]) for i in self.marginal_parts}
        if "dep_p" in self.dependency_terms:
            assert real.paired is not None, "D_P needs paired samples"
            batches["dep_p"] = (real.paired, self.factorisation.shuffle(real.paired, generator))
        if "dep_q" in self.dependency_terms:
            batches["dep_q"] = (fake, self.factorisation.shuffle(fake, generator))
        return self.real_fake_losses(batches)
