"""Drawing from a generator: the one noise sampler, the one eval-mode switch, joint
samples for training, and fixed-seed samples for evaluation and ``factorgan.sample``.

Generators map noise ``z`` ``(N, noise_dim)`` (and, in conditional models, inputs
``(N, *input_shape)``) to outputs ``(N, *output_shape)``; a *joint* sample is the
inputs and outputs joined (:meth:`TrainingData.join_inputs`).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn

from factorgan.data.interface import TEST, TRAIN, TrainingData

DEFAULT_SEED = 1234  # the evaluation's and factorgan.sample's noise seed


def uniform_noise(n: int, dim: int, rng: torch.Generator | None, device: torch.device | str) -> Tensor:
    """z ~ U(−1, 1)^dim (the paper's noise), ``(n, dim)`` on ``device``."""
    return torch.empty(n, dim, device=device).uniform_(-1.0, 1.0, generator=rng)


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """Modules in eval mode (BatchNorm with its running statistics) inside, each back in
    the mode it had on exit."""
    was_training = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, mode in zip(modules, was_training):
            m.train(mode)


def generate(
    G: nn.Module, data: TrainingData, n: int, rng: torch.Generator, inputs_paired_only: bool = False
) -> Tensor:
    """``n`` generated joint samples ``(n, *sample_shape)`` for training: unconditional
    ``G(z)``, or inputs drawn from ``data`` (first) joined with ``G(z, inputs)``."""
    if not data.input_parts:
        return G(uniform_noise(n, G.noise_dim, rng, data.device))
    cond = data.sample_inputs(n, rng, paired_only=inputs_paired_only)
    return data.join_inputs(cond, G(uniform_noise(n, G.noise_dim, rng, data.device), cond))


@torch.no_grad()
def draw_samples(
    G: nn.Module, data: TrainingData, n: int, seed: int = DEFAULT_SEED, batch_size: int = 500
) -> Tensor:
    """``n`` fresh joint samples ``(n, *sample_shape)`` in [0, 1], float32 on the CPU.

    Noise comes from a private generator seeded by ``seed`` (training's random streams are
    not touched) and ``G`` runs in eval mode. Conditional models take their inputs from
    the test split in order (the training split if there is none), cycled if ``n`` is larger.
    """
    if n < 1:
        raise ValueError(f"n={n} must be ≥ 1")
    device = data.device
    rng = torch.Generator(device).manual_seed(int(seed))
    split = TEST if data.num_samples(TEST) else TRAIN
    out = []
    with eval_mode(G):
        for start in range(0, n, batch_size):
            m = min(batch_size, n - start)
            z = uniform_noise(m, G.noise_dim, rng, device)
            if not data.input_parts:
                x = G(z)
            else:
                index = torch.arange(start, start + m, device=device) % data.num_samples(split)
                cond = data.split_inputs(data.samples(split, index))[0]
                x = data.join_inputs(cond, G(z, cond))
            out.append(x.float().clamp(0, 1).cpu())
    return torch.cat(out)
