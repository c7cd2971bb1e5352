"""The combined discriminator: sign convention, Theorem 1, and each term's data."""
import math

import pytest
import torch
from torch import nn

from factorgan.method.discriminator import CombinedDiscriminator, RealBatch
from factorgan.method.terms import combine
from factorgan.method.variants import factorgan_terms, factorised_discriminator, joint_discriminator
from factorgan.nets.mlp import MLPDiscriminator
from factorgan.method.factorisation import Factorisation

V = 3  # values per part in the discrete test space


class TableNet(nn.Module):
    """A logit per discrete input: inputs ``(N, k)`` with values in {0..V-1}."""

    def __init__(self, in_shape, width_mult=1):
        super().__init__()
        self.k = int(torch.tensor(in_shape).prod())
        self.table = nn.Parameter(torch.zeros(V**self.k))

    def index(self, x):
        x = x.reshape(x.shape[0], -1).long()
        weights = V ** torch.arange(self.k - 1, -1, -1)
        return (x * weights).sum(1)

    def forward(self, x):
        return self.table[self.index(x)]


def all_states():
    return torch.cartesian_prod(torch.arange(V), torch.arange(V)).float()  # (9, 2)


def joint(seed):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(V, V, generator=g) + 0.1
    return w / w.sum()  # p[a, b]


def discrete_discriminator(dep_p=True):
    return factorised_discriminator(
        TableNet, sample_shape=(2,), factorisation=Factorisation(0, [1, 1]), dep_p=dep_p,
        spectral_norm=False,
    )


def test_combine_is_the_signed_sum_of_terms():
    terms = {n: torch.randn(5) for n in ("marginal_0", "marginal_1", "dep_p", "dep_q")}
    expected = terms["marginal_0"] + terms["marginal_1"] + terms["dep_p"] - terms["dep_q"]
    torch.testing.assert_close(combine(terms, factorgan_terms(2)), expected)


def test_forward_equals_combined_terms_for_networks():
    d = factorised_discriminator(
        lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=16), (1, 8, 4), Factorisation(1, [4, 4])
    ).eval()  # eval: spectral norm's power iteration would change the weights between calls
    x = torch.rand(6, 1, 8, 4)
    terms = d.term_logits(x)
    assert set(terms) == {"marginal_0", "marginal_1", "dep_p", "dep_q"}
    torch.testing.assert_close(d(x), terms["marginal_0"] + terms["marginal_1"] + terms["dep_p"] - terms["dep_q"])


def test_theorem1_optimal_terms_give_the_optimal_joint_discriminator():
    p, q = joint(0), joint(1)
    d = discrete_discriminator()
    with torch.no_grad():
        p1, p2, q1, q2 = p.sum(1), p.sum(0), q.sum(1), q.sum(0)
        # Optimal BCE discriminators: d = log(real density / fake density).
        d.nets["marginal_0"].table.copy_(torch.log(p1 / q1))
        d.nets["marginal_1"].table.copy_(torch.log(p2 / q2))
        d.nets["dep_p"].table.copy_(torch.log(p / torch.outer(p1, p2)).flatten())
        d.nets["dep_q"].table.copy_(torch.log(q / torch.outer(q1, q2)).flatten())
    x = all_states()
    got = torch.sigmoid(d(x))
    pf, qf = p.flatten(), q.flatten()
    torch.testing.assert_close(got, pf / (pf + qf), rtol=1e-5, atol=1e-6)


