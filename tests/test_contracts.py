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


def import_graph_script():
    import importlib.util

    spec = importlib.util.spec_from_file_location("import_graph", PACKAGE.parent / "scripts" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_package_has_no_import_circle(capsys):
    """No modules of the package import each other in a loop, not even through imports
    inside functions (which defer a dependency rather than remove it)."""
    graphs = import_graph_script()
    assert graphs.main(["--root", str(PACKAGE.parent)]) == 0
    out = capsys.readouterr().out
    assert "imports at import: " in out and out.count(", 0 circle(s)") == 2, out
    # the finder itself: a planted loop is found, and only that one
    assert graphs.circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
