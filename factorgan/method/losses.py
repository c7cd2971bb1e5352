"""Losses on logits: the discriminators' BCE and the table of generator objectives.

Every generator objective is a small function of V = d_C(G(z)), the combined logit on
generated samples, returning a per-sample loss to be minimised (Poole et al., 2016,
Appendix A). Objectives are picked by name from :data:`GENERATOR_OBJECTIVES`
(``standard``, ``reverse_kl``, ``forward_kl``, ``alpha``) or an alias from
:data:`OBJECTIVE_ALIASES` (``kl``: the official code's name for reverse KL).
"""
from __future__ import annotations

import functools
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

Objective = Callable[[Tensor], Tensor]


def discriminator_bce(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Ordinary GAN discriminator loss: BCE with label 1 on real, 0 on fake logits.

    ``real_logits``: ``(N,)``, ``fake_logits``: ``(M,)``; returns a scalar, the mean over
    real plus the mean over fake (paper eq. 1).
    """
    # softplus(-d) = -log σ(d), softplus(d) = -log(1 - σ(d)).
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def discriminator_accuracy(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Fraction of real logits > 0 and fake logits < 0, as a 0-dim tensor (no host sync)."""
    correct = (real_logits > 0).float().sum() + (fake_logits < 0).float().sum()
    return correct / (real_logits.numel() + fake_logits.numel())


def discriminator_bce_and_accuracy(logits: Tensor, n_real: int) -> tuple[Tensor, Tensor]:
    """BCE loss and accuracy from one forward pass over ``cat([real, fake])``.

    ``logits``: ``(n_real + n_fake,)``, real first. Equals
    ``discriminator_bce(real, fake)`` and ``discriminator_accuracy(real, fake)``; with as
    many real as fake logits it needs a handful of kernels instead of a dozen: with s = ±1 for
    real/fake, the loss is 2·mean(softplus(−s·d)) and the accuracy mean(s·d > 0).
    """
    logits = logits.float()  # mixed precision: the loss in fp32
    n_fake = logits.shape[0] - n_real
    if n_fake != n_real:
        real, fake = logits[:n_real], logits[n_real:]
        return discriminator_bce(real, fake), discriminator_accuracy(real.detach(), fake.detach())
    signed = torch.cat([logits[:n_real], logits[n_real:].neg()])
    loss = F.softplus(-signed).mean() * 2.0
    accuracy = (signed.detach() > 0).float().mean()
    return loss, accuracy


def standard(v: Tensor) -> Tensor:
    """Non-saturating GAN objective, the paper's default: log(1 + e^-V)."""
    return F.softplus(-v)


def reverse_kl(v: Tensor) -> Tensor:
    """Reverse KL divergence KL(q‖p) (the official FactorGAN code's ``KL``): -V."""
    return -v


def forward_kl(v: Tensor) -> Tensor:
    """Forward KL divergence KL(p‖q): V · e^V."""
    return v * torch.exp(v)


def alpha_divergence(v: Tensor, alpha: float = 0.5) -> Tensor:
    """α-divergence: (e^(αV) - 1 - α(e^V - 1)) / (α(α - 1)); α ∉ {0, 1}.

    α → 0 is reverse KL, α = 0.5 squared Hellinger, α → 1 forward KL.
    """
    if alpha in (0.0, 1.0):
        raise ValueError(
            "alpha must not be 0 or 1: use loss=reverse_kl (α→0) or loss=forward_kl (α→1)"
        )
    return (torch.expm1(alpha * v) - alpha * torch.expm1(v)) / (alpha * (alpha - 1.0))


GENERATOR_OBJECTIVES: dict[str, Callable[..., Tensor]] = {
    "standard": standard,
    "reverse_kl": reverse_kl,
    "forward_kl": forward_kl,
    "alpha": alpha_divergence,
}

# Other names for the same objectives. ``kl`` is the official code's name for reverse KL;
# earlier runs' config.yaml hold ``name: kl`` and must keep building.
OBJECTIVE_ALIASES: dict[str, str] = {"kl": "reverse_kl"}


def canonical_objective_name(name: str) -> str:
    """The table's name for ``name``: an alias (``kl``) maps to ``reverse_kl``."""
    return OBJECTIVE_ALIASES.get(name, name)


def generator_objective(name: str, **params: float) -> Objective:
    """Look up a generator objective by name, binding its parameters (e.g. ``alpha``)."""
    try:
        fn = GENERATOR_OBJECTIVES[canonical_objective_name(name)]
    except KeyError:
        choices = sorted([*GENERATOR_OBJECTIVES, *OBJECTIVE_ALIASES])
        raise ValueError(f"unknown generator objective {name!r}; choose one of {choices}") from None
    return functools.partial(fn, **params) if params else fn