def _sample(dist, n, g):
    idx = torch.multinomial(dist.flatten(), n, replacement=True, generator=g)
    return torch.stack([idx // V, idx % V], 1).float()


@pytest.mark.parametrize("dep_p", [True, False])
def test_training_the_terms_with_their_losses_recovers_theorem1(dep_p):
    """Each term learns from the data docs/method.md gives it (marginals: parts of real vs
    fake; D_P: paired vs shuffled paired; D_Q: fake vs shuffled fake), so trained terms
    combine to p/(p+q) — or, without D_P (no-cp), to the independent-parts optimum."""
    torch.manual_seed(0)
    p, q = joint(2), joint(3)
    d = discrete_discriminator(dep_p)
    opt = torch.optim.Adam(d.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    n = 4096
    for _ in range(400):
        real = _sample(p, n, g)
        parts = {0: _sample(p, n, g)[:, :1], 1: _sample(p, n, g)[:, 1:]}
        fake = _sample(q, n, g)
        losses = d.losses(RealBatch(paired=real if dep_p else None, parts=parts), fake, g)
        opt.zero_grad()
        sum(t.loss for t in losses.values()).backward()
        opt.step()
    got = torch.sigmoid(d(all_states())).detach()
    p1, p2 = p.sum(1), p.sum(0)
    target_p = p.flatten() if dep_p else torch.outer(p1, p2).flatten()
    torch.testing.assert_close(got, target_p / (target_p + q.flatten()), rtol=0, atol=0.03)


def test_losses_use_the_right_real_and_fake_data():
    """Probe each term's inputs with recording networks."""
    seen = {}

    class Recorder(nn.Module):
        def __init__(self, in_shape, width_mult=1):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))
            self.in_shape = in_shape

        def forward(self, x):
            seen.setdefault(self.name, []).append(x.clone())
            return x.flatten(1).sum(1) * self.w

    f = Factorisation(1, [2, 2])
    d = factorised_discriminator(Recorder, (1, 4, 1), f, spectral_norm=False)
    for name, net in d.nets.items():
        net.name = name
    n = 8
    paired = torch.arange(n * 4, dtype=torch.float32).view(n, 1, 4, 1)
    fake = -paired - 1
    parts = {0: torch.full((n, 1, 2, 1), 100.0), 1: torch.full((n, 1, 2, 1), 200.0)}
    d.losses(RealBatch(paired=paired, parts=parts), fake, torch.Generator().manual_seed(0))
    real_m0, fake_m0 = seen["marginal_0"][0][:n], seen["marginal_0"][0][n:]
    torch.testing.assert_close(real_m0, parts[0])
    torch.testing.assert_close(fake_m0, f.split(fake)[0])
    torch.testing.assert_close(seen["marginal_1"][0][n:], f.split(fake)[1])
    real_p, fake_p = seen["dep_p"][0][:n], seen["dep_p"][0][n:]
    torch.testing.assert_close(real_p, paired)
    assert torch.all(fake_p.min() >= 0)  # D_P's fake batch is made of real paired parts
    assert not torch.equal(fake_p, paired)
    real_q, fake_q = seen["dep_q"][0][:n], seen["dep_q"][0][n:]
    torch.testing.assert_close(real_q, fake)
    assert torch.all(fake_q < 0) and not torch.equal(fake_q, fake)


def test_variants_have_the_papers_terms():
    f = Factorisation(1, [4, 4])
    make = lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8, width_mult=width_mult)  # noqa: E731
    no_cp = factorised_discriminator(make, (1, 8, 4), f, dep_p=False)
    assert set(no_cp.nets) == {"marginal_0", "marginal_1", "dep_q"} and not no_cp.needs_paired
    cond = factorised_discriminator(make, (1, 8, 4), f, input_parts=1)
    assert set(cond.nets) == {"marginal_1", "dep_p", "dep_q"} and cond.marginal_parts == (1,)
    gan = joint_discriminator(make, (1, 8, 4), f)
    big = joint_discriminator(make, (1, 8, 4), f, width_mult=2)
    assert set(gan.nets) == {"joint"} and gan.needs_paired
    n_gan = sum(p.numel() for p in gan.parameters())
    n_big = sum(p.numel() for p in big.parameters())
    assert n_big > 1.8 * n_gan
    x = torch.rand(3, 1, 8, 4)
    gan.eval()
    torch.testing.assert_close(gan(x), gan.term_logits(x)["joint"])
