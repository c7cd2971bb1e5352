"""Discriminator networks: the paper's convolutional discriminator (Table 5)."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from factorgan.nets.discriminators import ConvDiscriminator, MLPDiscriminator
from factorgan.nets.spectral_norm import SNConv2d, SNLinear, apply_spectral_norm


@pytest.mark.parametrize("shape,layers", [((6, 128, 128), 5), ((3, 32, 32), 3), ((1, 64, 32), 3)])
def test_conv_discriminator_depth_and_logit_shape(shape, layers):
    d = ConvDiscriminator(in_shape=shape)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == layers
    assert [c.out_channels for c in convs] == [32 * 2**i for i in range(layers)]
    fc = d.net[-1]
    assert fc.bias is None  # Table 5: every layer but the FC has biases
    assert fc.in_features == convs[-1].out_channels * (shape[1] >> layers) * (shape[2] >> layers)
    x = torch.rand(5, *shape)
    with torch.no_grad():
        logits = d(x)
        assert logits.shape == (5,)
        fc.weight.neg_()  # no activation after the FC layer: the logits just flip sign
        torch.testing.assert_close(d(x), -logits)


def test_width_mult_and_spectral_norm():
    d = ConvDiscriminator(in_shape=(3, 32, 32), width_mult=2)
    assert [m.out_channels for m in d.modules() if isinstance(m, torch.nn.Conv2d)] == [64, 128, 256]
    sn = apply_spectral_norm(d)
    assert sum(isinstance(m, SNConv2d) for m in sn.modules()) == 3
    assert sum(isinstance(m, SNLinear) for m in sn.modules()) == 1
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    sn(x).sum().backward()
    assert float(x.grad.abs().sum()) > 0


def test_conv_discriminator_rejects_sizes_it_cannot_reduce():
    with pytest.raises(ValueError, match="divisible"):
        ConvDiscriminator(in_shape=(3, 4, 4))
    with pytest.raises(ValueError, match="divisible"):
        ConvDiscriminator(in_shape=(3, 36, 36))
    with pytest.raises(ValueError, match="layers=6"):
        ConvDiscriminator(in_shape=(3, 32, 32), layers=6)


def test_conv_discriminator_with_five_layers_at_64_pixels_as_table_5():
    """W = H = 6: five stride-2 convolutions, 32..512 filters, 2x2x512 into the FC layer."""
    d = ConvDiscriminator(in_shape=(4, 64, 64), layers=5)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256, 512]
    assert d.net[-1].in_features == 2 * 2 * 512
    x = torch.rand(3, 4, 64, 64)
    assert d(x).shape == (3,)
    default = ConvDiscriminator(in_shape=(4, 64, 64))  # down to a side of 4: one layer fewer
    assert len([m for m in default.modules() if isinstance(m, nn.Conv2d)]) == 4


@pytest.mark.parametrize("make, shape", [
    (lambda: MLPDiscriminator((1, 56, 28)), (6, 1, 56, 28)),
    (lambda: ConvDiscriminator((6, 32, 32)), (6, 6, 32, 32)),
])
def test_in_place_activations_give_the_plain_gradients(make, shape):
    torch.manual_seed(0)
    fast = apply_spectral_norm(make())
    plain = copy.deepcopy(fast)
    for m in plain.modules():
        if isinstance(m, torch.nn.LeakyReLU):
            m.inplace = False
    assert any(isinstance(m, torch.nn.LeakyReLU) and m.inplace for m in fast.modules())
    x = torch.randn(shape)
    grads = []
    for net in (fast, plain):
        xi = x.clone().requires_grad_(True)
        net(xi).square().sum().backward()
        grads.append([xi.grad, *(p.grad for p in net.parameters())])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
