"""Differentiable augmentation in front of sub-discriminators (factorgan/method/augment.py):
the transforms' values and gradients, pairs that stay pairs, adaptive p, and Theorem 1
for the augmented distributions."""
from __future__ import annotations

import pytest
import torch

from factorgan.method import augment as aug
from factorgan.method.augment import Augment
from factorgan.method.discriminator import CombinedDiscriminator, RealBatch
from factorgan.method.factorisation import Factorisation
from factorgan.method.terms import DEPENDENCY
from factorgan.method.variants import factorgan_terms, factorised_discriminator, joint_discriminator
from factorgan.nets.mlp import MLPDiscriminator

from method.test_tree import STATES, TableNet, _sample, random_joint


def test_translation_moves_every_pixel_by_whole_pixels_and_zero_fills():
    x = torch.arange(1, 1 + 2 * 8 * 8, dtype=torch.float).view(2, 1, 8, 8)
    # strength 1/4 of 8 pixels: shifts in [-2, 2]; u = 0 -> -2, u -> 1 -> +2
    u = torch.tensor([[0.0, 0.999], [0.5, 0.5]])
    out = aug.translation(x, u, 0.25)
    torch.testing.assert_close(out[0, 0, :6, 2:], x[0, 0, 2:, :6])  # dy = -2 (up), dx = +2 (right)
    assert out[0, 0, 6:].abs().sum() == 0 and out[0, 0, :, :2].abs().sum() == 0
    torch.testing.assert_close(out[1], x[1])  # u = 0.5: no shift


def test_translation_gradient_is_the_shift_back():
    x = torch.randn(3, 2, 6, 5, requires_grad=True)
    w = torch.randn(3, 2, 6, 5)
    u = torch.tensor([[0.1, 0.9], [0.5, 0.2], [0.95, 0.5]])
    (aug.translation(x, u, 0.34) * w).sum().backward()
    # d/dx sum(w * shift(x)) = shift(w) by the opposite offsets
    back = aug.translation(w, 1 - u - 1e-6, 0.34)  # u -> 1 - u mirrors the offset
    torch.testing.assert_close(x.grad, back)


@pytest.mark.parametrize("name", sorted(aug.TRANSFORMS))
def test_every_transform_is_differentiable_and_changes_its_input(name):
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    u = torch.rand(4, 2, generator=torch.Generator().manual_seed(1))
    fn, _, strength = aug.TRANSFORMS[name]
    out = fn(x, u, strength)
    assert out.shape == x.shape and not torch.equal(out, x)
    out.pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_cutout_zeroes_a_rectangle_of_the_asked_size():
    x = torch.ones(5, 1, 8, 8)
    out = aug.cutout(x, torch.rand(5, 2, generator=torch.Generator().manual_seed(0)), 0.5)
    zeros = (out == 0).flatten(1).sum(1)
    assert ((zeros > 0) & (zeros <= 16)).all()  # a 4 x 4 square, clipped at the border
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_image_transforms_on_vector_parts_say_what_fits():
    with pytest.raises(ValueError, match="needs image parts.*brightness"):
        aug.translation(torch.rand(4, 8), torch.rand(4, 2), 0.125)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        Augment(["rotate"])
    with pytest.raises(ValueError, match="augment.p=1.5"):
        Augment(p=1.5)
    with pytest.raises(ValueError, match="augment.terms='some'"):
        Augment(terms="some")
    with pytest.raises(ValueError, match=r"names \['dep_x'\].*'dep_p'"):
        Augment(terms=["dep_x"]).select(factorgan_terms(2), 2)


def _identified(n: int) -> torch.Tensor:
    """Stacked-digit-like samples ``(n, 1, 16, 8)`` whose every pixel of sample i is i + 1."""
    return (torch.arange(1, n + 1, dtype=torch.float).view(n, 1, 1, 1)).expand(n, 1, 16, 8).clone()


