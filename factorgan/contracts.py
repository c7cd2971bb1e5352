"""What the trainer needs of the objects a config names, written down as Protocols and
checked where each object is built (:mod:`factorgan.build`), so a class that lacks a
piece is refused before anything trains, with a message naming the piece.

- :class:`Generator`: a network with ``noise_dim`` (the size of z) whose forward takes
  ``(z, cond)``: ``z`` ``(N, noise_dim)``, ``cond`` the input parts ``(N, *input_shape)``
  or None for unconditional data.
- :class:`~factorgan.training.steps.Steps`: a model variant's two steps. Its
  ``generator_loss`` returns the loss and the scalars to log; GAN-like steps log
  ``prob/d_combined_fake`` (σ(d_C) on generated samples), which the progress bar shows.
- :class:`Evaluator`: a callable ``(generator, data) -> {metric: value}``. One that keeps
  partial results declares ``run_dir = None`` (:class:`KeepsPartialResults`) and is given
  the run directory when built.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from torch import Tensor

from factorgan.errors import ContractError

if TYPE_CHECKING:
    from torch import nn

    from factorgan.data.interface import TrainingData
    from factorgan.training.steps import Steps  # noqa: F401 (the steps contract lives with the steps)


@runtime_checkable
class Generator(Protocol):
    """A generator network: ``noise_dim`` and ``forward(z, cond)``."""

    noise_dim: int

    def __call__(self, z: Tensor, cond: Tensor | None = None) -> Tensor: ...


class Evaluator(Protocol):
    """``(generator, data) -> {metric: value}`` (config ``evaluation``)."""

    def __call__(self, generator: nn.Module, data: TrainingData) -> dict[str, float]: ...


class KeepsPartialResults(Evaluator, Protocol):
    """An evaluator that keeps partial results in the run directory: it declares
    ``run_dir = None`` and is given the run's directory when built."""

    run_dir: Path | None


STEPS_METHODS = ("networks", "discriminator_losses", "generator_loss")


def _takes_positional(fn: Any, n: int) -> bool:
    """Whether ``fn`` can be called with ``n`` positional arguments."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without a signature: trust them
        return True
    try:
        signature.bind(*range(n))
    except TypeError:
        return False
    return True


def _name(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def check_generator(net: Any, where: str = "generator") -> None:
    """Raise :class:`ContractError` unless ``net`` is a :class:`Generator`."""
    noise_dim = getattr(net, "noise_dim", None)
    if isinstance(noise_dim, bool) or not isinstance(noise_dim, int) or noise_dim < 1:
        raise ContractError(
            f"{where}: {_name(net)} has no noise_dim (got {noise_dim!r}); a generator sets "
            f"self.noise_dim = <size of z>, a positive integer, so the trainer can draw z")
    forward = getattr(net, "forward", net)
    if not callable(forward) or not _takes_positional(forward, 2):
        raise ContractError(
            f"{where}: {_name(net)}.forward does not take (z, cond); a generator's forward is "
            f"forward(self, z, cond=None): z (N, noise_dim), cond the input parts or None")


def check_steps(steps: Any, where: str = "model.steps") -> None:
    """Raise :class:`ContractError` unless ``steps`` has every method of
    :class:`~factorgan.training.steps.Steps`."""
    missing = [m for m in STEPS_METHODS if not callable(getattr(steps, m, None))]
    if missing:
        raise ContractError(
            f"{where}: {_name(steps)} has no {', '.join(missing)}; a steps object has "
            f"networks() -> {{key: module}}, discriminator_losses(ctx) -> {{term: TermLoss}} and "
            f"generator_loss(ctx) -> (loss, {{tag: scalar}}) (factorgan.training.steps.Steps)")


def check_evaluator(evaluator: Any, where: str = "evaluation") -> None:
    """Raise :class:`ContractError` unless ``evaluator`` is an :class:`Evaluator`."""
    if not callable(evaluator) or not _takes_positional(evaluator, 2):
        raise ContractError(
            f"{where}: {_name(evaluator)} is not a callable (generator, data) -> {{metric: value}}; "
            f"an evaluator defines __call__(self, generator, data)")
