"""factorgan: training GANs from incomplete observations with factorised discriminators.

The pieces for your own training code (docs/api.md), imported on first use::

    from factorgan import Factorisation, CombinedDiscriminator, factorgan_terms, generator_objective
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from factorgan import moved as _moved

__version__ = "0.2.0"
_moved.install()  # module paths of earlier versions still import (stored configs, pickles)

if TYPE_CHECKING:  # the names below, for type checkers and editors; imported on first use
    from factorgan.build import build_trainer, load_run
    from factorgan.cli.train import train
    from factorgan.contracts import Evaluator, Generator
    from factorgan.data.in_memory import InMemoryData
    from factorgan.data.interface import TrainingData
    from factorgan.data.pools import PooledData, from_observed, from_pools
    from factorgan.errors import ConfigError, DatasetError, FactorganError, RunError
    from factorgan.method.discriminator import CombinedDiscriminator, RealBatch
    from factorgan.method.factorisation import BaseFactorisation, Factorisation, GridFactorisation, Parts
    from factorgan.method.losses import GENERATOR_OBJECTIVES, discriminator_bce, generator_objective
    from factorgan.method.terms import Batch, Term, combine, joint, marginal, observed_dependency, p_dependency, q_dependency
    from factorgan.method.tree import FactorisationTree
    from factorgan.method.variants import factorgan_terms, factorised_discriminator, joint_discriminator, tree_discriminator
    from factorgan.samples.generate import draw_samples, eval_mode, uniform_noise
    from factorgan.training.loop import Schedule, Trainer, TrainerSettings
    from factorgan.training.steps import AdversarialSteps, StepContext, Steps, real_batch

# Public name -> the module that defines it.
_EXPORTS = {
    # the method
    "BaseFactorisation": "factorgan.method.factorisation",
    "Parts": "factorgan.method.factorisation",
    "Factorisation": "factorgan.method.factorisation",
    "GridFactorisation": "factorgan.method.factorisation",
    "Term": "factorgan.method.terms",
    "Batch": "factorgan.method.terms",
    "marginal": "factorgan.method.terms",
    "p_dependency": "factorgan.method.terms",
    "q_dependency": "factorgan.method.terms",
    "joint": "factorgan.method.terms",
    "observed_dependency": "factorgan.method.terms",
    "FactorisationTree": "factorgan.method.tree",
    "combine": "factorgan.method.terms",
    "CombinedDiscriminator": "factorgan.method.discriminator",
    "RealBatch": "factorgan.method.discriminator",
    "factorgan_terms": "factorgan.method.variants",
    "factorised_discriminator": "factorgan.method.variants",
    "joint_discriminator": "factorgan.method.variants",
    "tree_discriminator": "factorgan.method.variants",
    "generator_objective": "factorgan.method.losses",
    "GENERATOR_OBJECTIVES": "factorgan.method.losses",
    "discriminator_bce": "factorgan.method.losses",
    # data
    "TrainingData": "factorgan.data.interface",
    "InMemoryData": "factorgan.data.in_memory",
    "PooledData": "factorgan.data.pools",
    "from_pools": "factorgan.data.pools",
    "from_observed": "factorgan.data.pools",
    # the steps of your own loop
    "real_batch": "factorgan.training.steps",
    "Steps": "factorgan.training.steps",
    "StepContext": "factorgan.training.steps",
    "AdversarialSteps": "factorgan.training.steps",
    # drawing samples
    "uniform_noise": "factorgan.samples.generate",
    "eval_mode": "factorgan.samples.generate",
    "draw_samples": "factorgan.samples.generate",
    # the contracts of configured objects
    "Generator": "factorgan.contracts",
    "Evaluator": "factorgan.contracts",
    # whole runs
    "Trainer": "factorgan.training.loop",
    "TrainerSettings": "factorgan.training.loop",
    "Schedule": "factorgan.training.loop",
    "train": "factorgan.cli.train",
    "build_trainer": "factorgan.build",
    "load_run": "factorgan.build",
    # errors a user's input can cause (factorgan.errors has each kind)
    "FactorganError": "factorgan.errors",
    "ConfigError": "factorgan.errors",
    "DatasetError": "factorgan.errors",
    "RunError": "factorgan.errors",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'factorgan' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
