"""The memorisation probe (factorgan/training/overfit.py): a discriminator that memorises
its training pairs is told apart from one that generalises, and a run logs the probe and
every term's r_t without changing its training."""
from __future__ import annotations

import torch
from torch import nn

from conftest import TINY, compose_config
from factorgan.cli.train import build_trainer
from factorgan.data.interface import TRAIN
from factorgan.method.discriminator import CombinedDiscriminator
from factorgan.method.terms import marginal, p_dependency, q_dependency
from factorgan.training import overfit
from training.test_eval_during import SMALL, scalars
from factorgan.cli.train import train


class Memoriser(nn.Module):
    """Logit +5 on the stored samples, −5 elsewhere: D_P that has learnt its pairs by heart."""

    def __init__(self, pairs: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("pairs", pairs.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        known = (x.flatten(1)[:, None] - self.pairs[None]).abs().amax(2).min(1).values < 1e-5
        return torch.where(known, 5.0, -5.0)


class Agreement(nn.Module):
    """A D_P that generalises: logit from the two parts' mean brightness agreeing."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = x[:, :, :28].mean((1, 2, 3)), x[:, :, 28:].mean((1, 2, 3))
        return 1.0 - 40 * (top - bottom).abs()


def test_the_probe_tells_memorising_from_generalising(tmp_path):
    t = build_trainer(compose_config(*TINY, "paired=50"), tmp_path)
    data = t.data
    pairs = data.samples(TRAIN, torch.arange(50))
    marg = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 1), nn.Flatten(0))
    terms = [marginal(0), marginal(1), p_dependency(), q_dependency()]

    def discriminator(dep_p: nn.Module) -> CombinedDiscriminator:
        nets = {"marginal_0": marg, "marginal_1": marg, "dep_p": dep_p, "dep_q": Agreement()}
        return CombinedDiscriminator(terms, nets, data.factorisation, data.sample_shape, spectral_norm=False)

    memorised = overfit.probe(discriminator(Memoriser(pairs)), t.G, data, n=200)
    assert memorised["overfit/dep_p/acc_train"] > 0.95  # real pairs +5, their shuffles −5
    assert abs(memorised["overfit/dep_p/acc_heldout"] - 0.5) < 0.05  # every held-out row −5
    assert abs(memorised["overfit/dep_p/gap_train"] - 10) < 1.0 and abs(memorised["overfit/dep_p/gap_heldout"]) < 1e-6
    torch.testing.assert_close(memorised["overfit/dep_p/gap_drop"],
                               memorised["overfit/dep_p/gap_train"] - memorised["overfit/dep_p/gap_heldout"])
    assert not any(k.startswith("overfit/dep_q") for k in memorised)  # its real rows are generated
    assert "overfit/marginal_1/gap_drop" in memorised
    general = overfit.probe(discriminator(Agreement()), t.G, data, n=200)
    assert abs(general["overfit/dep_p/gap_drop"]) < 0.5 * abs(general["overfit/dep_p/gap_train"]) + 0.05
    assert general["overfit/dep_p/gap_train"] > 0  # it does tell pairs from shuffles (λ = 0.9)


def test_a_run_logs_the_probe_at_each_evaluation_and_r_t_per_term(tmp_path):
    run = train(compose_config(*SMALL, "evaluation.every=2", "evaluation.during={num_samples: 60}"), tmp_path / "r")
    assert run is not None
    # at each evaluation during training and beside the final result (step 6)
    assert [s for s, _ in scalars(tmp_path / "r", "overfit/dep_p/gap_drop")] == [2, 4, 6]
    assert [s for s, _ in scalars(tmp_path / "r", "overfit/marginal_0/acc_heldout")] == [2, 4, 6]
    for term in ("dep_p", "dep_q", "marginal_0", "marginal_1"):
        values = [v for _, v in scalars(tmp_path / "r", f"overfit/{term}/r_t")]
        assert values and all(-1 <= v <= 1 for v in values)
