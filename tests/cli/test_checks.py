"""Up-front config checks (factorgan/cli/checks.py): bad values are refused with a
message naming the key, before anything is built or written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from factorgan.checks import check_config
from factorgan.errors import ConfigError
from tests.conftest import TINY, compose_config

EXPERIMENTS = sorted(p.stem for p in Path("factorgan/configs/experiment").glob("*.yaml"))


def resolved(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_config(*overrides), resolve=True)  # type: ignore[return-value]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("model", ["factorgan", "gan"])
def test_every_experiment_config_passes(experiment: str, model: str) -> None:
    given = REQUIRED.get(experiment, [])  # the users' data experiments need their data named
    check_config(resolved(f"experiment={experiment}", f"model={model}", *given))


REQUIRED = {"arrays": ["dataset.path=d.npz", "dataset.sizes=[8,8,8]"], "image_folders": ["dataset.root=data"]}


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
        ("optimizer.lr=abc", "optimizer.lr='abc' must be a number > 0"),
        ("optimizer.lr=-1", "optimizer.lr=-1 must be a number > 0 (the paper's: optimizer.lr=1e-4)"),
        ("optimizer.betas=[0.5,2]", "optimizer: Invalid beta parameter at index 1: 2"),
        ("trainer.max_steps=1e12", "trainer.max_steps=1e+12 is read as a decimal number"),
        ("trainer.max_steps=1e12", "write its digits: trainer.max_steps=1000000000000"),
        ("device=xla", "device='xla': factorgan trains on auto, cpu, cuda, cuda:N or mps"),
        ("name=../../x", "name='../../x' must be a plain tag"),
        ("name=a/b", "without path separators or '..'"),
        ("name=..", "use hydra.run.dir=<dir>"),
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



@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS present")
def test_mps_without_mps_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"device=mps was asked for but MPS \(Apple's GPU\) is not available"):
        check_config(resolved("device=mps"))


def test_a_plain_name_passes() -> None:
    check_config(resolved("name=lowlr-2_b"))


@pytest.mark.parametrize("overrides, keys, layout", [
    (["experiment=arrays"], ["dataset.path", "dataset.sizes"], "Expected an .npz file with"),
    (["experiment=arrays", "dataset.path=d.npz"], ["dataset.sizes"], "observed  (N, K)"),
    (["experiment=image_folders"], ["dataset.root"], "<root>/pairs/"),
])
def test_required_keys_left_unset_name_the_keys_and_the_layout(overrides, keys, layout) -> None:
    with pytest.raises(ConfigError) as err:
        check_config(resolved(*overrides))
    message = str(err.value)
    experiment = overrides[0].split("=")[1]
    assert message.startswith(f"experiment={experiment} needs {', '.join(keys)}, not set:")
    assert all(f"  {key}: " in message for key in keys) and layout in message
    assert "???" not in message


def test_a_batch_larger_than_every_pool_is_refused_saying_what_each_holds(tmp_path) -> None:
    from factorgan.build import build_trainer

    with pytest.raises(ConfigError) as err:
        build_trainer(compose_config(*TINY, "trainer.batch_size=100000"), tmp_path / "run")
    message = str(err.value)
    assert message.startswith("trainer.batch_size=100000 is larger than all of PairedMNIST")
    assert "100 pairs (paired=100), 4000 training samples" in message
    assert "the largest batch that works is trainer.batch_size=4000" in message
    with pytest.raises(ConfigError, match=r"\(model=gan reads only the pairs\)"):
        build_trainer(compose_config(*TINY, "model=gan", "trainer.batch_size=5000"), tmp_path / "run")
    assert not (tmp_path / "run").exists()
