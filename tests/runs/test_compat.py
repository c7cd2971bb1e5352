"""Runs made by earlier versions (committed in tests/fixtures: release 0.1.0, 0.2.0 before
runs/ and data/ were split, and 0.2.0 after its second architecture step) still evaluate,
sample and resume, with the numbers those versions computed."""
from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from conftest import compose_config
from factorgan.cli import evaluate, sample
from factorgan.cli.train import train
from factorgan.moved import MOVED
from factorgan.runs import checkpoint
from factorgan.runs.rundir.compat import today_target, upgrade_config
from factorgan.runs.resume.policy import config_differences

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
# <the version's fixtures>/runs/<run>
EARLIER = ("release_0_1/paired_mnist_factorgan", "release_0_1/segmentation_cyclegan", "v0_2_ab63115/paired_mnist_factorgan")
TODAYS = "v0_2_760131f/paired_mnist_factorgan"  # config.yaml in today's form
RUNS = (*EARLIER, TODAYS)
# The command lines that made the fixtures (see their README), as the same run today.
OVERRIDES = {
    "paired_mnist_factorgan": [
        "experiment=paired_mnist", "model=factorgan", "paired=50", "seed=1", "generator.hidden=16",
        "discriminator.hidden=16", "trainer.max_steps=4", "trainer.log_every=2", "trainer.sample_every=2",
        "trainer.ckpt_every=2", "trainer.snapshot_every=2", "trainer.progress=false", "device=cpu",
        "evaluation.num_samples=100", "evaluation.classifier_epochs=1", "evaluation.progress=false"],
    "segmentation_cyclegan": [
        "experiment=cityscapes_seg", "trainer=cpu", "model=cyclegan", "paired=5", "dataset=synthetic",
        "dataset.sample_shape=[6,16,16]", "dataset.dim=0", "dataset.sizes=[3,3]", "dataset.input_parts=1",
        "dataset.n_train=20", "dataset.n_test=6", "dataset.uint8=true", "generator.width=4",
        "discriminator.filters=4", "trainer.max_steps=4", "trainer.log_every=2", "trainer.sample_every=2",
        "trainer.ckpt_every=2", "trainer.progress=false", "device=cpu"],
}


@pytest.fixture
def old_run(tmp_path: Path, request) -> Path:
    """A copy of a fixture run (evaluating writes into a run; the fixture stays as made)."""
    version, name = request.param.split("/")
    return Path(shutil.copytree(FIXTURES / version / "runs" / name, tmp_path / version / name))


def saved_config(run: str) -> dict:
    version, name = run.split("/")
    return yaml.safe_load((FIXTURES / version / "runs" / name / "config.yaml").read_text())


def targets(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["_target_"]] if "_target_" in node else []
        return own + [t for v in node.values() for t in targets(v)]
    return [t for v in node for t in targets(v)] if isinstance(node, list) else []


@pytest.mark.parametrize("run", EARLIER)
def test_old_configs_upgrade_to_importable_targets_and_todays_keys(run):
    name = run.split("/")[1]
    old = saved_config(run)
    assert any(today_target(t) != t for t in targets(old))  # the fixture really names old paths
    for target in targets(old):  # a module that moved still imports, as the same objects
        module, _, attr = target.rpartition(".")
        if module in MOVED:
            new_module, _, _ = today_target(target).rpartition(".")
            assert getattr(importlib.import_module(module), attr) is getattr(importlib.import_module(new_module), attr)
    new = upgrade_config(old)
    for target in targets(new):
        module, _, attr = target.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), target
    assert "trainer" not in new["model"] and ("steps" in new["model"]) == (name == "segmentation_cyclegan")
    assert "discriminator" in old["model"] and "discriminator" not in new["model"]  # model.combined today
    assert new["model"]["combined"] == upgrade_config({"model": {"discriminator": old["model"]["discriminator"]}})["model"]["combined"]
    assert new["run_tags"] == ({"lam": 0.9} if name == "paired_mnist_factorgan" else {})
    assert upgrade_config(new) == new  # today's configs pass unchanged
    # The same command line today composes the upgraded config, up to what may change on resume.
    # Only defaults that changed since (named here) differ: a resume keeps the run's values.
    today = compose_config(*OVERRIDES[name])
    changed = {"segmentation_cyclegan": ["generator.upsample: 'transpose' -> 'bilinear'"]}.get(name, [])
    assert config_differences(new, OmegaConf.to_container(today, resolve=True)) == changed