@pytest.mark.parametrize("per_part", [True, False])
def test_a_pair_stays_a_pair_through_the_augmented_batches(per_part):
    """Every augmented row of every term holds only its own sample's values (translation
    and cutout zero-fill; nothing moves across samples or across the parts' boundary)."""
    f = Factorisation(1, [8, 8])
    d = factorised_discriminator(lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8), (1, 16, 8), f,
                                 augment=Augment(["translation", "cutout"], terms="all", per_part=per_part, p=1.0))
    n = 64
    x = _identified(n)
    real = RealBatch(paired=x, parts={0: x[:, :, :8], 1: x[:, :, 8:]})
    batches = d.batches(real, x.clone(), torch.Generator().manual_seed(0))
    for name in ("dep_p", "dep_q"):
        rows = batches[name][0]  # real rows: unshuffled pairs
        for i in range(n):
            assert set(rows[i].unique().tolist()) <= {0.0, i + 1.0}, name
        assert not torch.equal(rows, x)  # augmented
    # shuffled rows: each part from one sample, the parts' values from their own rows only
    top, bottom = f.split(batches["dep_p"][1])
    for i in range(n):
        assert len(set(top[i].unique().tolist()) - {0.0}) <= 1 and len(set(bottom[i].unique().tolist()) - {0.0}) <= 1


def test_one_transform_for_the_pair_moves_both_parts_alike():
    f = Factorisation(1, [8, 8])
    x = torch.rand(32, 1, 8, 8).repeat(1, 1, 2, 1)  # bottom part = top part
    for per_part, same in ((False, True), (True, False)):
        a = Augment(["translation"], per_part=per_part)
        top, bottom = a(f.split(x), torch.Generator().manual_seed(3))
        assert torch.equal(top, bottom) is same


def test_augmentation_only_in_training_mode_and_only_on_chosen_terms():
    f = Factorisation(1, [8, 8])
    d = factorised_discriminator(lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8), (1, 16, 8), f,
                                 spectral_norm=False, augment=Augment(["brightness"], terms=DEPENDENCY))
    assert d.augmented == ("dep_p", "dep_q")
    x = torch.rand(8, 1, 16, 8)
    g = torch.Generator().manual_seed(0)
    d.train()
    with_aug = d.term_logits(x, g)
    d.eval()
    plain = d.term_logits(x, g)
    assert not torch.equal(with_aug["dep_p"], plain["dep_p"])
    torch.testing.assert_close(with_aug["marginal_0"], plain["marginal_0"])  # not chosen
    d.train()
    d_gan = joint_discriminator(lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8), (1, 16, 8), f,
                                augment=Augment(["brightness"]))
    assert d_gan.augmented == ("joint",)  # the GAN's one discriminator sees the pair


def test_gradients_flow_through_the_augmentation_to_the_generator_samples():
    f = Factorisation(1, [8, 8])
    d = factorised_discriminator(lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8), (1, 16, 8), f,
                                 augment=Augment(["translation", "cutout", "contrast"], terms="all"))
    fake = torch.rand(6, 1, 16, 8, requires_grad=True)
    d(fake, torch.Generator().manual_seed(0)).sum().backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0


def test_adaptive_p_follows_the_sign_of_r_t_minus_target_and_stays_in_0_1():
    a = Augment(p=0.0, adaptive={"target": 0.6, "speed": 4})
    for _ in range(3):
        a.adapt(torch.tensor(0.9))
    torch.testing.assert_close(a.p, torch.tensor(0.75))
    for _ in range(10):
        a.adapt(torch.tensor(0.9))
    torch.testing.assert_close(a.p, torch.tensor(1.0))
    a.adapt(torch.tensor(0.2))
    torch.testing.assert_close(a.p, torch.tensor(0.75))
    fixed = Augment(p=0.3)
    fixed.adapt(torch.tensor(1.0))
    torch.testing.assert_close(fixed.p, torch.tensor(0.3))


