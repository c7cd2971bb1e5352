"""Factorisation trees: one structure for flat, hierarchical and autoregressive FactorGAN
(docs/method.md; paper, Appendix A.3).

A node of a tree covers some of the factorisation's atomic parts. A *leaf* gets a
marginal discriminator on its parts; a *split* divides its parts among its children and
gets a dependency pair (D_P, D_Q) that tells its parts together from its children
shuffled independently of one another. The combined logit is the signed sum over the
tree, docs/method.md's formula applied at every split:

    d_C(x) = Σ_splits [d_P^n(x_n) − d_Q^n(x_n)] + Σ_leaves d_l(x_l)

With every sub-discriminator optimal the sum telescopes: each split's numerator p(x_n)
cancels the denominator Π_c p(x_c) of its parent, each leaf's marginal cancels its own
denominator, and only log p(x) / q(x) is left (Theorem 1, tests/method/test_tree.py).

- flat FactorGAN: a root split into one leaf per part, ``[0, 1, 2, 3]``;
- hierarchical (A.3.1, eq. 7): a child split again, ``[[0, 1], [2, 3]]``;
- autoregressive (A.3.2, eq. 8): a left-deep chain ``[[[0, 1], 2], 3]``: the split at
  prefix x_1..x_t tells it from x_1..x_{t-1} with an independently drawn x_t
  (:meth:`FactorisationTree.chain`, ``tree: chain`` in a config).

Config form (:meth:`FactorisationTree.from_config`): an int is a one-part leaf, a list a
split into its items, ``{leaf: [0, 1]}`` a leaf on several parts (one marginal on them
together), and the strings ``flat`` / ``chain`` those trees over all parts.

Data per node (:meth:`factorgan.data.interface.TrainingData.sample_observed`): a leaf's
marginal trains on every observation of its parts (a half-digit seen alone feeds the
marginal of that half); an inner split's D_P on every observation holding its parts
together (a whole digit seen without its partner feeds the split of that digit into
halves); the root's D_P on the complete samples. Datasets that know only complete
samples and isolated parts (the paper's) have several parts together only in their
paired samples; users' pools (:class:`factorgan.data.pools.PooledData`) say per sample
which parts it holds.

Term names name their node: ``marginal_<i>`` (``marginal_0-1`` for a leaf on parts 0 and
1), ``dep_p`` / ``dep_q`` for the root's pair (the whole sample, as in flat FactorGAN),
``dep_p_<child>_<child>...`` for an inner split, a child written as its parts joined by
``-`` (``dep_p_0-1_2``: parts 0 and 1 together against part 2). Only word characters and
``-``: they are TensorBoard tags (``loss/d_<name>``) and module keys.

A factorisation that cannot show a node's parts as one tensor (a grid's quadrants) shows
them as the whole sample with the other parts zeroed (:class:`MaskedViews`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from factorgan.errors import ConfigError
from factorgan.method.factorisation import BaseFactorisation
from factorgan.method.terms import (GENERATED, PART, Batch, Term, marginal, observed_dependency, p_dependency,
                                   q_dependency)


@dataclass(frozen=True)
class Node:
    """A leaf on ``parts`` (no ``children``), or a split of ``parts`` into ``children``
    (their parts, concatenated in order)."""

    parts: tuple[int, ...]
    children: tuple["Node", ...] = ()

    @property
    def is_leaf(self) -> bool:
        return not self.children

    @staticmethod
    def leaf(*parts: int) -> "Node":
        return Node(tuple(parts))

    @staticmethod
    def split(*children: "Node") -> "Node":
        return Node(tuple(p for c in children for p in c.parts), tuple(children))

    def label(self) -> str:
        """The node as it appears in term names: its parts joined by ``-``."""
        return "-".join(str(p) for p in self.parts)

    def walk(self) -> list["Node"]:
        """This node and every node below it, depth first, parents before children."""
        return [self] + [n for c in self.children for n in c.walk()]


def _parse(spec: Any, where: str) -> Node:
    """A node from config data (see the module docstring); ``where`` locates it in errors."""
    if isinstance(spec, bool) or isinstance(spec, str):
        raise ConfigError(f"model.combined.tree{where}: {spec!r} is not a part index, a list or {{leaf: [...]}}")
    if isinstance(spec, int):
        return Node.leaf(spec)
    if isinstance(spec, Mapping):
        if set(spec) != {"leaf"}:
            raise ConfigError(
                f"model.combined.tree{where}: a mapping must be {{leaf: [part, ...]}}, got {dict(spec)}")
        parts = spec["leaf"]
        parts = [parts] if isinstance(parts, int) else list(parts)
        if not parts or not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
            raise ConfigError(f"model.combined.tree{where}: a leaf lists part indices, got {parts!r}")
        return Node.leaf(*parts)
    if isinstance(spec, Sequence):
        if len(spec) < 2:
            raise ConfigError(
                f"model.combined.tree{where}: a split needs at least 2 children, got {list(spec)!r} "
                "(a leaf on several parts is written {leaf: [0, 1]})"
            )
        return Node.split(*(_parse(c, f"{where}[{i}]") for i, c in enumerate(spec)))
    raise ConfigError(f"model.combined.tree{where}: {spec!r} is not a part index, a list or {{leaf: [...]}}")


@dataclass(frozen=True)
class FactorisationTree:
    """A factorisation tree over the parts ``0 .. K-1`` (every part in exactly one leaf;
    the root is a split)."""

    root: Node

    def __post_init__(self) -> None:
        if self.root.is_leaf:
            raise ConfigError(
                f"model.combined.tree={self.describe_node(self.root)} is a single leaf, but the root must split "
                "the sample into at least 2 children: e.g. [[0, 1], [2, 3]], flat or chain; a leaf may be a "
                "child ([{leaf: [0, 1]}, 2, 3]). One marginal on the whole sample is a plain GAN: model=gan")

    # ---- construction ---------------------------------------------------------------
    @classmethod
    def flat(cls, num_parts: int) -> "FactorisationTree":
        """Flat FactorGAN: the root split into one leaf per part."""
        return cls(Node.split(*(Node.leaf(i) for i in range(num_parts))))

    @classmethod
    def chain(cls, order: int | Sequence[int]) -> "FactorisationTree":
        """Autoregressive FactorGAN over ``order`` (a part count K: 0 .. K-1): a split per
        prefix, x_1..x_t against x_1..x_{t-1} and x_t, and a marginal per step."""
        steps = list(range(order)) if isinstance(order, int) else [int(i) for i in order]
        if len(steps) < 2:
            raise ConfigError(f"an autoregressive chain needs at least 2 steps, got {steps}")
        node = Node.leaf(steps[0])
        for step in steps[1:]:
            node = Node.split(node, Node.leaf(step))
        return cls(node)

    @classmethod
    def from_config(cls, spec: Any, num_parts: int) -> "FactorisationTree":
        """The tree a config describes (module docstring), checked against ``num_parts``."""
        if spec is None or spec == "flat":
            tree = cls.flat(num_parts)
        elif spec == "chain":
            tree = cls.chain(num_parts)
        elif isinstance(spec, str):
            raise ConfigError(f"model.combined.tree={spec!r}: give flat, chain, or nested lists of part indices")
        else:
            tree = cls(_parse(spec, ""))
        tree.check(num_parts)
        return tree

    def check(self, num_parts: int) -> None:
        """Raise :class:`ConfigError` unless every part 0 .. K-1 is in exactly one leaf."""
        parts = sorted(self.root.parts)
        if parts != list(range(num_parts)):
            dupes = sorted({p for p in parts if parts.count(p) > 1})
            missing = sorted(set(range(num_parts)) - set(parts))
            extra = sorted(set(parts) - set(range(num_parts)))
            raise ConfigError(
                f"model.combined.tree must place each of the factorisation's {num_parts} parts "
                f"(0..{num_parts - 1}) in exactly one leaf; "
                + "; ".join(f"{what}: {ps}" for what, ps in
                            (("repeated", dupes), ("missing", missing), ("not a part", extra)) if ps)
            )

    # ---- the terms ------------------------------------------------------------------
    @property
    def leaves(self) -> list[Node]:
        return [n for n in self.root.walk() if n.is_leaf]

    @property
    def splits(self) -> list[Node]:
        """The splits, root first, then depth first."""
        return [n for n in self.root.walk() if not n.is_leaf]

    def split_name(self, node: Node) -> str:
        """The suffix of a split's D_P / D_Q names: none for the root, else its children."""
        return "" if node is self.root else "_" + "_".join(c.label() for c in node.children)

    def terms(self, input_parts: int = 0, dep_p: bool = True, dep_q: bool = True,
              see_inputs: bool = True) -> list[Term]:
        """The sub-discriminators: a marginal per leaf (in leaf order), then D_P and D_Q per
        split (root first). The flat tree's are FactorGAN's
        (:func:`factorgan.method.variants.factorgan_terms` returns them).

        ``input_parts``: the leading parts a conditional generator takes as input
        (q = p on them, so a leaf or split on inputs alone has no term); ``dep_p=False``:
        every d_P ≡ 0 (FactorGAN-no-cp); ``see_inputs=False``: terms do not see the
        input parts (they follow from the generated ones).
        """
        num_parts = len(self.root.parts)

        def seen(parts: tuple[int, ...]) -> tuple[int, ...]:
            return parts if see_inputs else tuple(p for p in parts if p >= input_parts)

        def generated(parts: tuple[int, ...]) -> bool:
            return any(p >= input_parts for p in parts)

        terms: list[Term] = []
        for leaf in self.leaves:
            view = seen(leaf.parts)
            if not generated(leaf.parts):
                continue
            if len(view) == 1:
                terms.append(marginal(view[0]))
            else:  # every observation holding these parts together
                terms.append(Term(f"marginal_{'-'.join(map(str, view))}", real=Batch(PART),
                                  fake=Batch(GENERATED), parts=view))
        for node in self.splits:
            view = seen(node.parts)
            whole = node is self.root
            if not generated(node.parts) or (not whole and sum(1 for c in node.children if seen(c.parts)) < 2):
                continue  # nothing to tell apart (the root keeps its pair, as flat FactorGAN does)
            parts = None if whole and len(view) == num_parts else view
            singles = all(len(c.parts) == 1 for c in node.children)
            # The root's default shuffle (each part on its own, part 0 stays) is a split into
            # single parts: keep today's terms exactly; otherwise shuffle the children.
            groups = None if whole and singles else tuple(c.parts for c in node.children)
            suffix = self.split_name(node)
            if dep_p and whole:  # the whole sample: the complete (paired) samples
                terms.append(p_dependency(f"dep_p{suffix}", parts=parts, groups=groups))
            elif dep_p:  # a part split again: every observation holding that part whole
                terms.append(observed_dependency(f"dep_p{suffix}", view, groups))  # type: ignore[arg-type]
            if dep_q:
                terms.append(q_dependency(f"dep_q{suffix}", parts=parts, groups=groups))
        return terms

    @staticmethod
    def describe_node(node: Node) -> str:
        """A leaf as the config writes it: ``3`` or ``{leaf: [0, 1]}``."""
        return str(node.parts[0]) if len(node.parts) == 1 else f"{{leaf: {list(node.parts)}}}"

    def describe(self) -> str:
        """The tree in config form, e.g. ``[[0, 1], 2]``."""
        def show(n: Node) -> str:
            if n.is_leaf:
                return self.describe_node(n)
            return "[" + ", ".join(show(c) for c in n.children) + "]"
        return show(self.root)


