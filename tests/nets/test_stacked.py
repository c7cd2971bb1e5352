"""Stacked sub-discriminators: one batched network computes what the separate ones do."""
from __future__ import annotations

import copy

import pytest
import torch

from conftest import TINY, compose_config
from factorgan.method.discriminator import RealBatch
from factorgan.method.variants import factorised_discriminator
from factorgan.nets.conv import ConvDiscriminator
from factorgan.nets.mlp import MLPDiscriminator
from factorgan.method.factorisation import Factorisation
from factorgan.nets.spectral_norm import SNLinear, apply_spectral_norm
from factorgan.nets.stacked import StackedLinear, StackedMLP
from factorgan.build import build_trainer


def _sn_mlps(g: int, in_shape=(1, 6, 5), hidden=16) -> list[MLPDiscriminator]:
    torch.manual_seed(0)
    return [apply_spectral_norm(MLPDiscriminator(in_shape, hidden=hidden)) for _ in range(g)]


@pytest.mark.parametrize("training", [True, False])
def test_stacked_sn_linear_matches_separate_layers(training):
    torch.manual_seed(0)
    layers = [SNLinear(12, 7).train(training) for _ in range(3)]
    with torch.no_grad():  # distinct weights, and u, v away from their fixed point
        for lin in layers:
            lin.weight.add_(torch.randn_like(lin.weight))
    stacked = StackedLinear.from_layers(layers).train(training)
    x = torch.randn(3, 5, 12, requires_grad=True)
    y = stacked(x)
    ys = torch.stack([lin(x[i]) for i, lin in enumerate(layers)])
    torch.testing.assert_close(y, ys)
    for i, lin in enumerate(layers):  # the power iteration advanced the same way
        torch.testing.assert_close(stacked.sn_u[i], lin.sn_u)
        torch.testing.assert_close(stacked.sn_v[i], lin.sn_v)
    w = torch.randn_like(y)
    gx, gw, gb = torch.autograd.grad((y * w).sum(), [x, stacked.weight, stacked.bias])
    params = [p for lin in layers for p in (lin.weight, lin.bias)]
    sep = torch.autograd.grad((ys * w).sum(), [x, *params])
    torch.testing.assert_close(gx, sep[0])
    torch.testing.assert_close(gw, torch.stack(sep[1::2]))
    torch.testing.assert_close(gb, torch.stack(sep[2::2]))


def test_stacked_linear_without_spectral_norm():
    torch.manual_seed(0)
    layers = [torch.nn.Linear(4, 3) for _ in range(2)]
    stacked = StackedLinear.from_layers(layers)
    assert not stacked.spectral_norm and not hasattr(stacked, "sn_u")
    x = torch.randn(2, 6, 4)
    torch.testing.assert_close(stacked(x), torch.stack([lin(x[i]) for i, lin in enumerate(layers)]))


def test_stacked_mlp_matches_the_networks_it_replaces():
    nets = _sn_mlps(2)
    reference = copy.deepcopy(nets)
    stacked = StackedMLP(nets)
    x = torch.randn(2, 9, 1, 6, 5)
    out = stacked(x)
    assert out.shape == (2, 9)
    ref = torch.stack([net(x[i]) for i, net in enumerate(reference)])  # one power iteration each
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    ref.sum().backward()
    for i, net in enumerate(reference):
        for layer, lin in zip(stacked.layers, [m for m in net.modules() if isinstance(m, SNLinear)]):
            torch.testing.assert_close(layer.weight.grad[i], lin.weight.grad)


def test_stacked_mlp_rejects_networks_of_different_shapes():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="one shape"):
        StackedMLP([MLPDiscriminator((1, 4, 4), hidden=8), MLPDiscriminator((1, 8, 4), hidden=8)])


def _factorised(stack: bool, make_net=None, shape=(1, 8, 4), sizes=(4, 4), dep_p=True, dim=1):
    torch.manual_seed(0)
    make_net = make_net or (lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=16))
    return factorised_discriminator(make_net, shape, Factorisation(dim=dim, sizes=list(sizes)), dep_p=dep_p,
                                   stack_same_shape=stack)


