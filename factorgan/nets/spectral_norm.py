"""Spectral normalisation (Miyato et al., 2018) that scales the layer output.

``W_sn x = (W x) / σ(W)``, so instead of materialising ``W / σ`` every forward pass (and
its backward), these layers run the plain linear map / convolution and divide its
output by σ before adding the bias. σ = uᵀ W v is estimated with one power iteration
per forward pass in training mode (u, v carried as buffers); the gradient flows through
σ as in :func:`torch.nn.utils.parametrizations.spectral_norm`, so the maths is the same.

The linear layer is one autograd node with a hand-written backward (the MLP
discriminators are small enough that per-operation overhead, not arithmetic, sets their
speed): dL/dW = (g/σ)ᵀx − (Σ g ⊙ xWᵀ / σ²) u vᵀ, with no weight gradient at all when the
weights are frozen (the generator step).
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def normalize(x: Tensor, eps: float, dim: int | None = None) -> Tensor:
    """``x`` divided by its norm + eps (``dim``: the norm of each slice along it, e.g.
    each row of stacked vectors ``(G, n)`` with ``dim=1``)."""
    # linalg.vector_norm directly: Tensor.norm's Python dispatch costs more than the
    # kernel for these small vectors (this runs twice per layer per forward pass).
    if dim is None:
        return x / (torch.linalg.vector_norm(x) + eps)
    return x / (torch.linalg.vector_norm(x, dim=dim, keepdim=True) + eps)


def fp32_region(device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast off (when on): under mixed precision σ, the power iteration and the
    hand-written linear layers stay in the weights' dtype (bf16 power iterations drift)."""
    if torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


class _SpectralNorm:
    """Mixin: power-iteration state and σ for a layer whose weight is ``self.weight``."""

    weight: nn.Parameter
    eps: float = 1e-12

    def _init_sn(self) -> None:
        w = self.weight.detach().flatten(1)
        g = torch.Generator(device="cpu").manual_seed(0)
        u = torch.randn(w.shape[0], generator=g).to(w)
        v = torch.randn(w.shape[1], generator=g).to(w)
        self.register_buffer("sn_u", normalize(u, self.eps))  # type: ignore[attr-defined]
        self.register_buffer("sn_v", normalize(v, self.eps))  # type: ignore[attr-defined]
        # Start from a converged estimate, as torch's spectral_norm does (15 iterations).
        self._power_iteration(15)

    @torch.no_grad()
    def _power_iteration(self, n: int = 1) -> None:
        w = self.weight.detach().flatten(1)
        u, v = self.sn_u, self.sn_v
        for _ in range(n):
            v = normalize(torch.mv(w.t(), u), self.eps)
            u = normalize(torch.mv(w, v), self.eps)
        self.sn_u.copy_(u)
        self.sn_v.copy_(v)

    def sigma(self) -> Tensor:
        """σ(W) = uᵀ W v (0-dim; differentiable in W). Updates u, v in training mode."""
        with fp32_region(self.weight.device):
            if self.training:  # type: ignore[attr-defined]
                self._power_iteration(1)
            return torch.dot(self.sn_u, torch.mv(self.weight.flatten(1), self.sn_v))

    @torch.no_grad()
    def _sigma_no_grad(self) -> tuple[Tensor, Tensor, Tensor]:
        """(σ, u, v) without a graph; one power iteration first in training mode.

        After the iteration u = Wv / ‖Wv‖, so σ = uᵀWv = ‖Wv‖: no extra product needed.
        """
        w = self.weight.flatten(1)
        if not self.training:  # type: ignore[attr-defined]
            return torch.dot(self.sn_u, torch.mv(w, self.sn_v)), self.sn_u, self.sn_v
        v = normalize(torch.mv(w.t(), self.sn_u), self.eps)
        wv = torch.mv(w, v)
        sigma = torch.linalg.vector_norm(wv)
        u = wv / (sigma + self.eps)
        self.sn_u.copy_(u)
        self.sn_v.copy_(v)
        return sigma, u, v


class _SNLinearFn(torch.autograd.Function):
    """y = x Wᵀ / σ + b for a precomputed σ = uᵀWv, with the gradient through σ."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, sigma: Tensor, u: Tensor, v: Tensor) -> Tensor:  # type: ignore[override]
        inv_sigma = sigma.reciprocal()
        xw = torch.mm(x, weight.t())
        y = torch.addcmul(bias, xw, inv_sigma) if bias is not None else xw * inv_sigma
        ctx.save_for_backward(x, weight, xw, inv_sigma, u, v)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        # In the forward's dtype: a double backward (R1's create_graph) runs this inside
        # the caller's autocast region, where mm would drop to bf16 beside fp32 u, v.
        with fp32_region(grad.device):
            return _SNLinearFn._backward(ctx, grad)

    @staticmethod
    def _backward(ctx, grad: Tensor):  # type: ignore[no-untyped-def]
        x, weight, xw, inv_sigma, u, v = ctx.saved_tensors
        g = grad * inv_sigma  # dL/d(xWᵀ)
        grad_x = torch.mm(g, weight) if ctx.needs_input_grad[0] else None
        grad_w = None
        if ctx.needs_input_grad[1]:
            # dL/dσ = -Σ g ⊙ xWᵀ / σ; dσ/dW = u vᵀ (u, v held constant, as in torch).
            grad_sigma = torch.vdot(g.reshape(-1), xw.reshape(-1)) * inv_sigma
            grad_w = torch.mm(g.t(), x).addr_(u * grad_sigma, v, alpha=-1)  # in place: no outer product
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None, None


class SNLinear(nn.Linear, _SpectralNorm):
    """``nn.Linear`` with a spectrally normalised weight."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_sn()

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-1]
        with fp32_region(x.device):  # small, launch-bound layers: no gain from bf16
            sigma, u, v = self._sigma_no_grad()
            x = x.reshape(-1, x.shape[-1]).to(self.weight.dtype)
            y = _SNLinearFn.apply(x, self.weight, self.bias, sigma, u, v)
        return y.view(*lead, y.shape[-1])


class SNConv2d(nn.Conv2d, _SpectralNorm):
    """``nn.Conv2d`` with a spectrally normalised weight (W reshaped to out × in·kh·kw)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_sn()

    def forward(self, x: Tensor) -> Tensor:
        # A convolution's output is far larger than its weight: scale the weight by 1/σ
        # (autograd carries the gradient through σ) and let the convolution add the bias.
        return self._conv_forward(x, self.weight / self.sigma(), self.bias)


def _convert(layer: nn.Module) -> nn.Module:
    if type(layer) is nn.Linear:
        new: nn.Module = SNLinear(
            layer.in_features, layer.out_features, bias=layer.bias is not None,
            device=layer.weight.device, dtype=layer.weight.dtype,
        )
    elif type(layer) is nn.Conv2d:
        new = SNConv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
            layer.padding, layer.dilation, layer.groups, layer.bias is not None,
            layer.padding_mode, device=layer.weight.device, dtype=layer.weight.dtype,
        )
    else:
        return layer
    with torch.no_grad():
        new.weight.copy_(layer.weight)
        if layer.bias is not None:
            new.bias.copy_(layer.bias)
    new._init_sn()  # type: ignore[attr-defined]  (re-estimate σ for the copied weight)
    return new


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.Linear`` / ``nn.Conv2d`` in ``module`` by its spectrally
    normalised version (same weights); returns the module (or its replacement)."""
    converted = _convert(module)
    if converted is not module:
        return converted
    for name, child in module.named_children():
        setattr(module, name, apply_spectral_norm(child))
    return module
