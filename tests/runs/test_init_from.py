"""``init_from=<run or checkpoint>``: a new run that starts from another run's weights."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import TINY, compose_config
from factorgan.build import build_trainer
from factorgan.cli.train import train
from factorgan.runs import checkpoint
from factorgan.errors import RunError
from factorgan.runs.resume.init_from import initialise

SMALL = [*TINY, "generator.hidden=16", "discriminator.hidden=16", "trainer.sample_every=0"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A tiny trained run (4 steps) to start from."""
    run_dir = tmp_path_factory.mktemp("init") / "source"
    train(compose_config(*SMALL), run_dir)
    return run_dir


def weights(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_a_new_run_takes_the_weights_with_its_own_settings_and_starts_at_step_0(source, tmp_path):
    saved = checkpoint.load(source / "checkpoints" / "last.pt")
    cfg = compose_config(*SMALL, f"init_from={source}", "optimizer.lr=1e-5", "trainer.max_steps=2")
    trainer = build_trainer(cfg, tmp_path / "new")
    message = initialise(trainer, cfg.init_from)
    assert trainer.step == 0 and "its step 4" in message and "optimiser" not in message
    for key, value in saved["generator"].items():
        torch.testing.assert_close(trainer.G.state_dict()[key], value)
    for key, value in saved["discriminator"].items():
        torch.testing.assert_close(trainer.D.state_dict()[key], value)
    assert trainer.opt_g.state_dict()["state"] == {}  # fresh optimiser by default
    # through train(): a separate run directory, trained from step 0 to its own max_steps
    new = train(cfg, tmp_path / "new")
    assert new is not None and checkpoint.load(tmp_path / "new" / "checkpoints" / "last.pt")["step"] == 2
    assert new.config["init_from"] == str(source)


def test_init_optimizer_takes_the_moments_but_keeps_the_new_learning_rate(source, tmp_path):
    saved = checkpoint.load(source / "checkpoints" / "last.pt")
    trainer = build_trainer(compose_config(*SMALL, "optimizer.lr=1e-5"), tmp_path / "new")
    initialise(trainer, source / "checkpoints" / "last.pt", with_optimizer=True)
    state = trainer.opt_g.state_dict()
    assert {g["lr"] for g in state["param_groups"]} == {1e-5}
    first = next(iter(saved["opt_g"]["state"]))
    torch.testing.assert_close(state["state"][first]["exp_avg"], saved["opt_g"]["state"][first]["exp_avg"])
    assert len(trainer.opt_d.state_dict()["state"]) == len(saved["opt_d"]["state"]) > 0


def test_networks_of_another_shape_are_refused_naming_the_parameters(source, tmp_path):
    trainer = build_trainer(compose_config(*SMALL[:-3], "generator.hidden=8", "discriminator.hidden=16"),
                            tmp_path / "new")
    before = weights(trainer.G)
    with pytest.raises(RunError) as err:
        initialise(trainer, source)
    text = str(err.value)
    assert "do not match this run's" in text
    assert "generator.net.0.weight: (16, 50) in the checkpoint, (8, 50) here" in text
    assert "generator.net.4.weight: (1568, 16) in the checkpoint, (1568, 8) here" in text
    assert "discriminator." not in text  # its shapes match
    for key, value in before.items():  # nothing was loaded
        torch.testing.assert_close(trainer.G.state_dict()[key], value)


def test_missing_sources_are_clear_errors(source, tmp_path):
    trainer = build_trainer(compose_config(*SMALL), tmp_path / "new")
    with pytest.raises(RunError, match="no such run directory or checkpoint file"):
        initialise(trainer, tmp_path / "nope")
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(RunError, match="holds no checkpoints/last.pt"):
        initialise(trainer, tmp_path / "empty_run")
    # a run's checkpoints/ folder is understood as the run
    assert "Initialised from" in initialise(trainer, source / "checkpoints")
