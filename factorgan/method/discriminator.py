"""The combined discriminator: sub-discriminator networks held per :class:`Term`, and
the one place their logits become the logit the generator trains against.

``terms(x)`` is each term's logit on joint samples (TensorBoard shows every one),
``forward(x)`` the combined logit Σ sign · d_term (:func:`factorgan.method.terms.combine`;
d_C = d_P − d_Q + Σ_i d_i for FactorGAN), and ``losses(real, fake)`` trains every term
with the ordinary BCE GAN loss on the real and fake rows its :class:`Term` names.

Real and fake rows go through a network in one forward pass (one spectral-norm power
iteration per step instead of two, and half the kernel launches). With
``stack_same_shape``, networks of one stackable architecture and input shape (e.g. the
MLP marginals of equal parts, or D_P and D_Q) are held as one batched network
(:mod:`factorgan.nets.stacked`) and run their terms in one pass; ``terms()`` still names
every term.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import torch
from torch import Tensor, nn

from factorgan.method.augment import Augment
from factorgan.method.factorisation import BaseFactorisation
from factorgan.method.losses import discriminator_bce_and_accuracy
from factorgan.method.penalties import R1Penalty
from factorgan.method.terms import GENERATED, PAIRED, PART, Batch, Term, combine, input_shape
from factorgan.nets.spectral_norm import apply_spectral_norm


@dataclass
class RealBatch:
    """Real data for one discriminator step.

    ``paired``: ``(N, *sample_shape)`` complete samples, or None when no term needs them;
    ``parts``: part index -> ``(N, *part_shape)`` isolated real observations of that part;
    ``observed``: a group of several parts -> ``(N, *sample_shape)`` real observations
    holding those parts together, the other parts zero (an inner split of a
    factorisation tree; :meth:`TrainingData.sample_observed`).
    """

    paired: Tensor | None = None
    parts: dict[int, Tensor] = field(default_factory=dict)
    observed: dict[tuple[int, ...], Tensor] = field(default_factory=dict)


@dataclass
class TermLoss:
    loss: Tensor  # 0-dim BCE loss
    accuracy: Tensor  # 0-dim fraction of correct real/fake decisions
    r_t: Tensor | None = None  # 0-dim mean sign of the real rows' logits (ADA's overfitting signal)
    penalty: Tensor | None = None  # 0-dim gradient penalty (R1) added to the loss, if any

    @property
    def total(self) -> Tensor:
        """What the discriminator step minimises for this term: BCE plus any penalty."""
        return self.loss if self.penalty is None else self.loss + self.penalty


def real_fake(real: Tensor, fake: Tensor) -> Tensor:
    """One sub-discriminator's D-step batch: real first, then fake, ``(N + M, ...)``."""
    return torch.cat([real, fake], dim=0)


