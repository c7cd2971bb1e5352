"""A run read back from its directory (factorgan.runs.rundir.saved_run): its config and
checkpoint found without loading anything, errors that name what is there."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from factorgan.errors import CliError, NoSuchCheckpoint, NoSuchRun
from factorgan.runs.rundir.saved_run import open_run

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "v0_2_760131f" / "runs" / "paired_mnist_factorgan"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return Path(shutil.copytree(FIXTURE, tmp_path / "runs" / "paired_mnist_factorgan"))


def test_open_run_finds_the_config_and_the_checkpoint_without_loading(run):
    saved = open_run(run)
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert saved.run_dir == run and saved.checkpoint == run / "checkpoints" / "last.pt"
    assert saved.config.model.name == stored["model"]["name"] and saved.config.seed == stored["seed"]
    assert "combined" in saved.config.model  # today's keys, whatever the run was written with


def test_a_missing_run_or_checkpoint_is_named_with_what_exists(run):
    with pytest.raises(NoSuchRun, match=r"(?s)no run directory .*nope.*directories in .*: paired_mnist_factorgan"):
        open_run(run.parent / "nope")
    (run.parent / "empty").mkdir()
    with pytest.raises(NoSuchRun, match="is not a run directory: it has no config.yaml"):
        open_run(run.parent / "empty")
    with pytest.raises(NoSuchCheckpoint, match=r"no checkpoint 'step_9' in .*checkpoints; available: last.pt"):
        open_run(run, "step_9")
    shutil.rmtree(run / "checkpoints")
    with pytest.raises(NoSuchCheckpoint, match=r"available: none \(the run has not saved one yet\)"):
        open_run(run)
    assert issubclass(NoSuchRun, CliError) and issubclass(NoSuchCheckpoint, CliError)  # caught as before
