"""R1 on chosen sub-discriminators (factorgan/method/penalties.py): its value and
gradient on a linear discriminator, the terms it picks, and its place in the D loss."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from factorgan.method.discriminator import CombinedDiscriminator, RealBatch
from factorgan.method.factorisation import Factorisation
from factorgan.method.penalties import R1Penalty
from factorgan.method.variants import factorgan_terms


class Linear(nn.Module):
    """d(x) = w · x + b: ∇_x d = w for every sample."""

    def __init__(self, size: int, seed: int) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(size, generator=g))
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w + self.b


def linear_factorgan(penalty: R1Penalty | None) -> CombinedDiscriminator:
    f = Factorisation(0, [3, 3])
    terms = factorgan_terms(2)
    nets = {"marginal_0": Linear(3, 0), "marginal_1": Linear(3, 1), "dep_p": Linear(6, 2), "dep_q": Linear(6, 3)}
    return CombinedDiscriminator(terms, nets, f, (6,), spectral_norm=False, penalty=penalty)


def losses(d: CombinedDiscriminator):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 6, generator=g)
    return d.losses(RealBatch(paired=x, parts={0: x[:, :3], 1: x[:, 3:]}), torch.rand(32, 6, generator=g), g)


def test_r1_of_a_linear_discriminator_is_half_gamma_times_its_squared_weights_and_trains_them():
    d = linear_factorgan(R1Penalty(gamma=4.0))
    assert d.penalised == ("dep_p", "dep_q")  # dependency: the terms that see both parts
    out = losses(d)
    for name in ("dep_p", "dep_q"):
        w = d.nets[name].w
        torch.testing.assert_close(out[name].penalty, 2.0 * w.detach().pow(2).sum())
        torch.testing.assert_close(out[name].total, out[name].loss + out[name].penalty)
        (grad,) = torch.autograd.grad(out[name].penalty, w, retain_graph=True)
        torch.testing.assert_close(grad, 4.0 * w.detach())  # d/dw (γ/2 ‖w‖²)
    assert out["marginal_0"].penalty is None
    plain = losses(linear_factorgan(None))
    for name in out:  # the BCE itself is unchanged
        torch.testing.assert_close(out[name].loss, plain[name].loss)


def test_r1_terms_by_name_and_bad_settings():
    d = linear_factorgan(R1Penalty(gamma=1.0, terms=["marginal_1"]))
    assert d.penalised == ("marginal_1",)
    with pytest.raises(ValueError, match="penalty.gamma=0"):
        R1Penalty(gamma=0)
    with pytest.raises(ValueError, match=r"penalty.terms names \['dep_x'\]"):
        linear_factorgan(R1Penalty(terms=["dep_x"]))
