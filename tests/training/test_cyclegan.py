"""CycleGAN's steps: which networks each step moves and how the generator loss is made."""
from __future__ import annotations

import pytest
import torch

from conftest import TINY, compose_config
from factorgan.training.cyclegan import cycle_discriminator, domain_split
from factorgan.data.synthetic.cityscapes import make_synthetic_cityscapes
from factorgan.nets.conv import ConvDiscriminator
from factorgan.method.factorisation import Factorisation
from factorgan.build import build_trainer
from factorgan.method.discriminator import RealBatch

SIZE = 16


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    make_synthetic_cityscapes(root, n_train=8, n_val=2, size=SIZE, seed=0)
    return root


def make_trainer(data_root, tmp_path, *overrides):
    cfg = compose_config("experiment=cityscapes_seg_synthetic", "model=cyclegan", f"dataset.root={data_root}",
                         f"dataset.size={SIZE}", "generator.width=8", "discriminator.filters=8",
                         "trainer.batch_size=4", "paired=0", *TINY, *overrides)
    return build_trainer(cfg, tmp_path)


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


def test_steps_move_only_their_networks(data_root, tmp_path):
    t = make_trainer(data_root, tmp_path)
    g, f, d = snapshot(t.G), snapshot(t.steps.F), snapshot(t.D)
    t.discriminator_step()
    assert changed(d, t.D) and not changed(g, t.G) and not changed(f, t.steps.F)
    d = snapshot(t.D)
    t.generator_step()
    assert changed(g, t.G) and changed(f, t.steps.F) and not changed(d, t.D)
    assert all(p.requires_grad for p in t.D.parameters())  # unfrozen again


@pytest.mark.parametrize("cycle,identity", [(10.0, 0.5), (3.0, 0.0)])
def test_generator_loss_weights(data_root, tmp_path, cycle, identity):
    t = make_trainer(data_root, tmp_path, f"model.steps.cycle_weight={cycle}",
                     f"model.steps.identity_weight={identity}")
    t.generator_step()
    s = t.scalars.flush()
    assert s["loss/g_cycle"] > 0 and s["loss/g_adversarial"] > 0
    assert (s["loss/g_identity"] > 0) == (identity > 0)
    expected = s["loss/g_adversarial"] + cycle * s["loss/g_cycle"] + cycle * identity * s["loss/g_identity"]
    assert s["loss/g"] == pytest.approx(expected, rel=1e-5)


def test_discriminator_sees_its_own_domain(data_root, tmp_path):
    t = make_trainer(data_root, tmp_path)
    a, b = t.steps.unpaired(t.ctx, 6)
    assert a.shape == b.shape == (6, 3, SIZE, SIZE)
    assert sorted(t.steps.discriminator_losses(t.ctx)) == ["input", "output"]
    real = RealBatch(parts={0: torch.zeros(6, 3, SIZE, SIZE), 1: torch.ones(6, 3, SIZE, SIZE)})
    fake = torch.cat([torch.full((6, 3, SIZE, SIZE), 2.0), torch.full((6, 3, SIZE, SIZE), 3.0)], dim=1)
    batches = t.D.batches(real, fake)  # D_A: real scenes vs F(map); D_B: real maps vs G(scene)
    assert [float(x.mean()) for x in batches["input"]] == [0.0, 2.0]
    assert [float(x.mean()) for x in batches["output"]] == [1.0, 3.0]
    # the combined logit is D_B (maps) on the output part of a joint sample
    x = torch.rand(2, 6, SIZE, SIZE)
    t.D.eval()  # no power iteration between the two calls
    torch.testing.assert_close(t.D(x), t.D.nets["output"](x[:, 3:]))


def test_domain_split_needs_a_conditional_dataset():
    assert domain_split(Factorisation(0, [1, 2, 3]), 2).sizes == [3, 3]
    with pytest.raises(ValueError, match="conditional"):
        cycle_discriminator(ConvDiscriminator, (6, 16, 16), Factorisation(0, [3, 3]), input_parts=0)