class MaskedViews(BaseFactorisation):
    """``inner`` (a factorisation), letting a term see any set of parts: a set ``inner``
    cannot join into one tensor (a grid's top two quadrants) is shown as the whole sample
    with the other parts zeroed. A function of the seen parts alone, so Theorem 1 holds;
    everything else is ``inner``'s. ``mask_all``: show every set of parts but a single
    part or all of them that way (so terms on different sets take one input shape and
    can share a network)."""

    def __init__(self, inner: BaseFactorisation, sample_shape: Sequence[int], mask_all: bool = False) -> None:
        self.inner = inner
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.mask_all = mask_all

    def joins(self, which: Sequence[int]) -> bool:
        """Whether the parts ``which`` are shown as one tensor of their own."""
        if self.mask_all and 1 < len(which) < self.num_parts:
            return False
        try:
            self.inner.joined_shape(self.sample_shape, which)
        except ValueError:
            return False
        return True

    @property
    def num_parts(self) -> int:
        return self.inner.num_parts

    def check_shape(self, sample_shape: Sequence[int]) -> None:
        self.inner.check_shape(sample_shape)

    def part_shape(self, sample_shape: Sequence[int], i: int) -> tuple[int, ...]:
        return self.inner.part_shape(sample_shape, i)

    def split(self, x: Tensor) -> list[Tensor]:
        return self.inner.split(x)

    def join(self, parts: Sequence[Tensor]) -> Tensor:
        return self.inner.join(parts)

    def join_some(self, parts: Sequence[Tensor], which: Sequence[int]) -> Tensor:
        if self.joins(which):
            return self.inner.join_some(parts, which)
        given = dict(zip(which, parts))
        n, like = parts[0].shape[0], parts[0]
        full = [given[i] if i in given else
                like.new_zeros((n, *self.inner.part_shape(self.sample_shape, i)))
                for i in range(self.num_parts)]
        return self.inner.join(full)

    def split_some(self, x: Tensor, which: Sequence[int]) -> list[Tensor]:
        if self.joins(which):
            return self.inner.split_some(x, which)
        parts = self.inner.split(x)  # the whole sample, the parts outside ``which`` zero
        return [parts[i] for i in which]

    def joined_shape(self, sample_shape: Sequence[int], which: Sequence[int]) -> tuple[int, ...]:
        if self.joins(which):
            return self.inner.joined_shape(sample_shape, which)
        return tuple(int(s) for s in sample_shape)

    def display_groups(self) -> list[int] | None:
        return self.inner.display_groups()

    def __repr__(self) -> str:
        return f"MaskedViews({self.inner!r})"
