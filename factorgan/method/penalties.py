"""Gradient penalties on sub-discriminators (docs/experiments/pairing.md).

R1 (Mescheder et al. 2018): γ/2 · E‖∇_x d(x)‖² on a term's real rows, added to that
term's discriminator loss. It keeps a discriminator flat around the data it has seen,
which is what memorising a few pairs breaks. The gradient is taken at the network's
input (after any augmentation), per sample, and trained through (double backward).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from factorgan.method.terms import DEPENDENCY, Term, check_selection, select_terms


class R1Penalty:
    """γ/2 · mean over real rows of ‖∂d/∂x‖² for the chosen terms.

    Args:
        gamma: the weight γ.
        terms: ``dependency`` (D_P, D_Q, the GAN's joint discriminator),
            ``q_dependency`` (D_Q of every split: the terms whose real rows are
            generated), ``all``, or a list of term names.
    """

    def __init__(self, gamma: float = 1.0, terms: str | Sequence[str] = DEPENDENCY) -> None:
        if not gamma > 0:
            raise ValueError(f"penalty.gamma={gamma} must be > 0 (or penalty=null)")
        self.gamma = float(gamma)
        self.terms = check_selection(terms, "penalty.terms")

    def select(self, terms: Sequence[Term], num_parts: int) -> tuple[str, ...]:
        """The names of the ``terms`` this penalty applies to."""
        return select_terms(self.terms, terms, num_parts, "penalty.terms")

    def __call__(self, real_logits: Tensor, inputs: Tensor, n_real: int) -> Tensor:
        """The penalty (0-dim) from the logits of the first ``n_real`` rows of ``inputs``
        ``(N, ...)`` (a leaf that requires grad), differentiable for the D step."""
        (grad,) = torch.autograd.grad(real_logits.float().sum(), inputs, create_graph=True)
        return 0.5 * self.gamma * grad[:n_real].float().pow(2).flatten(1).sum(1).mean()

    def __repr__(self) -> str:
        return f"R1Penalty(gamma={self.gamma}, terms={self.terms!r})"
