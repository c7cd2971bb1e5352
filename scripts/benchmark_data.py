#!/usr/bin/env python
"""Time one real batch of the data class: microseconds per draw of complete samples, one
part, and a conditional model's inputs, on uint8 data of PairedMNIST's and Cityscapes'
shapes (the draws every discriminator step makes).

    python scripts/benchmark_data.py                  # one thread, batch 25
    python scripts/benchmark_data.py --device cuda

Each figure is the median of 5 timed blocks after a warm-up. Run the same command on two
checkouts back to back (``PYTHONPATH=<checkout>``) to compare them.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Callable

import torch

from factorgan.data.in_memory import InMemoryData
from factorgan.method.factorisation import Factorisation


def time_draw(draw: Callable[[torch.Generator], torch.Tensor], device: torch.device, n: int, blocks: int = 5) -> float:
    """Median microseconds per ``draw`` over ``blocks`` blocks of ``n`` draws."""
    rng = torch.Generator(device=device).manual_seed(0)
    for _ in range(max(1, n // 10)):
        draw(rng)
    times = []
    for _ in range(blocks):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n):
            draw(rng)
        if device.type == "cuda":
            torch.cuda.synchronize()  # the draws are queued: wait for them
        times.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--draws", type=int, default=2000, help="draws per timed block (images: a tenth)")
    parser.add_argument("--samples", type=int, default=4000, help="training samples of each dataset")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    digits = torch.randint(256, (args.samples, 1, 56, 28), dtype=torch.uint8, generator=gen)
    scenes = torch.randint(256, (max(args.samples // 8, 2), 6, 64, 64), dtype=torch.uint8, generator=gen)
    mnist = InMemoryData(digits, digits[:1], Factorisation(1, [28, 28]), paired=min(100, args.samples)).to(device)
    seg = InMemoryData(scenes, scenes[:1], Factorisation(0, [3, 3]), paired=min(100, len(scenes)), input_parts=1).to(device)
    b = args.batch
    cases = [
        ("paired_mnist pair", mnist, lambda d, r: d.sample_paired(b, r), args.draws),
        ("paired_mnist part", mnist, lambda d, r: d.sample_part(1, b, r), args.draws),
        ("segmentation pair", seg, lambda d, r: d.sample_paired(b, r), max(1, args.draws // 10)),
        ("segmentation part", seg, lambda d, r: d.sample_part(1, b, r), max(1, args.draws // 10)),
        ("segmentation input", seg, lambda d, r: d.sample_inputs(b, r), max(1, args.draws // 10)),
    ]
    print(f"{device} {torch.get_num_threads()} thread(s), batch {b}")
    for label, data, draw, n in cases:
        us = time_draw(lambda r, data=data, draw=draw: draw(data, r), device, n)
        print(f"{label:<20} {us:9.1f} us per draw")
    return 0


if __name__ == "__main__":
    sys.exit(main())