def test_p_is_steered_by_the_terms_that_read_real_data_and_saved_with_the_discriminator():
    f = Factorisation(1, [8, 8])
    d = factorised_discriminator(lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8), (1, 16, 8), f,
                                 augment=Augment(p=0.5, adaptive={"target": 0.6, "speed": 10}))
    assert d.adapts_on == ("dep_p",)  # D_Q's real rows are generated samples
    x = torch.rand(16, 1, 16, 8)
    losses = d.losses(RealBatch(paired=x, parts={0: x[:, :, :8], 1: x[:, :, 8:]}), torch.rand(16, 1, 16, 8),
                      torch.Generator().manual_seed(0))
    r_t = losses["dep_p"].r_t
    assert -1 <= r_t <= 1 and r_t != 0.6  # 16 signs: a multiple of 1/8
    torch.testing.assert_close(d.augment.p, 0.5 + torch.sign(r_t - 0.6) * 0.1)
    assert "augment.p" in d.state_dict()
    d.eval()  # evaluation: p stays
    before = d.augment.p.clone()
    d.losses(RealBatch(paired=x, parts={0: x[:, :, :8], 1: x[:, :, 8:]}), x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(d.augment.p, before)


# ---- Theorem 1 with augmentation (discrete parts, table networks) -----------------------
def flip(x: torch.Tensor, u: torch.Tensor, strength: float) -> torch.Tensor:
    """A discrete transform for 2-valued parts: x -> 1 - x."""
    return 1 - x


def augmented(r: torch.Tensor, rho: float, per_part: bool) -> torch.Tensor:
    """The distribution of states drawn from table ``r`` then flipped with probability
    ``rho`` per part (``per_part``) or all parts together."""
    if not per_part:
        return (1 - rho) * r + rho * r.flip(list(range(r.dim())))
    out = r
    for d in range(r.dim()):
        out = (1 - rho) * out + rho * out.flip([d])
    return out


def product_of_marginals(r: torch.Tensor) -> torch.Tensor:
    out = torch.ones((1,) * r.dim(), dtype=r.dtype)
    for d in range(r.dim()):
        shape = [1] * r.dim()
        shape[d] = r.shape[d]
        out = out * r.sum([e for e in range(r.dim()) if e != d]).view(shape)
    return out


def train_flat_table_discriminator(per_part: bool, terms: str = "all", k: int = 3, rho: float = 0.3,
                                   steps: int = 300):
    """Flat FactorGAN's terms as tables, trained by BCE on augmented batches; returns
    σ(d_C) at every state, un-augmented, and the distributions p, q."""
    torch.manual_seed(0)
    p, q = random_joint(k, 8, floor=0.1), random_joint(k, 9, floor=0.1)
    f = Factorisation(0, [1] * k)
    factorgan = factorgan_terms(k)
    nets = {t.name: TableNet(f.joined_shape((k,), t.parts) if t.parts else (k,)) for t in factorgan}
    d = CombinedDiscriminator(factorgan, nets, f, (k,), spectral_norm=False,
                              augment=Augment(["flip"], terms=terms, per_part=per_part, p=rho))
    opt = torch.optim.Adam(d.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    n = 4096
    for step in range(steps):
        if step == 200:
            opt.param_groups[0]["lr"] = 0.01
        parts = {i: _sample(p, n, g)[:, i:i + 1] for i in range(k)}
        losses = d.losses(RealBatch(paired=_sample(p, n, g), parts=parts), _sample(q, n, g), g)
        opt.zero_grad()
        sum(t.loss for t in losses.values()).backward()
        opt.step()
    d.eval()  # the combined logit on un-augmented states
    return torch.sigmoid(d(STATES[k])).detach().double(), p, q


def test_theorem1_holds_for_the_augmented_distributions_with_per_part_transforms(monkeypatch):
    """Every term trained on its augmented batches (shuffled, then each part flipped on
    its own) combines into p_A / (p_A + q_A): shuffling then augmenting per part samples
    the product of the augmented marginals."""
    monkeypatch.setitem(aug.TRANSFORMS, "flip", (flip, 1, 1.0))
    got, p, q = train_flat_table_discriminator(per_part=True)
    pa, qa = augmented(p, 0.3, True).flatten(), augmented(q, 0.3, True).flatten()
    torch.testing.assert_close(got, pa / (pa + qa), rtol=0, atol=0.04)


def test_augmenting_only_the_dependency_terms_estimates_another_ratio(monkeypatch):
    """With the marginals un-augmented, d_C = log[p_A / Π p_Ai] − log[q_A / Π q_Ai] + Σ log p_i / q_i:
    the training reaches exactly that, which is neither log p_A / q_A nor log p / q while
    the generator's marginals differ from the data's (both corrections vanish when they agree)."""
    monkeypatch.setitem(aug.TRANSFORMS, "flip", (flip, 1, 1.0))
    got, p, q = train_flat_table_discriminator(per_part=True, terms=DEPENDENCY)
    A = lambda r: augmented(r, 0.3, True)  # noqa: E731
    logit = torch.log(A(p) / A(product_of_marginals(p))) - torch.log(A(q) / A(product_of_marginals(q)))
    logit = logit + torch.log(product_of_marginals(p) / product_of_marginals(q))
    torch.testing.assert_close(got, torch.sigmoid(logit).flatten(), rtol=0, atol=0.04)
    pa, qa = A(p).flatten(), A(q).flatten()
    assert (got - pa / (pa + qa)).abs().max() > 0.1
    assert (got - (p / (p + q)).flatten()).abs().max() > 0.1
