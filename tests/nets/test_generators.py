"""Generator networks at tiny sizes: shapes, value ranges, the paper's layer tables,
gradients and clear errors."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from factorgan.nets.generators import ConvGenerator, MLPGenerator


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


def test_mlp_generator_shape_range_and_condition():
    torch.manual_seed(0)
    G = MLPGenerator((1, 56, 28))
    x = G(torch.rand(3, 50)).detach()
    assert x.shape == (3, 1, 56, 28) and 0 < float(x.min()) and float(x.max()) < 1
    C = MLPGenerator((3, 4, 4), cond_shape=(3, 4, 4))
    cond = torch.rand(2, 3, 4, 4)
    z = torch.rand(1, 50).expand(2, -1)
    y = C(z, cond)
    assert y.shape == (2, 3, 4, 4) and not torch.allclose(y[0], y[1])  # the input part matters
    with pytest.raises(ValueError, match="cond_shape"):
        C(z)
