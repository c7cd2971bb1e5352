"""The MLP networks of PairedMNIST (Tables 1 and 2) at their real sizes."""
from __future__ import annotations

import pytest
import torch

from factorgan.nets.mlp import MLPDiscriminator, MLPGenerator


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


def test_mlp_discriminator_logits_and_width():
    torch.manual_seed(0)
    d = MLPDiscriminator((1, 56, 28))
    x = torch.rand(5, 1, 56, 28)
    logits = d(x)
    assert logits.shape == (5,) and logits.std() > 0  # one logit per sample, input-dependent
    widths = [m.out_features for m in MLPDiscriminator((1, 28, 28), width_mult=2).modules()
              if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 256, 1]  # the paper's "GAN (big)": twice the hidden width
