"""Spectral normalisation (Miyato et al., 2018) that scales the layer output.

``W_sn x = (W x) / σ(W)``, so instead of materialising ``W / σ`` every forward pass (and
its backward), these layers run the plain linear map / convolution and divide its
output by σ before adding the bias. σ = uᵀ W v is estimated with one power iteration
per forward pass in training mode (u, v carried as buffers); the gradient flows through
σ as in :func:`torch.nn.utils.parametrizations.spectral_norm`, so the maths is the same.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _normalize(x: Tensor, eps: float) -> Tensor:
    return x / (x.norm() + eps)


class _SpectralNorm:
    """Mixin: power-iteration state and σ for a layer whose weight is ``self.weight``."""

    weight: nn.Parameter
    eps: float = 1e-12

    def _init_sn(self) -> None:
        w = self.weight.detach().flatten(1)
        g = torch.Generator(device="cpu").manual_seed(0)
        u = torch.randn(w.shape[0], generator=g).to(w)
        v = torch.randn(w.shape[1], generator=g).to(w)
        self.register_buffer("sn_u", _normalize(u, self.eps))  # type: ignore[attr-defined]
        self.register_buffer("sn_v", _normalize(v, self.eps))  # type: ignore[attr-defined]
        # Start from a converged estimate, as torch's spectral_norm does (15 iterations).
        self._power_iteration(15)

    @torch.no_grad()
    def _power_iteration(self, n: int = 1) -> None:
        w = self.weight.detach().flatten(1)
        u, v = self.sn_u, self.sn_v
        for _ in range(n):
            v = _normalize(torch.mv(w.t(), u), self.eps)
            u = _normalize(torch.mv(w, v), self.eps)
        self.sn_u.copy_(u)
        self.sn_v.copy_(v)

    def sigma(self) -> Tensor:
        """σ(W) = uᵀ W v (0-dim; differentiable in W). Updates u, v in training mode."""
        if self.training:  # type: ignore[attr-defined]
            self._power_iteration(1)
        return torch.dot(self.sn_u, torch.mv(self.weight.flatten(1), self.sn_v))


class SNLinear(nn.Linear, _SpectralNorm):
    """``nn.Linear`` with a spectrally normalised weight."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_sn()

    def forward(self, x: Tensor) -> Tensor:
        y = F.linear(x, self.weight) / self.sigma()
        return y + self.bias if self.bias is not None else y


class SNConv2d(nn.Conv2d, _SpectralNorm):
    """``nn.Conv2d`` with a spectrally normalised weight (W reshaped to out × in·kh·kw)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_sn()

    def forward(self, x: Tensor) -> Tensor:
        y = self._conv_forward(x, self.weight, None) / self.sigma()
        return y + self.bias.view(1, -1, 1, 1) if self.bias is not None else y


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
