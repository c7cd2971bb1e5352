import pytest
import torch
import torch.nn.functional as F

from factorgan.method.losses import (
    GENERATOR_OBJECTIVES,
    discriminator_accuracy,
    discriminator_bce,
    generator_objective,
)


def test_discriminator_bce_matches_torch():
    real, fake = torch.randn(7), torch.randn(5)
    expected = F.binary_cross_entropy_with_logits(real, torch.ones(7)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros(5)
    )
    torch.testing.assert_close(discriminator_bce(real, fake), expected)


def test_accuracy_counts_correct_sides():
    acc = discriminator_accuracy(torch.tensor([1.0, -1.0, 2.0]), torch.tensor([-3.0, 0.5]))
    torch.testing.assert_close(acc, torch.tensor(3 / 5))


@pytest.mark.parametrize("name", ["standard", "reverse_kl", "kl"])
def test_mode_seeking_objectives_fall_as_the_discriminator_is_fooled(name):
    v = torch.linspace(-3, 3, 13, requires_grad=True)
    generator_objective(name)(v).sum().backward()
    assert torch.all(v.grad < 0)


@pytest.mark.parametrize("name,params,v_min", [("forward_kl", {}, -1.0), ("alpha", {"alpha": 0.5}, 0.0)])
def test_f_divergence_objectives_have_their_per_sample_minimum(name, params, v_min):
    v = torch.linspace(-4, 4, 801)
    loss = generator_objective(name, **params)(v)
    assert abs(v[loss.argmin()].item() - v_min) < 0.02


def test_every_objective_is_in_the_table():
    assert set(GENERATOR_OBJECTIVES) == {"standard", "reverse_kl", "forward_kl", "alpha"}


def test_kl_is_the_official_codes_name_for_reverse_kl():
    assert generator_objective("kl") is generator_objective("reverse_kl")
    v1 = torch.tensor([-2.5, -0.3, 0.0, 0.7, 4.0], requires_grad=True)
    v2 = v1.detach().clone().requires_grad_(True)
    loss1, loss2 = generator_objective("kl")(v1), generator_objective("reverse_kl")(v2)
    torch.testing.assert_close(loss1, loss2, rtol=0, atol=0)
    (loss1 * torch.arange(5.0)).sum().backward()
    (loss2 * torch.arange(5.0)).sum().backward()
    torch.testing.assert_close(v1.grad, v2.grad, rtol=0, atol=0)
    torch.testing.assert_close(v1.grad, -torch.arange(5.0), rtol=0, atol=0)


@pytest.mark.parametrize(
    "name,params,expected",
    [
        # Per-sample losses at V = -1, 0, 2, worked out by hand.
        ("standard", {}, [1.3132617, 0.6931472, 0.1269280]),  # log(1 + e^-V)
        ("reverse_kl", {}, [1.0, 0.0, -2.0]),  # -V
        ("kl", {}, [1.0, 0.0, -2.0]),
        ("forward_kl", {}, [-0.3678794, 0.0, 14.7781122]),  # V e^V
        # -4 (e^(V/2) - 1 - (e^V - 1) / 2)
        ("alpha", {"alpha": 0.5}, [0.3096362, 0.0, 5.9049849]),
    ],
)
def test_per_sample_losses_on_known_logits(name, params, expected):
    loss = generator_objective(name, **params)(torch.tensor([-1.0, 0.0, 2.0]))
    torch.testing.assert_close(loss, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_old_runs_config_with_name_kl_still_builds():
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    old = OmegaConf.create({"_target_": "factorgan.method.losses.generator_objective", "name": "kl"})
    torch.testing.assert_close(instantiate(old)(torch.tensor([0.5, -2.0])), torch.tensor([-0.5, 2.0]))


def test_objective_values():
    v = torch.tensor([-1.0, 0.0, 2.0])
    torch.testing.assert_close(generator_objective("standard")(v), torch.log1p(torch.exp(-v)))
    torch.testing.assert_close(generator_objective("reverse_kl")(v), -v)
    torch.testing.assert_close(generator_objective("forward_kl")(v), v * torch.exp(v))
    # α -> 0: reverse KL's f-divergence form e^V - 1 - V (the -V objective plus a term
    # whose expectation under q is constant at the optimum); α = 0.5: squared Hellinger.
    torch.testing.assert_close(
        generator_objective("alpha", alpha=1e-5)(v), torch.expm1(v) - v, rtol=1e-3, atol=1e-3
    )
    torch.testing.assert_close(
        generator_objective("alpha", alpha=0.5)(v), -4 * (torch.exp(v / 2) - 1 - (torch.exp(v) - 1) / 2)
    )


def test_unknown_objective_names_the_choices():
    with pytest.raises(ValueError, match="standard") as info:
        generator_objective("wasserstein")
    assert "reverse_kl" in str(info.value) and "'kl'" in str(info.value)


@pytest.mark.parametrize("n_fake", [6, 4])
def test_one_pass_loss_and_accuracy_equal_the_two_term_versions(n_fake):
    from factorgan.method.losses import discriminator_bce_and_accuracy

    logits = torch.randn(6 + n_fake, requires_grad=True)
    loss, acc = discriminator_bce_and_accuracy(logits, 6)
    ref = discriminator_bce(logits[:6], logits[6:])
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(acc, discriminator_accuracy(logits[:6].detach(), logits[6:].detach()))
    g1 = torch.autograd.grad(loss, logits)[0]
    g2 = torch.autograd.grad(ref, logits)[0]
    torch.testing.assert_close(g1, g2)