class CombinedDiscriminator(nn.Module):
    """Sub-discriminator networks, one per term, and their combined logit.

    Args:
        terms: the sub-discriminators (:mod:`factorgan.method.terms`), in the order their
            logits are summed.
        nets: term name -> network mapping its input batch ``(N, *in_shape)`` to logits
            ``(N,)``; networks are registered in the terms' order. Terms may share one
            network object (weight sharing): it is normalised once and never stacked.
        factorisation: how a joint sample splits into parts (the terms' views and shuffles).
        sample_shape: shape of one joint sample (no batch dim).
        spectral_norm: spectral-normalise every ``nn.Linear`` / ``nn.Conv2d`` of ``nets``.
        stack_same_shape: hold networks of one stackable architecture (a class with a
            ``stack`` method) and input shape as one batched network (same maths).
        augment: random transforms in front of the terms it selects, in training mode
            (:mod:`factorgan.method.augment`); its probability p is a buffer of this module.
        penalty: a gradient penalty on the real rows of the terms it selects (R1).
    """

    def __init__(
        self,
        terms: Sequence[Term],
        nets: Mapping[str, nn.Module],
        factorisation: BaseFactorisation,
        sample_shape: Sequence[int],
        spectral_norm: bool = True,
        stack_same_shape: bool = False,
        augment: Augment | None = None,
        penalty: R1Penalty | None = None,
    ) -> None:
        super().__init__()
        names = [t.name for t in terms]
        if len(set(names)) != len(names) or set(names) != set(nets):
            raise ValueError(f"one network per term: terms {names}, networks {sorted(nets)}")
        self.term_list = tuple(terms)
        self.factorisation = factorisation
        self.sample_shape = tuple(int(s) for s in sample_shape)
        self.nets = nn.ModuleDict()
        self.stacks: dict[str, tuple[str, ...]] = {}  # stacked network's key -> its terms
        self._needs_paired = any(b.source == PAIRED for t in terms for b in (t.real, t.fake))
        observed = {t.parts for t in terms for b in (t.real, t.fake) if b.source == PART}
        self._marginal_parts = tuple(sorted(p[0] for p in observed if len(p) == 1))  # type: ignore[index]
        self._observed_groups = tuple(sorted(p for p in observed if len(p) > 1))  # type: ignore[type-var]
        normalised: dict[int, nn.Module] = {}  # a network shared by several terms: normalised once
        for term in terms:
            net = nets[term.name]
            if id(net) not in normalised:
                normalised[id(net)] = apply_spectral_norm(net) if spectral_norm else net
            self.nets[term.name] = normalised[id(net)]
        if stack_same_shape:
            self._stack_same_shape({t.name: self.in_shape(t) for t in terms})
        k = factorisation.num_parts
        self.augment = augment  # a submodule when given: p is saved in checkpoints
        self.augmented = augment.select(terms, k) if augment is not None else ()
        self.adapts_on = augment.adapts_on(terms, self.augmented) if augment is not None else ()
        self.penalty = penalty
        self.penalised = penalty.select(terms, k) if penalty is not None else ()

    # ---- what the terms need (fixed by the terms; read every discriminator step) -----
    @property
    def needs_paired(self) -> bool:
        """Whether any term reads complete real samples."""
        return self._needs_paired

    @property
    def marginal_parts(self) -> tuple[int, ...]:
        """The parts whose isolated real observations some term reads, ascending."""
        return self._marginal_parts

    @property
    def observed_groups(self) -> tuple[tuple[int, ...], ...]:
        """The groups of several parts whose joint real observations some term reads
        (inner splits of a factorisation tree), sorted."""
        return self._observed_groups

    def in_shape(self, term: Term) -> tuple[int, ...]:
        """Shape of one input of ``term``'s network."""
        return input_shape(term, self.factorisation, self.sample_shape)

    def view(self, term: Term, x: Tensor, parts: Sequence[Tensor] | None = None) -> Tensor:
        """What ``term`` sees of joint samples ``x`` ``(N, *sample_shape)`` (``parts``:
        ``x`` already split, to cut it once for every term)."""
        if term.parts is None:
            return x
        parts = self.factorisation.split(x) if parts is None else parts
        if len(term.parts) == 1:
            return parts[term.parts[0]]
        return self.factorisation.join_some([parts[i] for i in term.parts], term.parts)

    def augmented_view(self, term: Term, v: Tensor, rng: torch.Generator | None) -> Tensor:
        """``v``, what ``term`` sees, through the augmentation when the term has one and
        the module is in training mode (transforms act on each part, never across parts;
        random draws from ``rng``)."""
        if self.augment is None or not self.training or term.name not in self.augmented:
            return v
        f = self.factorisation
        which = tuple(range(f.num_parts)) if term.parts is None else term.parts
        parts = self.augment(f.split_some(v, which), rng)
        return parts[0] if len(which) == 1 else f.join_some(parts, which)

    def status(self) -> dict[str, Tensor]:
        """0-dim tensors worth logging beside the losses (the augmentation probability)."""
        return {} if self.augment is None else {"augment/p": self.augment.p.detach().clone()}

    # ---- networks -------------------------------------------------------------------
    def _stack_same_shape(self, in_shapes: dict[str, tuple[int, ...]]) -> None:
        """Replace the networks of each stackable architecture and input shape by one
        stacked network, keyed ``"a+b"``."""
        groups: dict[tuple, list[str]] = defaultdict(list)
        uses = Counter(id(net) for net in self.nets.values())
        for name, net in self.nets.items():
            if uses[id(net)] > 1:
                continue  # shared by several terms (weight sharing): stacking would copy it apart
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

    # ---- the combined logit ---------------------------------------------------------
    def term_logits(self, x: Tensor, rng: torch.Generator | None = None) -> dict[str, Tensor]:
        """Each combined term's logit ``(N,)`` on joint samples ``x`` ``(N, *sample_shape)``
        (in training mode through the terms' augmentation, drawn from ``rng``). The terms
        themselves are :attr:`term_list`."""
        parts = self.factorisation.split(x)
        return self.logits({t.name: self.augmented_view(t, self.view(t, x, parts), rng)
                            for t in self.term_list if t.combined})

    terms = term_logits  # its earlier name (it returns logits, not terms)

    def forward(self, x: Tensor, rng: torch.Generator | None = None) -> Tensor:
        """Combined logit ``(N,)`` on joint samples ``x``."""
        return combine(self.term_logits(x, rng), self.term_list)

    def combine(self, logits: Mapping[str, Tensor]) -> Tensor:
        """The combined logit from :meth:`term_logits`' output."""
        return combine(logits, self.term_list)

    # ---- discriminator losses -------------------------------------------------------
    def batches(self, real: RealBatch, fake: Tensor, rng: torch.Generator | None = None
                ) -> dict[str, tuple[Tensor, Tensor]]:
        """Each term's ``(real, fake)`` rows for one discriminator step, in the terms'
        order (shuffles, then augmentations in training mode, draw from ``rng`` in
        that order)."""
        joint = {PAIRED: real.paired, GENERATED: fake}
        split = {k: self.factorisation.split(x) for k, x in joint.items() if x is not None}  # cut once

        def side(term: Term, batch: Batch) -> Tensor:
            if batch.source == PART and len(term.parts) == 1:  # type: ignore[arg-type]
                return real.parts[term.parts[0]]  # type: ignore[index]
            x = real.observed.get(term.parts) if batch.source == PART else joint[batch.source]  # type: ignore[arg-type]
            if x is None:
                what = f"observations of parts {term.parts}" if batch.source == PART else "paired samples"
                raise ValueError(f"term {term.name!r} needs {what} but the real batch has none")
            if batch.shuffled:
                x = self.factorisation.shuffle(x, rng, term.shuffle_groups)
                return self.view(term, x)
            return self.view(term, x, split.get(batch.source))  # observed groups: not pre-cut

        rows = {t.name: (side(t, t.real), side(t, t.fake)) for t in self.term_list}
        return {t.name: (self.augmented_view(t, rows[t.name][0], rng),
                         self.augmented_view(t, rows[t.name][1], rng)) for t in self.term_list}

    def real_fake_losses(self, batches: dict[str, tuple[Tensor, Tensor]]) -> dict[str, TermLoss]:
        """BCE loss, accuracy, r_t and any penalty per term from its ``(real, fake)``
        batches: each term's real and fake rows go through its network in one pass
        (:func:`real_fake`), and stacked terms run together (:meth:`logits`)."""
        inputs = {name: real_fake(r, f) for name, (r, f) in batches.items()}
        for name in self.penalised:  # the penalty differentiates the logits in the inputs
            inputs[name] = inputs[name].detach().requires_grad_(True)
        out: dict[str, TermLoss] = {}
        for name, logit in self.logits(inputs).items():
            n = batches[name][0].shape[0]
            loss, accuracy = discriminator_bce_and_accuracy(logit, n)
            r_t = torch.sign(logit[:n].detach().float()).mean()
            penalty = self.penalty(logit[:n], inputs[name], n) if name in self.penalised else None  # type: ignore[misc]
            out[name] = TermLoss(loss, accuracy, r_t, penalty)
        if self.augment is not None and self.adapts_on and self.training:
            self.augment.adapt(torch.stack([out[n].r_t for n in self.adapts_on]).mean())  # type: ignore[misc]
        return out

    def losses(self, real: RealBatch, fake: Tensor, rng: torch.Generator | None = None) -> dict[str, TermLoss]:
        """Each term's BCE loss and accuracy for one discriminator step: ``real`` holds
        what :attr:`needs_paired`, :attr:`marginal_parts` and
        :attr:`observed_groups` ask for, ``fake`` is the
        step's generator batch ``(N, *sample_shape)``."""
        return self.real_fake_losses(self.batches(real, fake, rng))
