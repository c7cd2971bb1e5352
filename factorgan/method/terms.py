"""Sub-discriminator terms as data, and the combined logit (docs/method.md).

A :class:`Term` is one sub-discriminator of a combined discriminator: its sign in the
combined logit, which parts of a joint sample its network sees, and where the real
(label 1) and fake (label 0) rows of its discriminator batch come from:

| term        | sign | sees          | real                           | fake                                |
|-------------|------|---------------|--------------------------------|-------------------------------------|
| marginal_i  | +1   | part i        | part i of any training sample  | part i of the generator batch       |
| dep_p       | +1   | whole sample  | a paired (complete) real batch | the same batch, parts shuffled      |
| dep_q       | −1   | whole sample  | the generator batch            | the same batch, parts shuffled      |
| joint (GAN) | +1   | whole sample  | a paired (complete) real batch | the generator batch                 |
| dep_p_<node>| +1   | a node's parts| observations holding them all  | the same batch, children shuffled   |

The last row is an inner split of a factorisation tree (:mod:`factorgan.method.tree`):
its real rows are every observation that holds the node's parts together (a whole top
digit for the split of that digit into halves), not only the complete samples.

The combined logit is Σ sign · d_term over the terms that count in it (:func:`combine`):
d_C = d_P − d_Q + Σ_i d_i for FactorGAN (Theorem 1). Nothing downstream branches on a
term's name, so a factorisation with several dependency pairs is only a longer list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from torch import Tensor

from factorgan.method.factorisation import BaseFactorisation

# Where one side of a term's batch comes from.
PAIRED = "paired"  # complete real samples (the first `paired` of the dataset)
PART = "part"  # real observations holding the term's parts (one part: its isolated observations)
GENERATED = "generated"  # the discriminator step's generator batch
SOURCES = (PAIRED, PART, GENERATED)


@dataclass(frozen=True)
class Batch:
    """One side of a term's discriminator batch: ``source`` (:data:`SOURCES`), and
    whether its parts are shuffled independently across the batch (samples of the
    product of the part marginals)."""

    source: str
    shuffled: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"batch source {self.source!r}: choose one of {SOURCES}")


@dataclass(frozen=True)
class Term:
    """One sub-discriminator.

    Args:
        name: the key of its network and of its TensorBoard tags (``loss/d_<name>``).
        real / fake: where its real and fake rows come from.
        sign: its weight in the combined logit (+1, or −1 for D_Q).
        parts: the parts of a joint sample its network sees (joined in this order), or
            None for the whole sample.
        combined: whether it counts in the combined logit the generator trains against
            (CycleGAN's domain-A discriminator is trained but critic of the other generator).
        shuffle_groups: for shuffled batches, the groups of parts that move together
            (a dependency pair of a node in a factorisation tree shuffles its children);
            None: every part on its own.
    """

    name: str
    real: Batch
    fake: Batch
    sign: float = 1.0
    parts: tuple[int, ...] | None = None
    combined: bool = True
    shuffle_groups: tuple[tuple[int, ...], ...] | None = None

    def __post_init__(self) -> None:
        for batch in (self.real, self.fake):
            if batch.source == PART and not self.parts:
                raise ValueError(f"term {self.name!r} reads observations of its parts, so it needs the parts it sees; "
                                 f"got parts={self.parts}")


def marginal(i: int) -> Term:
    """D_i: part i of real data against part i of generated samples."""
    return Term(f"marginal_{i}", real=Batch(PART), fake=Batch(GENERATED), parts=(i,))


def p_dependency(name: str = "dep_p", parts: tuple[int, ...] | None = None,
                 groups: tuple[tuple[int, ...], ...] | None = None) -> Term:
    """D_P: complete real samples against the same samples with their parts (or the
    ``groups`` of ``parts``) shuffled."""
    return Term(name, real=Batch(PAIRED), fake=Batch(PAIRED, shuffled=True), parts=parts, shuffle_groups=groups)


def q_dependency(name: str = "dep_q", parts: tuple[int, ...] | None = None,
                 groups: tuple[tuple[int, ...], ...] | None = None) -> Term:
    """D_Q (sign −1): generated samples against the same samples with their parts (or
    the ``groups`` of ``parts``) shuffled."""
    return Term(name, real=Batch(GENERATED), fake=Batch(GENERATED, shuffled=True), sign=-1.0, parts=parts,
                shuffle_groups=groups)


def observed_dependency(name: str, parts: tuple[int, ...], groups: tuple[tuple[int, ...], ...]) -> Term:
    """D_P of an inner split of a factorisation tree: real observations holding all of
    ``parts`` together against the same observations with the ``groups`` (the split's
    children) shuffled. Data with a whole part feeds the pair that splits it."""
    return Term(name, real=Batch(PART), fake=Batch(PART, shuffled=True), parts=parts, shuffle_groups=groups)


def joint(name: str = "joint", parts: tuple[int, ...] | None = None) -> Term:
    """The GAN baseline's one discriminator: complete real samples against generated ones
    (``parts``: the parts it sees; None: whole samples)."""
    return Term(name, real=Batch(PAIRED), fake=Batch(GENERATED), parts=parts)


# Term selections by name (an augmentation's or a penalty's ``terms``): the terms that
# see several parts together (D_P, D_Q, inner pairs, the GAN's joint discriminator); of
# those, the ones whose real rows are generated samples (D_Q of every split); or all.
DEPENDENCY, Q_DEPENDENCY, ALL = "dependency", "q_dependency", "all"
SELECTIONS = (DEPENDENCY, Q_DEPENDENCY, ALL)


def sees_several_parts(term: Term, num_parts: int) -> bool:
    """Whether ``term``'s network sees more than one part of a sample."""
    return len(term.parts) > 1 if term.parts is not None else num_parts > 1


def check_selection(spec: str | Sequence[str], what: str) -> str | tuple[str, ...]:
    """``spec`` (``dependency``, ``all`` or term names) checked and normalised."""
    if isinstance(spec, str):
        if spec not in SELECTIONS:
            raise ValueError(f"{what}={spec!r}: one of {', '.join(SELECTIONS)}, or a list of term names")
        return spec
    return tuple(str(t) for t in spec)


def select_terms(spec: str | Sequence[str], terms: Sequence[Term], num_parts: int, what: str) -> tuple[str, ...]:
    """The names of the ``terms`` that ``spec`` picks, in the terms' order; a listed name
    that is no term is an error naming ``what`` (the config key) and the terms."""
    names = [t.name for t in terms]
    if spec == ALL:
        return tuple(names)
    if spec in (DEPENDENCY, Q_DEPENDENCY):
        picked = tuple(t.name for t in terms if sees_several_parts(t, num_parts)
                       and (spec == DEPENDENCY or t.real.source == GENERATED))
        if not picked:  # a remedy that applies to nothing would be a silent no-op
            raise ValueError(f"{what}={spec} selects no term of this model (its terms: {names}); "
                             f"choose another selection ({', '.join(x for x in SELECTIONS if x != spec)}) or names from that list")
        return picked
    missing = [n for n in spec if n not in names]
    if missing:
        raise ValueError(f"{what} names {missing}, which are not terms of this model: {names}")
    return tuple(n for n in names if n in spec)


def input_shape(term: Term, factorisation: BaseFactorisation, sample_shape: Sequence[int]) -> tuple[int, ...]:
    """Shape of one input of ``term``'s network, for joint samples of ``sample_shape``."""
    if term.parts is None:
        return tuple(int(s) for s in sample_shape)
    return factorisation.joined_shape(sample_shape, term.parts)


def combine(logits: Mapping[str, Tensor], terms: Sequence[Term]) -> Tensor:
    """The combined logit ``(N,)``: Σ sign · logit over the ``terms`` that count in it,
    in the terms' order, in fp32 whatever precision the logits came in."""
    total: Tensor | None = None
    for term in terms:
        if not term.combined:
            continue
        logit = logits[term.name].float()
        signed = logit if term.sign == 1.0 else (-logit if term.sign == -1.0 else term.sign * logit)
        total = signed if total is None else total + signed
    if total is None:
        raise ValueError("a combined discriminator needs at least one term in its combined logit")
    return total
