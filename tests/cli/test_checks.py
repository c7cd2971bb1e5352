"""Up-front config checks (factorgan/cli/checks.py): bad values are refused with a
message naming the key, before anything is built or written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from factorgan.cli.checks import check_config
from factorgan.errors import ConfigError
from tests.conftest import TINY, compose_config

EXPERIMENTS = sorted(p.stem for p in Path("factorgan/configs/experiment").glob("*.yaml"))


def resolved(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_config(*overrides), resolve=True)  # type: ignore[return-value]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("model", ["factorgan", "gan"])
def test_every_experiment_config_passes(experiment: str, model: str) -> None:
    check_config(resolved(f"experiment={experiment}", f"model={model}"))


@pytest.mark.parametrize(
    "override, says",
    [
        ("paired=abc", "paired='abc' must be a whole number"),
        ("paired=-1", "paired=-1 must be ≥ 0"),
        ("seed=x", "seed='x' must be a whole number"),
        ("trainer.batch_size=0", "trainer.batch_size=0 must be ≥ 1"),
        ("trainer.max_steps=0", "trainer.max_steps=0 must be ≥ 1"),
        ("trainer.max_steps=abc", "trainer.max_steps='abc' must be a whole number"),
        ("trainer.sample_every=-1", "trainer.sample_every=-1 must be ≥ 0"),
        ("+trainer.bogus=3", "trainer.bogus is not a trainer setting"),
        ("device=gpu", "device='gpu' is not a device"),
        ("evaluation.num_samples=0", "evaluation.num_samples=0"),
        ("+evaluation.bogus=1", "evaluation.bogus is not a setting of PairedMNISTEvaluator"),
        ("+generator.widht=3", "generator.widht is not a setting of MLPGenerator"),
        ("loss.name=wasserstein", "loss: unknown generator objective 'wasserstein'"),
        ("loss=alpha", None),
        ("optimizer.lr=abc", None),  # not checked up front: Adam itself refuses it
    ],
)
def test_bad_values_are_refused_naming_the_key(override: str, says: str | None) -> None:
    config = resolved(override)
    if says is None:
        check_config(config)
        return
    with pytest.raises(ConfigError, match=None) as err:
        check_config(config)
    assert says in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_cuda_without_cuda_is_refused() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        check_config(resolved("device=cuda"))


def test_paired_all_and_counts_pass() -> None:
    check_config(resolved("paired=all"))
    check_config(resolved("paired=0", "model=factorgan_no_cp"))


def test_cli_refuses_before_writing_anything(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "factorgan.train", *TINY, "threads=1", f"hydra.run.dir={run_dir}", "trainer.batch_size=0"],
        capture_output=True, text=True,
    )
    assert out.returncode == 2
    assert "error: trainer.batch_size=0 must be ≥ 1" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (run_dir / "config.yaml").exists() and not (run_dir / "checkpoints").exists()


def test_the_objective_is_checked_with_its_parameters() -> None:
    check_config(resolved("loss=alpha", "loss.alpha=0.5"))
    with pytest.raises(ConfigError, match="loss: alpha must not be 0 or 1"):
        check_config(resolved("loss=alpha", "loss.alpha=1"))

