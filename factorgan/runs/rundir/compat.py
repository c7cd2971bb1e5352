"""Reading runs made by earlier versions: their ``config.yaml`` and checkpoints are data
researchers own, so they keep evaluating, sampling and resuming.

:func:`upgrade_config` turns a saved config into today's form (every place a run's
config is read goes through it: evaluate, sample, resume checks, results). Checkpoint
keys (``generator``, ``discriminator``, ``opt_g``, ``opt_d``, ``inverse_generator``, the
sub-discriminators' ``nets.<term>`` names) have not changed since release 0.1.0.
"""
from __future__ import annotations

import copy
import re
import sys
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf

from factorgan.moved import MOVED

# Release 0.1.0's ``_target_`` paths -> today's.
TARGETS: dict[str, str] = {
    "factorgan.combined.FactorisedDiscriminator": "factorgan.method.variants.factorised_discriminator",
    "factorgan.combined.JointDiscriminator": "factorgan.method.variants.joint_discriminator",
    "factorgan.cyclegan.CycleDiscriminator": "factorgan.training.cyclegan.cycle_discriminator",
    "factorgan.cyclegan.CycleGANTrainer": "factorgan.training.cyclegan.CycleGANSteps",
    "factorgan.losses.generator_objective": "factorgan.method.losses.generator_objective",
    "factorgan.discriminators.MLPDiscriminator": "factorgan.nets.mlp.MLPDiscriminator",
    "factorgan.discriminators.ConvDiscriminator": "factorgan.nets.conv.ConvDiscriminator",
    "factorgan.generators.MLPGenerator": "factorgan.nets.mlp.MLPGenerator",
    "factorgan.generators.ConvGenerator": "factorgan.nets.conv.ConvGenerator",
    "factorgan.unet.UNetGenerator": "factorgan.nets.unet.UNetGenerator",
    "factorgan.datasets.mnist.paired_mnist": "factorgan.data.formats.mnist.paired_mnist",
    "factorgan.datasets.cityscapes.cityscapes": "factorgan.data.formats.cityscapes.cityscapes",
    "factorgan.datasets.image_pairs.cityscapes_pairs": "factorgan.data.formats.image_pairs.cityscapes_pairs",
    "factorgan.datasets.image_pairs.edges2shoes": "factorgan.data.formats.image_pairs.edges2shoes",
    "factorgan.datasets.synthetic.random_parts": "factorgan.data.synthetic.random_parts",
    "factorgan.evaluation.PairedMNISTEvaluator": "factorgan.evaluators.paired_mnist.PairedMNISTEvaluator",
    "factorgan.segmentation.CityscapesEvaluator": "factorgan.evaluators.segmentation.CityscapesEvaluator",
    "factorgan.ls_score.LSScoreEvaluator": "factorgan.evaluators.image_pairs.LSScoreEvaluator",
    "factorgan.samples.SampleWriter": "factorgan.samples.grids.SampleWriter",
    "factorgan.samples.ComparisonSampleWriter": "factorgan.samples.grids.ComparisonSampleWriter",
}


# Datasets read from pix2pix's aligned files (their ``dataset.order``).
ALIGNED_TARGETS = (
    "factorgan.data.formats.cityscapes.cityscapes",
    "factorgan.data.formats.image_pairs.cityscapes_pairs",
    "factorgan.data.formats.image_pairs.edges2shoes",
)


def today_target(target: str) -> str:
    """A ``_target_`` path as today's code names it: release 0.1.0's (:data:`TARGETS`), or
    one in a module that has moved since (:data:`factorgan.moved.MOVED`)."""
    target = TARGETS.get(target, target)
    module, _, name = target.rpartition(".")
    moved = MOVED.get(module)
    return f"{moved}.{name}" if isinstance(moved, str) else target


def _retarget(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _retarget(v) for k, v in node.items()}
        if isinstance(out.get("_target_"), str):
            out["_target_"] = today_target(out["_target_"])
        return out
    if isinstance(node, list):
        return [_retarget(v) for v in node]
    return node


def upgrade_config(config: dict[str, Any]) -> dict[str, Any]:
    """A saved run config in today's form (a new dict; today's configs pass unchanged).

    - old ``_target_`` paths (:func:`today_target`);
    - CycleGAN's ``model.trainer`` (a Trainer subclass) -> ``model.steps``;
    - ``model.discriminator`` (the combined discriminator's builder) -> ``model.combined``
      (merged over it where a config has both: an experiment file of one's own that sets
      ``model.discriminator.<key>`` over a model of today);
    - ``lam``, once a key of every experiment (null outside PairedMNIST), is PairedMNIST's
      own: dropped where null, and the run-path tags it made become ``run_tags``;
    - PairedMNIST's ``dataset.lam_rule`` and the aligned image datasets' ``dataset.order``
      (added after release 0.1.0): ``text`` and ``natural``, what those runs used.
    """
    cfg = _retarget(copy.deepcopy(config))
    model = cfg.get("model")
    if isinstance(model, dict) and "trainer" in model and "steps" not in model:
        model["steps"] = model.pop("trainer")
    if isinstance(model, dict) and "discriminator" in model:
        old = model.pop("discriminator")
        today = model.get("combined")
        model["combined"] = {**today, **old} if isinstance(today, dict) and isinstance(old, dict) else old
    dataset = cfg.get("dataset")
    if isinstance(dataset, dict) and dataset.get("_target_") == "factorgan.data.formats.mnist.paired_mnist":
        dataset.setdefault("lam_rule", "text")  # the only rule before the official one was offered
    if isinstance(dataset, dict) and dataset.get("_target_") in ALIGNED_TARGETS:
        dataset.setdefault("order", "natural")  # the only order before the official one was offered
    if "run_tags" not in cfg:
        lam = cfg.pop("lam", None)
        cfg["run_tags"] = {}
        if lam is not None:
            cfg["lam"] = lam
            cfg["run_tags"]["lam"] = lam
    return cfg


# Command-line keys renamed since: the earlier spelling -> today's.
_OLD_KEYS = re.compile(r"^(\+{0,2}|~)model\.discriminator(?=[.=]|$)")


def upgrade_overrides(overrides: Sequence[str]) -> list[str]:
    """Command-line overrides in today's keys (``model.discriminator.tree=chain`` ->
    ``model.combined.tree=chain``); others pass unchanged."""
    return [_OLD_KEYS.sub(r"\1model.combined", o) for o in overrides]


def current_config(cfg: DictConfig) -> DictConfig:
    """A composed config in today's keys: one that still sets ``model.discriminator``
    (an experiment or model file of one's own) has it read as ``model.combined``, said
    once on stderr; today's configs are returned as they are."""
    model = cfg.get("model")
    if not isinstance(model, DictConfig) or "discriminator" not in model:
        return cfg
    print("note: model.discriminator is spelt model.combined now; read as such", file=sys.stderr)
    upgraded = OmegaConf.create(upgrade_config(OmegaConf.to_container(cfg, resolve=False)))  # type: ignore[arg-type]
    OmegaConf.set_struct(upgraded, OmegaConf.is_struct(cfg))
    return upgraded
