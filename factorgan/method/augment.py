"""Differentiable augmentation in front of chosen sub-discriminators (DiffAugment, Zhao
et al. 2020; adaptive strength as in ADA, Karras et al. 2020), for few pairs
(docs/experiments/pairing.md).

A term's every input (real pairs, shuffled pairs, generated pairs) passes through the
same random transform distribution, drawn per sample, so the density ratio the term
estimates is that of the augmented distributions and the generator's gradient flows
through the transform. Transforms act on each *part* of a term's input, never across
the parts' boundary, so a pair stays a pair: a part is never mixed with another
sample's. ``per_part=True`` draws each part's transform on its own (a product of
per-part transforms: Theorem 1 holds exactly for the augmented distributions);
``per_part=False`` draws one transform for the whole input, shared by its parts.

Each transform is applied to a sample with probability ``p``. With ``adaptive`` set, p
is steered from the signs of the augmented terms' logits on their real rows
(r_t = E[sign d(real)], ADA's overfitting signal): up when r_t exceeds the target, down
otherwise, by ``1 / speed`` per discriminator step, on the device (no host sync). p is a
buffer, so checkpoints hold it and a resume continues it.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from factorgan.method.terms import DEPENDENCY, GENERATED, Term, check_selection, select_terms

# A transform: (x (N, ...), u (N, k) uniforms in [0, 1), strength) -> transformed x.
TransformFn = Callable[[Tensor, Tensor, float], Tensor]


def _shift(x: Tensor, dy: Tensor, dx: Tensor) -> Tensor:
    """Move each image of ``x`` ``(N, C, H, W)`` by whole pixels ``dy``, ``dx`` ``(N,)``
    (long), zero-filled: a gather, differentiable in ``x``."""
    n, c, h, w = x.shape
    pad_h, pad_w = h, w
    padded = torch.nn.functional.pad(x, [pad_w, pad_w, pad_h, pad_h])
    rows = torch.arange(h, device=x.device)[None, :] + pad_h - dy[:, None]  # (N, H)
    cols = torch.arange(w, device=x.device)[None, :] + pad_w - dx[:, None]  # (N, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.contiguous_format)


def _offset(u: Tensor, size: int, strength: float) -> Tensor:
    """Uniforms ``u`` ``(N,)`` -> whole-pixel shifts in [−⌊strength·size⌋, ⌊strength·size⌋]."""
    reach = int(strength * size)
    return torch.floor(u * (2 * reach + 1)).long() - reach


def translation(x: Tensor, u: Tensor, strength: float) -> Tensor:
    """Shift by up to ``strength`` of the height and width (DiffAugment: 1/8)."""
    _images(x, "translation")
    return _shift(x, _offset(u[:, 0], x.shape[2], strength), _offset(u[:, 1], x.shape[3], strength))


def time_shift(x: Tensor, u: Tensor, strength: float) -> Tensor:
    """Shift along the last axis (a spectrogram's time frames) by up to ``strength`` of it."""
    _images(x, "time_shift")
    return _shift(x, torch.zeros_like(u[:, 0]).long(), _offset(u[:, 0], x.shape[3], strength))


def cutout(x: Tensor, u: Tensor, strength: float) -> Tensor:
    """Zero a rectangle of ``strength`` of the height and width at a random centre
    (DiffAugment: 1/2)."""
    _images(x, "cutout")
    n, _, h, w = x.shape
    ch, cw = max(1, int(h * strength + 0.5)), max(1, int(w * strength + 0.5))
    cy = torch.floor(u[:, 0] * (h + 1 - ch % 2)).long()
    cx = torch.floor(u[:, 1] * (w + 1 - cw % 2)).long()
    ys = torch.arange(h, device=x.device)[None, :] - (cy[:, None] - ch // 2)
    xs = torch.arange(w, device=x.device)[None, :] - (cx[:, None] - cw // 2)
    inside = ((ys >= 0) & (ys < ch))[:, :, None] & ((xs >= 0) & (xs < cw))[:, None, :]  # (N, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def brightness(x: Tensor, u: Tensor, strength: float) -> Tensor:
    """Add a constant in [−strength/2, strength/2] (DiffAugment: 1)."""
    return x + ((u[:, 0] - 0.5) * strength).view(-1, *[1] * (x.dim() - 1)).to(x.dtype)


def contrast(x: Tensor, u: Tensor, strength: float) -> Tensor:
    """Scale the deviation from each sample's mean by 1 ± strength/2 (DiffAugment: 1)."""
    mean = x.mean(dim=tuple(range(1, x.dim())), keepdim=True)
    return (x - mean) * (1 + (u[:, 0] - 0.5) * strength).view_as(mean).to(x.dtype) + mean


def saturation(x: Tensor, u: Tensor, strength: float) -> Tensor:
    """Scale each pixel's deviation from its channel mean by 1 ± strength (DiffAugment: 1;
    one channel: no change)."""
    _images(x, "saturation")
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (1 + (2 * u[:, 0] - 1) * strength).view(-1, 1, 1, 1).to(x.dtype) + mean


def gain(x: Tensor, u: Tensor, strength: float) -> Tensor:
    """Multiply by a gain in [1/strength, strength], log-uniform (spectrogram magnitudes)."""
    log_g = (2 * u[:, 0] - 1) * math.log(max(strength, 1.0))
    return x * torch.exp(log_g).view(-1, *[1] * (x.dim() - 1)).to(x.dtype)


def _images(x: Tensor, name: str) -> None:
    if x.dim() != 4:
        raise ValueError(f"augmentation {name!r} needs image parts (N, C, H, W); a part has shape "
                         f"{tuple(x.shape)}: choose among {sorted(n for n in TRANSFORMS if n not in IMAGE_ONLY)}")


# name -> (function, uniforms drawn per sample, default strength)
TRANSFORMS: dict[str, tuple[TransformFn, int, float]] = {
    "translation": (translation, 2, 0.125),
    "cutout": (cutout, 2, 0.5),
    "brightness": (brightness, 1, 1.0),
    "contrast": (contrast, 1, 1.0),
    "saturation": (saturation, 1, 1.0),
    "time_shift": (time_shift, 1, 0.125),
    "gain": (gain, 1, 2.0),
}
IMAGE_ONLY = ("translation", "cutout", "saturation", "time_shift")

class Augment(nn.Module):
    """Random transforms in front of chosen terms' networks.

    Args:
        transforms: names from :data:`TRANSFORMS`, applied in this order; a mapping
            ``{name: strength}`` sets strengths (else each one's default).
        terms: ``dependency`` (terms that see several parts: D_P, D_Q, the GAN's joint
            discriminator), ``q_dependency`` (D_Q of every split), ``all``, or a list
            of term names.
        per_part: draw each part's transform on its own (True) or one for all of a
            term's parts (False).
        p: probability of each transform per sample (the start value when adaptive).
        adaptive: ``{target: r_t target, speed: discriminator steps for p to go from 0
            to 1}`` to steer p (ADA), or None for a fixed p.
    """

    def __init__(
        self,
        transforms: Sequence[str] | Mapping[str, float] = ("translation", "cutout"),
        terms: str | Sequence[str] = DEPENDENCY,
        per_part: bool = True,
        p: float = 1.0,
        adaptive: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        items = transforms.items() if isinstance(transforms, Mapping) else [(t, None) for t in transforms]
        self.transforms: list[tuple[str, float]] = []
        for name, strength in items:
            if name not in TRANSFORMS:
                raise ValueError(f"unknown augmentation {name!r}; choose among {sorted(TRANSFORMS)}")
            self.transforms.append((name, TRANSFORMS[name][2] if strength is None else float(strength)))
        if not self.transforms:
            raise ValueError("augment.transforms is empty: name at least one, or augment=null")
        self.terms = check_selection(terms, "augment.terms")
        self.per_part = bool(per_part)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augment.p={p} must be in [0, 1]")
        self.target: float | None = None
        self.rate = 0.0
        if adaptive is not None:
            unknown = set(adaptive) - {"target", "speed"}
            if unknown:
                raise ValueError(f"augment.adaptive takes target and speed, not {sorted(unknown)}")
            self.target = float(adaptive.get("target", 0.6))
            speed = float(adaptive.get("speed", 1000))
            if speed <= 0 or not -1.0 <= self.target <= 1.0:
                raise ValueError(f"augment.adaptive: target in [−1, 1] and speed > 0, got {dict(adaptive)}")
            self.rate = 1.0 / speed
        self.register_buffer("p", torch.tensor(float(p)))

    def select(self, terms: Sequence[Term], num_parts: int) -> tuple[str, ...]:
        """The names of the ``terms`` this augmentation applies to."""
        return select_terms(self.terms, terms, num_parts, "augment.terms")

    def forward(self, parts: Sequence[Tensor], rng: torch.Generator | None) -> list[Tensor]:
        """Each of a term's input ``parts`` ``(N, ...)`` transformed (one draw per sample,
        shared by the parts unless :attr:`per_part`)."""
        out = list(parts)
        n, device = parts[0].shape[0], parts[0].device
        for name, strength in self.transforms:
            fn, k, _ = TRANSFORMS[name]
            shared = None if self.per_part else self._draw(n, k, device, rng)
            for i, x in enumerate(out):
                on, u = shared if shared is not None else self._draw(n, k, device, rng)
                mask = on.view(-1, *[1] * (x.dim() - 1)).to(x.dtype)
                out[i] = x + mask * (fn(x, u, strength) - x)
        return out

    def _draw(self, n: int, k: int, device: torch.device, rng: torch.Generator | None) -> tuple[Tensor, Tensor]:
        """Whether each sample is transformed ``(N,)`` (with probability p) and its uniforms ``(N, k)``."""
        u = torch.rand(n, k + 1, device=device, generator=rng)
        return u[:, 0] < self.p, u[:, 1:]

    @torch.no_grad()
    def adapt(self, r_t: Tensor) -> None:
        """Steer p by one step from r_t (0-dim, the mean sign of real logits), on the
        device: p ← clip(p + sign(r_t − target) / speed, 0, 1). Fixed p: nothing."""
        if self.target is None:
            return
        self.p.add_(torch.sign(r_t.float() - self.target) * self.rate).clamp_(0.0, 1.0)

    def adapts_on(self, terms: Sequence[Term], selected: Sequence[str]) -> tuple[str, ...]:
        """The selected terms whose real rows are real data (not generated): their r_t
        steers p (D_Q's real rows are generated samples, no overfitting signal)."""
        return tuple(t.name for t in terms if t.name in selected and t.real.source != GENERATED)

    def extra_repr(self) -> str:
        adaptive = "" if self.target is None else f", adaptive(target={self.target}, rate={self.rate:g})"
        return f"transforms={self.transforms}, terms={self.terms!r}, per_part={self.per_part}{adaptive}"
