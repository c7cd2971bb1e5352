"""The paper's discriminator variants as term lists (docs/method.md, "Variants"):
FactorGAN, FactorGAN-no-cp and the GAN baseline (and its big version).

Each builder calls ``make_net(in_shape=..., width_mult=...)`` once per term, in the
terms' order, and returns a :class:`CombinedDiscriminator`.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping, Sequence

from torch import nn

from factorgan.method.augment import Augment
from factorgan.method.discriminator import CombinedDiscriminator
from factorgan.method.penalties import R1Penalty
from factorgan.method.factorisation import BaseFactorisation
from factorgan.nets.spectral_norm import apply_spectral_norm
from factorgan.method.terms import Term, input_shape, joint
from factorgan.method.tree import FactorisationTree, MaskedViews  # tree imports terms only: no cycle

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
    generated parts only with ``see_inputs=False``): the flat factorisation tree's terms,
    which :meth:`FactorisationTree.terms <factorgan.method.tree.FactorisationTree.terms>`
    makes (the one producer of terms)."""
    return FactorisationTree.flat(num_parts).terms(input_parts, dep_p, dep_q, see_inputs)


def build(
    terms: Sequence[Term],
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: BaseFactorisation,
    spectral_norm: bool = True,
    width_mult: int = 1,
    stack_same_shape: bool = False,
    share: Mapping[str, Hashable] | None = None,
    augment: Augment | None = None,
    penalty: R1Penalty | None = None,
) -> CombinedDiscriminator:
    """A network from ``make_net`` for every term (at its input shape), combined;
    ``share``: term name -> a key, terms with one key share one network (built for the
    first of them; their input shapes must agree); ``augment`` / ``penalty``: for the
    terms they select (:class:`CombinedDiscriminator`)."""
    nets: dict[str, nn.Module] = {}
    shared: dict[Hashable, nn.Module] = {}
    for t in terms:
        key = None if share is None else share.get(t.name)
        if key is not None and key in shared:
            nets[t.name] = shared[key]
            continue
        net = make_net(in_shape=input_shape(t, factorisation, sample_shape), width_mult=width_mult)
        # Normalised as soon as it is built: the conversion draws from the global RNG, so
        # the next network's initial weights are those the same seed always gave.
        nets[t.name] = apply_spectral_norm(net) if spectral_norm else net
        if key is not None:
            shared[key] = nets[t.name]
    return CombinedDiscriminator(terms, nets, factorisation, sample_shape, False, stack_same_shape,
                                 augment=augment, penalty=penalty)


def factorised_discriminator(
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: BaseFactorisation,
    input_parts: int = 0,
    dep_p: bool = True,
    dep_q: bool = True,
    spectral_norm: bool = True,
    width_mult: int = 1,
    stack_same_shape: bool = False,
    see_inputs: bool = True,
    augment: Augment | None = None,
    penalty: R1Penalty | None = None,
) -> CombinedDiscriminator:
    """FactorGAN's discriminator: marginals, D_P (``dep_p=False``: FactorGAN-no-cp,
    d_P ≡ 0) and D_Q; ``see_inputs=False``: D_P and D_Q see the generated parts only;
    ``augment`` / ``penalty``: for the terms they select (off by default)."""
    terms = factorgan_terms(factorisation.num_parts, input_parts, dep_p, dep_q, see_inputs)
    return build(terms, make_net, sample_shape, factorisation, spectral_norm, width_mult, stack_same_shape,
                 augment=augment, penalty=penalty)


def joint_discriminator(
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: BaseFactorisation,
    input_parts: int = 0,
    spectral_norm: bool = True,
    width_mult: int = 1,
    see_inputs: bool = True,
    augment: Augment | None = None,
    penalty: R1Penalty | None = None,
) -> CombinedDiscriminator:
    """The GAN baseline: one discriminator on the joint sample, trained on paired data;
    ``width_mult=2`` is the paper's "GAN (big)"; ``see_inputs=False``: on the generated
    parts only; ``augment`` / ``penalty`` as for FactorGAN (``dependency`` selects the
    joint discriminator)."""
    parts = seen_parts(factorisation.num_parts, input_parts, see_inputs)
    return build([joint(parts=parts)], make_net, sample_shape, factorisation, spectral_norm, width_mult,
                 augment=augment, penalty=penalty)


def tree_discriminator(
    make_net: NetFactory,
    sample_shape: Sequence[int],
    factorisation: BaseFactorisation,
    tree: Any = "flat",
    input_parts: int = 0,
    dep_p: bool = True,
    dep_q: bool = True,
    spectral_norm: bool = True,
    width_mult: int = 1,
    stack_same_shape: bool = False,
    see_inputs: bool = True,
    share_weights: bool = False,
    augment: Augment | None = None,
    penalty: R1Penalty | None = None,
) -> CombinedDiscriminator:
    """FactorGAN over a factorisation tree (:mod:`factorgan.method.tree`): a marginal per
    leaf and a D_P / D_Q pair per split; ``tree``: nested lists of part indices
    (``[[0, 1], [2, 3]]``: hierarchical), ``chain`` (autoregressive) or ``flat`` (the
    same terms as :func:`factorised_discriminator`).

    ``share_weights`` (long chains): one network for the marginals of one input shape,
    one for every D_P and one for every D_Q; the pairs of inner splits then see the whole
    sample with the parts outside their node zeroed, so all pairs take one input shape."""

    terms = FactorisationTree.from_config(tree, factorisation.num_parts).terms(input_parts, dep_p, dep_q, see_inputs)
    masked = MaskedViews(factorisation, sample_shape, mask_all=share_weights)
    if share_weights or any(t.parts is not None and not masked.joins(t.parts) for t in terms):
        factorisation = masked  # e.g. a grid's top two quadrants: seen as the whole image, the rest zeroed
    share = None
    if share_weights:  # the kind of term (its name's stem) and its input shape pick its network
        share = {t.name: (t.name[:5] if t.name.startswith("dep_") else "marginal",
                          input_shape(t, factorisation, sample_shape)) for t in terms}
    return build(terms, make_net, sample_shape, factorisation, spectral_norm, width_mult, stack_same_shape, share,
                 augment=augment, penalty=penalty)
