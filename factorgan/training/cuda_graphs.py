"""Whole-step CUDA graphs: one training step (``disc_iter`` discriminator steps and the
generator step) recorded once and replayed, so small models stop paying a kernel
launch and a Python round trip per operation.

The maths is unchanged: the same kernels run in the same order on the same memory; the
training RNG is registered with the graph, so every replay draws fresh noise, indices
and permutations. The first steps run eagerly on a side stream (they initialise the
optimiser state and the allocator's pools, as CUDA graph capture requires).
"""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import torch

WARMUP_STEPS = 3


def graphs_supported(device: torch.device) -> bool:
    return device.type == "cuda" and hasattr(torch.cuda.CUDAGraph, "register_generator_state")


class GraphedStep:
    """Calls ``step_fn`` eagerly for :data:`WARMUP_STEPS` calls, then captures it in a
    CUDA graph and replays that graph on every later call.

    Args:
        step_fn: one whole training step; its Python side effects (e.g. creating logging
            accumulators) must be the same on every call, as they run only at capture.
        rng: the CUDA generator the step draws from (registered with the graph).
        optimizers: switched to ``capturable`` mode (their state lives on the GPU).
    """

    def __init__(
        self, step_fn: Callable[[], None], rng: torch.Generator, optimizers: Sequence[torch.optim.Optimizer]
    ) -> None:
        self.step_fn = step_fn
        self.rng = rng
        for opt in optimizers:
            for group in opt.param_groups:
                group["capturable"] = True
        self.calls = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.stream = torch.cuda.Stream(device=rng.device)

    def __call__(self) -> None:
        if self.graph is not None:
            self.graph.replay()
            return
        if self.calls < WARMUP_STEPS:
            self.stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.stream):
                self.step_fn()
            torch.cuda.current_stream().wait_stream(self.stream)
            self.calls += 1
            return
        graph = torch.cuda.CUDAGraph()
        graph.register_generator_state(self.rng)
        with torch.cuda.graph(graph):
            self.step_fn()  # recorded, not run
        graph.replay()
        self.graph = graph


def make_step_runner(
    step_fn: Callable[[], None],
    rng: torch.Generator,
    optimizers: Sequence[torch.optim.Optimizer],
    use_graphs: bool,
) -> Callable[[], None]:
    """``step_fn`` itself, or a :class:`GraphedStep` when asked for and possible."""
    if not use_graphs:
        return step_fn
    if not graphs_supported(rng.device):
        warnings.warn(
            "trainer.cuda_graph=true needs a CUDA device and torch with "
            "CUDAGraph.register_generator_state; running eagerly"
        )
        return step_fn
    return GraphedStep(step_fn, rng, optimizers)
