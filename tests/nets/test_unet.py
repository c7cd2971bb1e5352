"""The paper's U-Net generator (Tables 6 and 7)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from factorgan.nets.unet import UNetGenerator


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_shapes_range_and_noise_dependence(size, upsample):
    torch.manual_seed(0)
    g = UNetGenerator(out_shape=(3, size, size), cond_shape=(3, size, size), noise_dim=50, upsample=upsample)
    assert g.noise_dim == 50
    cond = torch.rand(4, 3, size, size)
    with torch.no_grad():
        out = g(torch.rand(4, 50) * 2 - 1, cond)
    assert out.shape == (4, 3, size, size)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # sigmoid
    # z reaches the output through the FC layer (BatchNorm in training mode, as while
    # training: an untrained network's running statistics saturate the sigmoid)
    with torch.no_grad():
        a, b = g(torch.rand(4, 50) * 2 - 1, cond), g(torch.rand(4, 50) * 2 - 1, cond)
    assert float((a - b).abs().max()) > 1e-4  # rounding differences are ~1e-7


def test_table6_channel_counts():
    g = UNetGenerator(out_shape=(3, 128, 128), cond_shape=(3, 128, 128))
    convs = [m for m in g.down.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs[::2]] == [32, 64, 128, 256, 256]  # DoubleConv1..5
    assert g.fc_noise.in_features == 50 and g.fc_noise.out_features == 2 * 8 * 8
    assert [c[0].in_channels for c in g.convs] == [514, 256, 128, 64]  # after each Concat
    assert [c[0].out_channels for c in g.convs] == [128, 64, 32, 32]
    assert g.ups[0].in_channels == g.ups[0].out_channels == 258  # UpConv keeps 256 + 2 noise maps
    assert g.out.out_channels == 3
    # width doubles every layer's channels
    assert count_parameters(UNetGenerator((3, 32, 32), (3, 32, 32), width=64)) > 3 * count_parameters(
        UNetGenerator((3, 32, 32), (3, 32, 32), width=32))


def test_gradient_reaches_the_input_and_the_noise_layer():
    g = UNetGenerator(out_shape=(3, 16, 16), cond_shape=(3, 16, 16))
    cond = torch.rand(2, 3, 16, 16, requires_grad=True)
    g(torch.rand(2, 50), cond).mean().backward()
    assert cond.grad is not None and float(cond.grad.abs().sum()) > 0
    assert float(g.fc_noise.weight.grad.abs().sum()) > 0


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="multiple of 16"):
        UNetGenerator(out_shape=(3, 24, 24), cond_shape=(3, 24, 24))
    with pytest.raises(ValueError, match="conditional"):
        UNetGenerator(out_shape=(3, 32, 32), cond_shape=None)
    with pytest.raises(ValueError, match="upsample"):
        UNetGenerator(out_shape=(3, 32, 32), cond_shape=(3, 32, 32), upsample="nearest")


def test_checkpointed_blocks_give_the_same_outputs_gradients_and_running_stats():
    nets = {}
    for ckpt in (False, True):
        torch.manual_seed(0)
        nets[ckpt] = UNetGenerator(out_shape=(3, 32, 32), cond_shape=(3, 32, 32), width=8, checkpoint=ckpt)
    z, cond = torch.rand(4, 50) * 2 - 1, torch.rand(4, 3, 32, 32)
    outs = {}
    saved = {}
    for ckpt, g in nets.items():
        n_saved = [0]

        def pack(t, n_saved=n_saved):
            n_saved[0] += t.numel()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            out = g(z, cond)
        (out * torch.linspace(0, 1, out.numel()).view_as(out)).sum().backward()
        outs[ckpt], saved[ckpt] = out, n_saved[0]
    torch.testing.assert_close(outs[True], outs[False], rtol=0, atol=0)
    assert saved[True] < 0.5 * saved[False]  # far fewer activations kept for backward
    plain, ckpt = nets[False], nets[True]
    for (k, a), b in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-7, msg=k)
    for (k, a), b in zip(plain.named_buffers(), ckpt.buffers()):  # BN stats updated once, not twice
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=k)
    assert int(ckpt.down[0][1].num_batches_tracked) == 1
