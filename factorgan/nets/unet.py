"""The paper's U-Net generator (Tables 6 and 7): an image-to-image network with noise.

Encoder: DoubleConv C→32, then four (max-pool, DoubleConv) stages to 64, 128, 256, 256
channels at 1/16 of the input size. Noise z (50-d) goes through one FC layer to a
2-channel feature map of that size and is concatenated to the bottleneck (258 channels).
Decoder: four (upsample ×2, concatenate the encoder map of that size, DoubleConv) stages
to 128, 64, 32, 32 channels, then a 1×1 convolution to the output channels and a sigmoid.
DoubleConv (Table 7) = (3×3 conv, BatchNorm, ReLU) × 2. Upsampling is the paper's
channel-preserving stride-2 transposed convolution (``upsample="transpose"``) or the
official code's bilinear interpolation (``upsample="bilinear"``); the channel counts
are those of Table 6 either way.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

DOWN_CHANNELS = (32, 64, 128, 256, 256)  # DoubleConv1..5 at width_mult 1
UP_CHANNELS = (128, 64, 32, 32)  # decoder stages
NOISE_CHANNELS = 2


class DoubleConv(nn.Sequential):
    """Table 7: (3×3 conv, BatchNorm, ReLU) × 2; ``(N, c_in, H, W) -> (N, c_out, H, W)``."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


def _upsample(channels: int, mode: str) -> nn.Module:
    if mode == "transpose":
        return nn.ConvTranspose2d(channels, channels, 2, stride=2)
    if mode == "bilinear":
        return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
    raise ValueError(f"unknown U-Net upsample mode {mode!r}: use 'transpose' or 'bilinear'")


@contextlib.contextmanager
def _running_stats_kept(module: nn.Module) -> Iterator[None]:
    """Restore every BatchNorm's running statistics on exit: a checkpointed block's
    recomputation (in the backward pass) must not update them a second time."""
    norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [[b.clone() for b in (m.running_mean, m.running_var, m.num_batches_tracked)] for m in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, (mean, var, count) in zip(norms, saved):
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(count)


class UNetGenerator(nn.Module):
    """Conditional generator ``G(z, cond)``: ``cond`` ``(N, *cond_shape)`` ->
    ``(N, *out_shape)`` in [0, 1].

    Args:
        out_shape: ``(C_out, H, W)`` of the generated part (the segmentation map).
        cond_shape: ``(C_in, H, W)`` of the input part (the scene); H and W must be
            multiples of 16 (four 2× poolings).
        noise_dim: size of z, fed through the FC layer into the bottleneck.
        width: channels of the first DoubleConv (32 in the paper); the others scale with it.
        upsample: ``transpose`` (the paper) or ``bilinear`` (the official code).
        checkpoint: keep only each DoubleConv's inputs for the backward pass and recompute
            the block there (activation checkpointing): the same gradients, much less
            memory for the generator step, one more forward pass of the blocks.
    """

    def __init__(
        self,
        out_shape: Sequence[int],
        cond_shape: Sequence[int] | None,
        noise_dim: int = 50,
        width: int = 32,
        upsample: str = "transpose",
        checkpoint: bool = False,
    ) -> None:
        super().__init__()
        self.checkpoint = checkpoint
        if cond_shape is None:
            raise ValueError("the U-Net maps an input image to an output: it needs a conditional dataset")
        c_in, height, width_px = (int(s) for s in cond_shape)
        if tuple(out_shape[1:]) != (height, width_px):
            raise ValueError(f"U-Net input {tuple(cond_shape)} and output {tuple(out_shape)} sizes differ")
        if height % 16 or width_px % 16:
            raise ValueError(f"U-Net image size {height}×{width_px} must be a multiple of 16 (4 poolings)")
        self.noise_dim = noise_dim
        self.out_shape = tuple(int(s) for s in out_shape)
        self.bottleneck_hw = (height // 16, width_px // 16)
        down = [c * width // 32 for c in DOWN_CHANNELS]
        up = [c * width // 32 for c in UP_CHANNELS]
        self.down = nn.ModuleList([DoubleConv(c_in, down[0])])
        self.down.extend(DoubleConv(a, b) for a, b in zip(down[:-1], down[1:]))
        self.pool = nn.MaxPool2d(2)
        self.fc_noise = nn.Linear(noise_dim, NOISE_CHANNELS * self.bottleneck_hw[0] * self.bottleneck_hw[1])
        # Decoder stage i upsamples `prev` channels and joins the encoder map down[3 - i].
        self.ups = nn.ModuleList()
        self.convs = nn.ModuleList()
        prev = down[4] + NOISE_CHANNELS
        for skip, out in zip(reversed(down[:4]), up):
            self.ups.append(_upsample(prev, upsample))
            self.convs.append(DoubleConv(prev + skip, out))
            prev = out
        self.out = nn.Conv2d(prev, self.out_shape[0], 1)

    def forward(self, z: Tensor, cond: Tensor | None = None) -> Tensor:
        """``z``: ``(N, noise_dim)``, ``cond``: ``(N, C_in, H, W)`` -> ``(N, C_out, H, W)``."""
        if cond is None:
            raise ValueError("UNetGenerator needs an input image: call G(z, cond)")
        skips = []
        x = cond
        for i, block in enumerate(self.down):
            x = self._run(block, block, x if i == 0 else self.pool(x))
            skips.append(x)
        noise = self.fc_noise(z).view(z.shape[0], NOISE_CHANNELS, *self.bottleneck_hw)
        x = torch.cat([skips.pop(), noise], dim=1)
        for up, conv in zip(self.ups, self.convs):
            # The concatenation inside the checkpointed function: the skip is kept anyway
            # (max-pooling saves it), so only the upsampled half is an extra saved input.
            x = self._run(conv, lambda skip, upsampled, conv=conv: conv(torch.cat([skip, upsampled], dim=1)),
                          skips.pop(), up(x))
        return torch.sigmoid(self.out(x))

    def _run(self, block: nn.Module, fn: Callable[..., Tensor], *inputs: Tensor) -> Tensor:
        """``fn(*inputs)`` (which runs ``block``), checkpointed when asked for and a
        backward pass will follow."""
        if not (self.checkpoint and self.training and torch.is_grad_enabled()):
            return fn(*inputs)
        return checkpoint(fn, *inputs, use_reentrant=False,
                          context_fn=lambda: (contextlib.nullcontext(), _running_stats_kept(block)))
