"""The paper's discriminator variants as term lists (docs/method.md, "Variants"):
FactorGAN, FactorGAN-no-cp and the GAN baseline (and its big version).

Each builder calls ``make_net(in_shape=..., width_mult=...)`` once per term, in the
terms' order, and returns a :class:`CombinedDiscriminator`.
"""
from __future__ import annotations

from typing import Callable, Sequence

from torch import nn

from factorgan.method.discriminator import CombinedDiscriminator
from factorgan.method.factorisation import Parts
from factorgan.nets.spectral_norm import apply_spectral_norm
from factorgan.method.terms import Term, input_shape, joint, marginal, p_dependency, q_dependency

# A factory: input shape of one sample (no batch dim) and a width multiplier -> network.
NetFactory = Callable[..., nn.Module]


def seen_parts(num_parts: int, input_parts: int, see_inputs: bool) -> tuple[int, ...] | None:
    """The parts the whole-sample terms see: all (None), or only the generated ones when
    the inputs follow from them (audio: the mixture is the sum of the sources)."""
    return None if see_inputs or not input_parts else tuple(range(input_parts, num_parts))


def factorgan_terms(num_parts: int, input_parts: int = 0, dep_p: bool = True, dep_q: bool = True,
                    see_inputs: bool = True) -> list[Term]:
    """A marginal per generated part (conditional FactorGAN: none for the ``input_parts``
    leading parts, since q(x_1) = p(x_1) by construction), then D_P and D_Q (on the
    generated parts only with ``see_inputs=False``)."""
    terms = [marginal(i) for i in range(input_parts, num_parts)]
    parts = seen_parts(num_parts, input_parts, see_inputs)
    if dep_p:
        terms.append(p_dependency(parts=parts))
    if dep_q:
        terms.append(q_dependency(parts=parts))
    return terms


def build(
    terms: Sequence[Term],
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: Parts,
    spectral_norm: bool = True,
    width_mult: int = 1,
    stack_same_shape: bool = False,
) -> CombinedDiscriminator:
    """A network from ``make_net`` for every term (at its input shape), combined."""
    nets = {}
    for t in terms:
        net = make_net(in_shape=input_shape(t, factorisation, sample_shape), width_mult=width_mult)
        # Normalised as soon as it is built: the conversion draws from the global RNG, so
        # the next network's initial weights are those the same seed always gave.
        nets[t.name] = apply_spectral_norm(net) if spectral_norm else net
    return CombinedDiscriminator(terms, nets, factorisation, sample_shape, False, stack_same_shape)


def factorised_discriminator(
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: Parts,
    input_parts: int = 0,
    dep_p: bool = True,
    dep_q: bool = True,
    spectral_norm: bool = True,
    width_mult: int = 1,
    stack_same_shape: bool = False,
    see_inputs: bool = True,
) -> CombinedDiscriminator:
    """FactorGAN's discriminator: marginals, D_P (``dep_p=False``: FactorGAN-no-cp,
    d_P ≡ 0) and D_Q; ``see_inputs=False``: D_P and D_Q see the generated parts only."""
    terms = factorgan_terms(factorisation.num_parts, input_parts, dep_p, dep_q, see_inputs)
    return build(terms, make_net, sample_shape, factorisation, spectral_norm, width_mult, stack_same_shape)


def joint_discriminator(
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: Parts,
    input_parts: int = 0,
    spectral_norm: bool = True,
    width_mult: int = 1,
    see_inputs: bool = True,
) -> CombinedDiscriminator:
    """The GAN baseline: one discriminator on the joint sample, trained on paired data;
    ``width_mult=2`` is the paper's "GAN (big)"; ``see_inputs=False``: on the generated
    parts only."""
    parts = seen_parts(factorisation.num_parts, input_parts, see_inputs)
    return build([joint(parts=parts)], make_net, sample_shape, factorisation, spectral_norm, width_mult)
