"""The convolutional networks for image pairs at tiny sizes: the paper's layer tables,
value ranges, gradients, spectral norm and clear errors."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from factorgan.nets.conv import ConvDiscriminator, ConvGenerator
from factorgan.nets.mlp import MLPDiscriminator
from factorgan.nets.spectral_norm import SNConv2d, SNLinear, apply_spectral_norm


def convs(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


@pytest.mark.parametrize("shape,output_layer,filters", [
    ((6, 64, 64), "conv", [1024, 512, 256, 128, 64, 6]),       # Table 4 as printed
    ((6, 64, 64), "transpose", [512, 256, 128, 64, 6]),        # the official code
    ((4, 32, 32), "conv", [512, 256, 128, 64, 4]),
    ((4, 32, 32), "transpose", [256, 128, 64, 4]),
    ((1, 8, 8), "transpose", [64, 1]),
])
def test_conv_generator_layers(shape, output_layer, filters):
    G = ConvGenerator(shape, noise_dim=50, width=64, output_layer=output_layer)
    layers = convs(G)
    assert [c.out_channels for c in layers] == filters
    assert all(c.bias is not None for c in layers)  # "All layers have biases"
    last = layers[-1]
    assert isinstance(last, nn.ConvTranspose2d if output_layer == "transpose" else nn.Conv2d)
    assert last.stride == ((2, 2) if output_layer == "transpose" else (1, 1))
    torch.manual_seed(0)
    x = G(torch.rand(5, 50) * 2 - 1).detach()
    assert x.shape == (5, *shape)
    assert 0 < float(x.min()) and float(x.max()) < 1  # sigmoid output


def test_conv_generator_last_layer_is_a_same_padded_convolution():
    """The explicit (1, 2, 1, 2) padding is PyTorch's padding="same" for a 4x4 kernel."""
    torch.manual_seed(0)
    G = ConvGenerator((3, 16, 16), width=8, output_layer="conv")
    pad, conv = G.net[-3], G.net[-2]
    h = torch.randn(2, 8, 16, 16)
    with pytest.warns(UserWarning, match="same"):  # the copy the explicit padding avoids
        want = F.conv2d(h, conv.weight, conv.bias, padding="same")
    torch.testing.assert_close(conv(pad(h)), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("output_layer", ["transpose", "conv"])
def test_conv_generator_gradients_reach_every_layer_and_noise_matters(output_layer):
    torch.manual_seed(0)
    G = ConvGenerator((4, 16, 16), width=8, output_layer=output_layer)
    z = torch.rand(6, 50) * 2 - 1
    x = G(z)
    x.square().mean().backward()
    for name, p in G.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    with torch.no_grad():
        assert not torch.allclose(G(z[:1]), G(z[1:2]))  # different noise, different samples
        torch.testing.assert_close(G(z[:2]), x[:2].detach())  # same noise, same samples


def test_conv_generator_errors_say_what_to_do():
    with pytest.raises(ValueError, match="generator=unet"):
        ConvGenerator((3, 16, 16), cond_shape=(3, 16, 16))
    for bad in [(3, 16, 32), (3, 48, 48), (3, 4, 4)]:
        with pytest.raises(ValueError, match="4·2\\^L"):
            ConvGenerator(bad)
    with pytest.raises(ValueError, match="output_layer"):
        ConvGenerator((3, 16, 16), output_layer="dense")
    G = ConvGenerator((3, 8, 8), width=4)
    with pytest.raises(ValueError, match="unconditional"):
        G(torch.zeros(1, 50), torch.zeros(1, 3, 8, 8))


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
