"""Sub-discriminators of one architecture and input shape, run as one batched network.

FactorGAN's MLP sub-discriminators are small enough that per-operation overhead, not
arithmetic, sets their speed. G networks of the same shape (the marginals of equally
sized parts; D_P and D_Q) become one network whose layers hold the G weight matrices
stacked, ``(G, out, in)``, and run as batched matrix products on inputs ``(G, N, in)``:
one kernel per layer instead of G, one power iteration per layer for all G spectral
norms. Each member keeps its own weights, spectral norm and gradients, so the maths is
that of the G separate networks (``tests/nets/test_stacked.py`` trains both ways).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from factorgan.nets.spectral_norm import SNLinear, fp32_region, normalize


def _row_times(r: Tensor, m: Tensor) -> Tensor:
    """Row vectors times matrices: ``r`` ``(G, a)``, ``m`` ``(G, a, b)`` -> ``(G, b)``."""
    return torch.bmm(r.unsqueeze(1), m).squeeze(1)


class _StackedSNLinearFn(torch.autograd.Function):
    """y_g = x_g W_gᵀ / σ_g + b_g for precomputed σ_g = u_gᵀ W_g v_g, gradient through σ.

    The batched form of :class:`factorgan.nets.spectral_norm._SNLinearFn`.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, sigma: Tensor, u: Tensor, v: Tensor) -> Tensor:  # type: ignore[override]
        inv_sigma = sigma.reciprocal().view(-1, 1, 1)  # (G, 1, 1)
        xw = torch.bmm(x, weight.transpose(1, 2))  # (G, N, out)
        y = torch.addcmul(bias.unsqueeze(1), xw, inv_sigma)
        ctx.save_for_backward(x, weight, xw, inv_sigma, u, v)
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        # In the forward's dtype: a double backward (R1's create_graph) runs this inside
        # the caller's autocast region, where bmm would drop to bf16 beside fp32 u, v.
        with fp32_region(grad.device):
            return _StackedSNLinearFn._backward(ctx, grad)

    @staticmethod
    def _backward(ctx, grad: Tensor):  # type: ignore[no-untyped-def]
        x, weight, xw, inv_sigma, u, v = ctx.saved_tensors
        g = grad * inv_sigma  # dL/d(x Wᵀ), (G, N, out)
        grad_x = torch.bmm(g, weight) if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            # dL/dσ_g = -Σ g_g ⊙ x_g W_gᵀ / σ_g; dσ_g/dW_g = u_g v_gᵀ.
            grad_sigma = (g * xw).sum(dim=(1, 2)) * inv_sigma.view(-1)  # (G,)
            # The rank-1 term as an in-place k = 1 batched product: on CPU much faster than
            # materialising the broadcast outer product and subtracting it.
            grad_w = torch.bmm(g.transpose(1, 2), x)
            grad_w.baddbmm_((u * grad_sigma.unsqueeze(1)).unsqueeze(2), v.unsqueeze(1), alpha=-1)
        grad_b = grad.sum(1) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None, None


class StackedLinear(nn.Module):
    """G linear layers of one shape, optionally spectrally normalised:
    ``(G, N, in) -> (G, N, out)``.

    Built from the G layers it replaces (:meth:`from_layers`), whose weights, biases
    and power-iteration vectors it copies.
    """

    eps: float = 1e-12

    def __init__(self, groups: int, in_features: int, out_features: int, spectral_norm: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(groups, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(groups, out_features))
        self.spectral_norm = spectral_norm
        if spectral_norm:
            self.register_buffer("sn_u", torch.zeros(groups, out_features))
            self.register_buffer("sn_v", torch.zeros(groups, in_features))

    @classmethod
    def from_layers(cls, layers: Sequence[nn.Linear]) -> "StackedLinear":
        first = layers[0]
        if any(lin.bias is None for lin in layers):
            raise ValueError("StackedLinear stacks layers with biases")
        sn = isinstance(first, SNLinear)
        new = cls(len(layers), first.in_features, first.out_features, sn).to(first.weight)
        with torch.no_grad():
            new.weight.copy_(torch.stack([lin.weight for lin in layers]))
            new.bias.copy_(torch.stack([lin.bias for lin in layers]))
            if sn:
                new.sn_u.copy_(torch.stack([lin.sn_u for lin in layers]))
                new.sn_v.copy_(torch.stack([lin.sn_v for lin in layers]))
        return new

    @torch.no_grad()
    def sigma(self) -> tuple[Tensor, Tensor, Tensor]:
        """(σ ``(G,)``, u ``(G, out)``, v ``(G, in)``); one power iteration first in
        training mode (after it, u = Wv / ‖Wv‖, so σ = ‖Wv‖)."""
        # Matrix-vector products as (1 × n) row vectors times matrices: bmm is ~10x
        # slower on CPU with a single column (n = 1) than with a single row (m = 1).
        w = self.weight
        if not self.training:
            wv = _row_times(self.sn_v, w.transpose(1, 2))
            return (self.sn_u * wv).sum(1), self.sn_u, self.sn_v
        v = normalize(_row_times(self.sn_u, w), self.eps, dim=1)
        wv = _row_times(v, w.transpose(1, 2))
        sigma = torch.linalg.vector_norm(wv, dim=1)
        u = wv / (sigma.unsqueeze(1) + self.eps)
        self.sn_u.copy_(u)
        self.sn_v.copy_(v)
        return sigma, u, v

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(G, N, in)`` -> ``(G, N, out)``."""
        if not self.spectral_norm:
            return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight.transpose(1, 2))
        with fp32_region(x.device):  # as SNLinear: σ and the layer in the weights' dtype
            sigma, u, v = self.sigma()
            return _StackedSNLinearFn.apply(x.to(self.weight.dtype), self.weight, self.bias, sigma, u, v)


class StackedMLP(nn.Module):
    """G :class:`factorgan.nets.mlp.MLPDiscriminator` networks of one input shape as
    one network: ``(G, N, *in_shape) -> (G, N)`` logits.

    Args:
        nets: the networks it replaces (same layer sizes), spectrally normalised or not.
    """

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        linears = [[m for m in net.modules() if isinstance(m, nn.Linear)] for net in nets]
        shapes = {tuple(tuple(lin.weight.shape) for lin in layers) for layers in linears}
        if len(shapes) != 1:
            raise ValueError(f"StackedMLP stacks networks of one shape, got layer shapes {sorted(shapes)}")
        slopes = {m.negative_slope for net in nets for m in net.modules() if isinstance(m, nn.LeakyReLU)}
        if len(slopes) > 1:
            raise ValueError(f"StackedMLP stacks networks with one LeakyReLU slope, got {sorted(slopes)}")
        self.negative_slope = slopes.pop() if slopes else 0.01
        self.layers = nn.ModuleList(StackedLinear.from_layers(group) for group in zip(*linears))
        self.train(nets[0].training)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: ``(G, N, *in_shape)`` -> logits ``(G, N)``."""
        h = x.flatten(2)
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.leaky_relu(h, self.negative_slope, inplace=True)
        return h.squeeze(2)
