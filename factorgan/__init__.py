"""factorgan: training GANs from incomplete observations with factorised discriminators.

The pieces for your own training code (docs/api.md), imported on first use::

    from factorgan import Factorisation, CombinedDiscriminator, factorgan_terms, generator_objective
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

# Public name -> the module that defines it.
_EXPORTS = {
    # the method
    "Factorisation": "factorgan.method.factorisation",
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
    # drawing samples
    "uniform_noise": "factorgan.samples.generate",
    "eval_mode": "factorgan.samples.generate",
    "draw_samples": "factorgan.samples.generate",
    # whole runs
    "Trainer": "factorgan.training.loop",
    "Schedule": "factorgan.training.loop",
    "build_trainer": "factorgan.cli.train",
}
__all__ = sorted(_EXPORTS) + ["train"]


def __getattr__(name: str) -> Any:
    if name == "train":  # the module factorgan.train is callable as train(cfg, run_dir=None)
        return importlib.import_module("factorgan.train")
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'factorgan' has no attribute {name!r}")
