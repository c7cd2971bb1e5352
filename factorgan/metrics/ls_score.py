"""The LS score for unconditional image-pair generators (paper section 4.2).

A fresh LSGAN discriminator (Mao et al., 2017) learns to tell real held-out samples from
generated ones; its loss on data it has not trained on measures how hard that is:

- each run randomly splits the test (validation) split into a test-train partition (80%)
  and a test-test partition (the rest) (``split="ordered"``: the first 80 % in file order,
  as the official evaluation code does);
- a :class:`~factorgan.nets.conv.ConvDiscriminator` with half the paper's filters
  (16) is trained for 40 epochs on the test-train partition, each real minibatch paired
  with as many fresh generator samples, minimising :func:`ls_loss`;
- the run's score is that loss on the whole test-test partition, against fresh samples.

``ls`` is the mean over 10 runs. The loss is the un-halved LSGAN loss
``mean((D(real) - 1)²) + mean(D(fake)²)``: 0.5 when the best the discriminator can do is
output 0.5 for everything (real and generated samples are indistinguishable), 0 when it
separates them perfectly. Higher is better; the paper reports values in 0.02..0.53 (a
value above 0.5 only means the discriminator overfitted its partition).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from factorgan.data.interface import as_float
from factorgan.nets.conv import ConvDiscriminator
from factorgan.samples.generate import uniform_noise


def ls_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """LSGAN discriminator loss ``mean((real - 1)²) + mean(fake²)``: ``(N,)``, ``(M,)`` -> scalar."""
    return (real_logits - 1).pow(2).mean() + fake_logits.pow(2).mean()


SPLITS = ("random", "ordered")


@dataclass(frozen=True)
class RealSamples:
    """Held-out real samples by index: ``fetch(index)`` -> float ``(M, C, H, W)`` on ``device``."""

    fetch: Callable[[Tensor], Tensor]
    n: int
    sample_shape: tuple[int, ...]
    device: torch.device

    @staticmethod
    def of(real: Tensor) -> "RealSamples":
        """A tensor of samples (float in [0, 1] or uint8 codes, decoded per batch)."""
        return RealSamples(lambda index: as_float(real[index]), len(real), tuple(real.shape[1:]), real.device)


def check_split(split: str) -> None:
    """``split`` is one of :data:`SPLITS`, or a ValueError that lists them."""
    if split not in SPLITS:
        raise ValueError(f"split={split!r}: choose one of {SPLITS}")


def partition(n: int, fraction: float, rng: torch.Generator, split: str = "random") -> tuple[Tensor, Tensor]:
    """A split of ``range(n)`` into ``round(fraction · n)`` train indices and the rest as
    test indices: two disjoint ``(n_train,)``, ``(n - n_train,)`` long tensors (CPU).

    ``split="random"``: a random permutation (the paper's text); ``"ordered"``: the first
    ``n_train`` samples in file order, the same every run (the official evaluation code).
    """
    check_split(split)
    n_train = round(fraction * n)
    if not 0 < n_train < n:
        raise ValueError(
            f"cannot split {n} test samples {fraction:.0%} / {1 - fraction:.0%}: a partition would "
            f"be empty ({n_train} / {n - n_train}); the test split needs more samples"
        )
    order = torch.randperm(n, generator=rng) if split == "random" else torch.arange(n)
    return order[:n_train], order[n_train:]


def _fake(G: nn.Module, n: int, rng: torch.Generator, device: torch.device) -> Tensor:
    """``n`` fresh generator samples ``(n, C, H, W)``, z ~ U(-1, 1)^noise_dim (no grad)."""
    with torch.no_grad():
        return G(uniform_noise(n, G.noise_dim, rng, device)).float()


class LSScore:
    """The LS score's settings and one run of it (module docstring); the evaluator of the
    image-pair experiments (:class:`factorgan.evaluators.image_pairs.LSScoreEvaluator`)
    averages runs on a dataset's test split.

    ``ls`` is the mean test loss over ``runs`` runs, ``ls_std`` their population standard
    deviation (ddof=0, so one run gives 0). Run ``r`` draws everything (partition, weights,
    minibatch order, noise) from a private seed derived from ``seed`` and ``r``: the result
    is reproducible and evaluation never disturbs training's random streams.

    Args:
        runs: independent runs to average (paper: 10).
        epochs: discriminator epochs over the test-train partition (paper: 40).
        batch_size: real (and as many generated) samples per discriminator step.
        lr / betas: Adam settings of the discriminator (the official evaluation: 1e-4 and
            PyTorch's default betas).
        train_fraction: share of the test split in the test-train partition (paper: 0.8).
        split: ``random`` partitions per run (the paper's text) or ``ordered``, the first
            ``train_fraction`` of the test split in file order (the official code).
        filters: first-layer filters of the discriminator (paper: half of 32).
        layers: its stride-2 convolutions, as the training discriminators'; None: down
            to a 4-pixel side (the official code's).
        seed: base seed of every run.
        progress: show a progress bar over runs × epochs.
    """

    def __init__(
        self,
        runs: int = 10,
        epochs: int = 40,
        batch_size: int = 25,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        train_fraction: float = 0.8,
        split: str = "random",
        filters: int = 16,
        layers: int | None = None,
        seed: int = 0,
        progress: bool = True,
    ) -> None:
        if runs < 1 or epochs < 1 or batch_size < 1:
            raise ValueError(f"LS score needs runs, epochs and batch_size ≥ 1, got {runs}, {epochs}, {batch_size}")
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction={train_fraction} must lie strictly between 0 and 1")
        check_split(split)  # at construction: a bad setting fails before training, not after
        self.runs, self.epochs, self.batch_size = runs, epochs, batch_size
        self.lr, self.betas = lr, tuple(betas)
        self.train_fraction, self.split, self.filters, self.layers = train_fraction, split, filters, layers
        self.seed, self.progress = seed, progress

    def run(self, G: nn.Module, real: Tensor | RealSamples, seed: int, on_epoch: Callable[[], object] | None = None) -> float:
        """One run: the test loss of a discriminator trained on a partition of ``real``.

        ``real``: ``(M, C, H, W)`` held-out samples (float in [0, 1] or uint8 codes), or
        :class:`RealSamples` (a dataset's test split), on the device ``G`` samples on;
        ``G`` should already be in eval mode. Everything random comes from ``seed`` (the
        global RNG is left as it was). ``on_epoch`` is called after each epoch.
        """
        if isinstance(real, Tensor):
            real = RealSamples.of(real)
        device = real.device
        g = torch.Generator().manual_seed(seed)  # partition and minibatch order (CPU)
        noise = torch.Generator(device).manual_seed(seed + 1)  # generator noise (on the device)
        train_idx, test_idx = partition(real.n, self.train_fraction, g, self.split)
        # ConvDiscriminator draws its initial weights from the global CPU RNG: seed it
        # inside a fork so neither the caller's nor training's random streams move.
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(seed + 2)
            D = ConvDiscriminator(in_shape=real.sample_shape, filters=self.filters, layers=self.layers)
        D = D.to(device).train()
        opt = torch.optim.Adam(D.parameters(), lr=self.lr, betas=self.betas)
        with torch.enable_grad():  # callers may evaluate under no_grad
            for _ in range(self.epochs):
                order = train_idx[torch.randperm(len(train_idx), generator=g)].to(device)
                for batch in order.split(self.batch_size):
                    x = real.fetch(batch)
                    loss = ls_loss(D(x), D(_fake(G, len(x), noise, device)))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                if on_epoch is not None:
                    on_epoch()
        # Test loss over the whole test-test partition: squared errors summed on the device
        # over batches, one mean (and one host sync) at the end.
        squared = torch.zeros((), dtype=torch.float64, device=device)
        with torch.no_grad():
            for batch in test_idx.to(device).split(self.batch_size):
                squared += (D(real.fetch(batch)) - 1).pow(2).sum().double()
                squared += D(_fake(G, len(batch), noise, device)).pow(2).sum().double()
        return float(squared) / len(test_idx)

    def run_seeds(self) -> list[int]:
        """One private seed per run, derived from ``seed`` (distinct runs, same every call)."""
        g = torch.Generator().manual_seed(self.seed)
        return torch.randint(2**62, (self.runs,), generator=g).tolist()
