"""The public API: every export resolves, and docs/api.md's examples run as written."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

import factorgan

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API_DOC.read_text(), flags=re.S)


def block(containing: str) -> str:
    """The one code block of docs/api.md containing ``containing``."""
    found = [b for b in code_blocks() if containing in b]
    assert len(found) == 1, containing
    return found[0]


def test_every_export_resolves():
    for name in factorgan.__all__:
        assert getattr(factorgan, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        factorgan.nope  # noqa: B018


def test_every_export_is_typed_and_listed_by_dir():
    # the TYPE_CHECKING imports name exactly the exports, so editors and type checkers see them
    tree = ast.parse(Path(factorgan.__file__).read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    typed = {a.asname or a.name for imp in guarded.body for a in imp.names}  # type: ignore[attr-defined]
    assert typed == set(factorgan.__all__)
    assert set(factorgan.__all__) <= set(dir(factorgan))
    for imp in guarded.body:  # each typed import names the module the lazy export loads
        for a in imp.names:  # type: ignore[attr-defined]
            assert factorgan._EXPORTS[a.name] == imp.module, a.name  # type: ignore[attr-defined]


def test_train_is_a_function_and_old_import_paths_still_work():
    import types

    from factorgan.build import build_trainer, load_run
    from factorgan.cli import common
    from factorgan.cli import train as cli_train

    assert isinstance(factorgan.train, types.FunctionType) and factorgan.train is cli_train.train
    assert cli_train.build_trainer is build_trainer and common.load_run is load_run  # users' imports of 0.2


def test_docs_api_lists_every_export():
    text = API_DOC.read_text()
    listed = set(re.findall(r"^\| (.*?) \|", text, flags=re.M))
    names = {m for row in listed for m in re.findall(r"`(\w+)", row)}
    assert set(factorgan.__all__) <= names, set(factorgan.__all__) - names


def test_the_one_step_example_runs_and_moves_both_sides():
    one_step = block("D.losses(real, fake)")
    assert len(one_step.strip().splitlines()) <= 40
    scope: dict = {}
    torch.manual_seed(0)
    exec(compile(one_step, str(API_DOC), "exec"), scope)  # noqa: S102
    assert set(scope["losses"]) == {"marginal_0", "marginal_1", "dep_p", "dep_q"}
    assert all(p.grad is not None for p in scope["G"].parameters())
    assert all(p.requires_grad for p in scope["D"].parameters())  # unfrozen again
    # the combined logit the generator trained against is the signed sum of the terms
    logits = scope["logits"]
    expected = logits["marginal_0"] + logits["marginal_1"] + logits["dep_p"] - logits["dep_q"]
    torch.testing.assert_close(scope["D"].combine(logits), expected)


def test_the_whole_run_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block("factorgan.train(cfg"), str(API_DOC), "exec"), scope)  # noqa: S102
    assert scope["trainer"].step == 20
    assert (tmp_path / "outputs" / "api_example" / "checkpoints" / "last.pt").exists()
    again = scope["again"]  # load_run: the same trainer read back from the run directory
    assert scope["name"] == "last.pt" and again.step == 20
    # Weights, not buffers: the example's term_logits ran a spectral-norm power iteration
    # after the checkpoint was written.
    for mine, theirs in ((scope["trainer"].G, again.G), (scope["trainer"].D, again.D)):
        for (key, a), b in zip(mine.named_parameters(), theirs.parameters()):
            torch.testing.assert_close(b, a, rtol=0, atol=0, msg=key)


def test_the_own_data_example_draws_what_each_term_reads():
    scope: dict = {}
    torch.manual_seed(0)
    exec(compile(block("D.losses(real, fake)"), str(API_DOC), "exec"), scope)  # noqa: S102: D and G
    exec(compile(block("from_pools("), str(API_DOC), "exec"), scope)  # noqa: S102
    real, data = scope["real"], scope["data"]
    assert real.paired.shape == (25, 32) and set(real.parts) == {0, 1}
    assert data.pool_sizes() and set(scope["losses"]) == {"marginal_0", "marginal_1", "dep_p", "dep_q"}


def test_load_run_rebuilds_a_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(block("factorgan.train(cfg"), str(API_DOC), "exec"), scope)  # noqa: S102
    trainer, name = factorgan.load_run(tmp_path / "outputs" / "api_example")
    assert name == "last.pt" and trainer.step == 20
    assert trainer.during_evaluation is None  # a run read back does not evaluate during training