def test_stacking_groups_networks_by_input_shape_and_keeps_term_names():
    d = _factorised(True)
    assert set(d.nets) == {"marginal_0+marginal_1", "dep_p+dep_q"}
    no_cp = _factorised(True, dep_p=False)
    assert set(no_cp.nets) == {"marginal_0+marginal_1", "dep_q"}  # a shape with one network stays
    x = torch.rand(5, 1, 8, 4)
    assert list(d.term_logits(x)) == ["marginal_0", "marginal_1", "dep_p", "dep_q"]
    conv = _factorised(True, make_net=lambda in_shape, width_mult: ConvDiscriminator(in_shape, filters=4),
                       shape=(6, 8, 8), sizes=(3, 3), dim=0)
    assert set(conv.nets) == {"marginal_0", "marginal_1", "dep_p", "dep_q"}  # not stackable


def test_stacked_terms_and_losses_equal_the_separate_networks():
    plain, stacked = _factorised(False), _factorised(True)  # same seed: same initial weights
    x = torch.rand(6, 1, 8, 4)
    t_plain, t_stacked = plain.term_logits(x), stacked.term_logits(x)
    assert t_plain.keys() == t_stacked.keys()
    for k in t_plain:
        torch.testing.assert_close(t_stacked[k], t_plain[k])
    real = RealBatch(paired=torch.rand(6, 1, 8, 4), parts={0: torch.rand(6, 1, 4, 4), 1: torch.rand(6, 1, 4, 4)})
    fake = torch.rand(6, 1, 8, 4)
    l_plain = plain.losses(real, fake, torch.Generator().manual_seed(1))
    l_stacked = stacked.losses(real, fake, torch.Generator().manual_seed(1))
    for k in l_plain:
        torch.testing.assert_close(l_stacked[k].loss, l_plain[k].loss)
        torch.testing.assert_close(l_stacked[k].accuracy, l_plain[k].accuracy)


def _unstacked_state(d) -> dict[str, torch.Tensor]:
    """Term name/layer -> weight, for stacked and separate discriminators alike."""
    out = {}
    for key, net in d.nets.items():
        layers = [m for m in net.modules() if hasattr(m, "weight")]
        for li, layer in enumerate(layers):
            for i, name in enumerate(d.stacks.get(key, (key,))):
                for p in ("weight", "bias", "sn_u"):
                    t = getattr(layer, p)
                    out[f"{name}.{li}.{p}"] = t[i] if key in d.stacks else t
    return out


@pytest.mark.parametrize("model", ["factorgan", "factorgan_no_cp"])
def test_training_with_stacked_networks_matches_separate_networks(tmp_path, model):
    runs = {}
    for stack in (True, False):
        cfg = compose_config(*TINY, f"model={model}", f"model.combined.stack_same_shape={stack}",
                             "generator.hidden=32", "discriminator.hidden=32")
        t = build_trainer(cfg, tmp_path / str(stack))
        for _ in range(6):
            t.train_step()
        runs[stack] = t
    a, b = runs[True], runs[False]
    assert len(a.D.stacks) >= 1 and not b.D.stacks
    sa, sb = _unstacked_state(a.D), _unstacked_state(b.D)
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=1e-6, msg=k)
    for (k, va), vb in zip(a.G.state_dict().items(), b.G.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-4, atol=1e-6, msg=k)
    log_a, log_b = a.scalars.flush(), b.scalars.flush()
    assert log_a.keys() == log_b.keys()
    for k in log_a:
        assert abs(log_a[k] - log_b[k]) < 1e-4 * max(1.0, abs(log_a[k])), k


def test_stacked_terms_run_together_or_not_at_all():
    d = _factorised(True)
    x = torch.rand(3, 1, 4, 4)
    assert list(d.logits({"marginal_1": x, "marginal_0": x})) == ["marginal_1", "marginal_0"]
    with pytest.raises(ValueError, match="give inputs for all of them"):
        d.logits({"marginal_0": x})
