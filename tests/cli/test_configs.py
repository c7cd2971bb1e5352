"""Every config file: its ``_target_`` paths import, and every experiment composes."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from conftest import compose_config

CONFIGS = Path(__file__).resolve().parents[2] / "factorgan" / "configs"
FILES = sorted(p for p in CONFIGS.rglob("*.yaml"))


def targets(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["_target_"]] if isinstance(node.get("_target_"), str) else []
        return own + [t for v in node.values() for t in targets(v)]
    return [t for v in node for t in targets(v)] if isinstance(node, list) else []


def test_the_configs_name_targets():
    assert len({t for f in FILES for t in targets(yaml.safe_load(f.read_text()) or {})}) >= 15


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_target_imports(path):
    for target in targets(yaml.safe_load(path.read_text()) or {}):
        if target.startswith("hydra_plugins."):
            continue  # launcher plugins: Hydra's own
        module, _, attr = target.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attr)), target


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml")))
def test_every_experiment_composes_with_its_run_tags(experiment):
    cfg = compose_config(f"experiment={experiment}")
    model = "factorgan_tree" if experiment == "mnist_halves" else "factorgan"  # the tree is that experiment's point
    assert cfg.experiment_name == experiment and cfg.run_path.startswith(f"{experiment}/{model}/paired")
    # lam: the digit experiments' own key, named in their run paths.
    assert ("lam" in cfg) == (experiment in ("paired_mnist", "mnist_pools", "mnist_halves", "triple_mnist"))
    assert ("lam" in cfg) == ("_lam" in cfg.run_path)


def test_the_readme_evaluate_example_names_a_snapshot_the_default_run_keeps():
    """``python -m factorgan.evaluate run=… checkpoint=step_0005000`` (README) works on the
    default run: the CPU preset keeps that snapshot; the paper's schedule keeps none."""
    import re

    readme = (CONFIGS.parents[1] / "README.md").read_text()
    named = {int(n) for n in re.findall(r"checkpoint=step_(\d{7})", readme)}
    assert named, "the README's evaluate example names a snapshot"
    trainer = compose_config().trainer
    kept = {s for s in range(1, trainer.max_steps + 1) if trainer.snapshot_every and s % trainer.snapshot_every == 0}
    assert named <= kept and len(kept) <= 4  # a few snapshots, not one per checkpoint
    assert compose_config("trainer=paper").trainer.snapshot_every == 0