def test_a_config_saved_in_todays_form_reads_unchanged_and_matches_its_command():
    saved = saved_config(TODAYS)
    assert upgrade_config(saved) == saved and "combined" in saved["model"]
    today = compose_config(*OVERRIDES["paired_mnist_factorgan"])
    assert config_differences(saved, OmegaConf.to_container(today, resolve=True)) == []


@pytest.mark.parametrize("old_run", RUNS, indirect=True)
def test_old_runs_evaluate_to_the_metrics_they_recorded(old_run):
    recorded = json.loads((old_run / "metrics.json").read_text())["metrics"]
    metrics = evaluate.main([f"run={old_run}", "device=cpu"])
    # metrics added since (the official segmentation accuracy, class coverage) come on top
    assert set(recorded) <= set(metrics) and set(metrics) - set(recorded) <= {"pixel_accuracy_official", "classes_covered", "class_tv"}
    assert {k: metrics[k] for k in recorded} == pytest.approx(recorded, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("old_run", RUNS, indirect=True)
def test_old_runs_sample_what_they_sampled(old_run, tmp_path):
    kind = "paired_mnist" if old_run.name.startswith("paired") else "segmentation"
    recorded = np.load(FIXTURES / old_run.parent.name / f"samples_{kind}.npz")
    out = sample.main([f"run={old_run}", f"n={len(recorded['samples'])}", f"out={tmp_path / 'x.npz'}"])
    np.testing.assert_allclose(np.load(out)["samples"], recorded["samples"], rtol=0, atol=1e-6)


@pytest.mark.parametrize("old_run", ["release_0_1/paired_mnist_factorgan"], indirect=True)
def test_an_old_snapshot_evaluates_beside_the_final_metrics(old_run):
    final = json.loads((old_run / "metrics.json").read_text())["metrics"]
    evaluate.main([f"run={old_run}", "checkpoint=step_0000002"])
    saved = json.loads((old_run / "metrics.json").read_text())
    assert saved["metrics"] == final and "step_0000002.pt" in saved["by_checkpoint"]


@pytest.mark.parametrize("old_run", RUNS, indirect=True)
def test_old_runs_resume_from_their_checkpoints(old_run):
    before = checkpoint.load(old_run / "checkpoints" / checkpoint.LAST)
    overrides = [*OVERRIDES[old_run.name], "trainer.max_steps=6", "resume=true", "evaluation=null"]
    trainer = train(compose_config(*overrides), old_run, overrides=overrides)  # as main() calls it
    assert trainer.step == 6
    # a default changed since the run was made: the run keeps its own value
    assert trainer.config["generator"].get("upsample") in (None, "transpose")
    after = checkpoint.load(old_run / "checkpoints" / checkpoint.LAST)
    assert after["step"] == 6 and set(after) >= set(before) - {"config"}
    moved = [k for k, v in before["generator"].items() if v.is_floating_point()
             and not torch.equal(v, after["generator"][k])]
    assert moved  # the old weights were loaded and trained on


def test_earlier_spellings_of_model_combined_are_read_as_todays_keys(tmp_path, capsys):
    """An experiment or model file of one's own that still sets ``model.discriminator.<key>``
    over a model of today: merged over ``model.combined``, said once; command-line
    overrides spelt that way become today's."""
    from factorgan.build import build_trainer
    from factorgan.runs.rundir.compat import current_config, upgrade_overrides

    assert upgrade_overrides(["model.discriminator.tree=chain", "+model.discriminator.x=1", "~model.discriminator",
                              "discriminator.hidden=8", "model.discriminators=1"]) == [
        "model.combined.tree=chain", "+model.combined.x=1", "~model.combined", "discriminator.hidden=8",
        "model.discriminators=1"]
    today = compose_config(*OVERRIDES["paired_mnist_factorgan"])
    assert current_config(today) is today and capsys.readouterr().err == ""
    mixed = compose_config(*OVERRIDES["paired_mnist_factorgan"], "+model.discriminator.dep_q=false")
    upgraded = current_config(mixed)
    assert "model.discriminator is spelt model.combined" in capsys.readouterr().err
    assert "discriminator" not in upgraded.model and upgraded.model.combined.dep_q is False
    assert upgraded.model.combined.dep_p is True and upgraded.model.combined._target_ == today.model.combined._target_
    t = build_trainer(upgraded, tmp_path)
    assert [term.name for term in t.D.term_list] == ["marginal_0", "marginal_1", "dep_p"]
