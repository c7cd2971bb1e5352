"""The contracts of configured objects (factorgan.contracts), the errors in one module
(factorgan.errors) and the builder's refusals naming the missing piece."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from torch import nn

from factorgan import errors
from factorgan.build import build_trainer
from factorgan.contracts import Generator, check_evaluator, check_generator, check_steps
from factorgan.errors import ContractError, FactorganError
from factorgan.runs.results.evaluation import build_evaluator
from factorgan.training.steps import AdversarialSteps
from tests.conftest import TINY, compose_config

PACKAGE = Path(errors.__file__).resolve().parent


class NoNoise(nn.Module):
    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return z


class OneArgument(nn.Module):
    noise_dim = 4

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z


class Fine(OneArgument):
    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return z


def test_a_generator_needs_noise_dim_and_forward_z_cond():
    check_generator(Fine())
    assert isinstance(Fine(), Generator)
    with pytest.raises(ContractError, match="NoNoise has no noise_dim"):
        check_generator(NoNoise())
    with pytest.raises(ContractError, match=r"OneArgument.forward does not take \(z, cond\)"):
        check_generator(OneArgument())


def test_steps_and_evaluators_name_what_they_lack():
    check_steps(AdversarialSteps())
    with pytest.raises(ContractError, match="has no discriminator_losses, generator_loss"):
        check_steps(type("Half", (), {"networks": lambda self: {}})())
    check_evaluator(lambda generator, data: {})
    with pytest.raises(ContractError, match="not a callable"):
        check_evaluator(lambda generator: {})
    with pytest.raises(ContractError, match=r"evaluation \(builtins.dict\).*not a callable"):
        build_evaluator({"_target_": "builtins.dict"})


def test_the_builder_refuses_a_generator_without_noise_dim(tmp_path):
    cfg = compose_config(*TINY, "generator._target_=torch.nn.Identity")
    with pytest.raises(ContractError, match=r"generator \(torch.nn.Identity\): .*Identity has no noise_dim"):
        build_trainer(cfg, tmp_path)


def test_user_errors_live_in_one_module_and_keep_their_old_paths():
    from factorgan.errors import CliError
    from factorgan.data.in_memory import DatasetError, PairedCountError
    from factorgan.runs.directory import RunError
    from factorgan.runs.metrics import DamagedMetrics
    from factorgan.runs.scalars import NonFiniteLossError
    from factorgan.runs.threads import ThreadsError

    for old in (CliError, DatasetError, PairedCountError, RunError, DamagedMetrics, NonFiniteLossError, ThreadsError):
        assert getattr(errors, old.__name__) is old and issubclass(old, FactorganError)
    for kind in (errors.RunExists, errors.RunInUse, errors.WriteFailed, errors.CheckpointUnreadable):
        assert issubclass(kind, errors.RunError)  # `except RunError` still catches each
    # no other module of the package defines an exception class
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not bases & {"Exception", "ValueError", "RuntimeError"}, f"{path}: {node.name}"


def imports_of(path: Path) -> set[str]:
    """Every factorgan module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("factorgan"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("factorgan"))
    return found


def test_runs_has_no_import_circle():
    modules = {f"factorgan.runs.{p.stem}": p for p in (PACKAGE / "runs").glob("*.py") if p.stem != "__init__"}
    graph = {m: imports_of(p) & set(modules) for m, p in modules.items()}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph[start])

    circles = [m for m in graph if reaches(m, m, set())]
    assert not circles, circles
