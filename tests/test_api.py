"""The public API: every export resolves, and docs/api.md's examples run as written."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import factorgan

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", API_DOC.read_text(), flags=re.S)


def test_every_export_resolves():
    for name in factorgan.__all__:
        assert getattr(factorgan, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        factorgan.nope  # noqa: B018


def test_the_one_step_example_runs_and_moves_both_sides():
    block = code_blocks()[0]
    assert len(block.strip().splitlines()) <= 40
    scope: dict = {}
    torch.manual_seed(0)
    exec(compile(block, str(API_DOC), "exec"), scope)  # noqa: S102
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
    exec(compile(code_blocks()[1], str(API_DOC), "exec"), scope)  # noqa: S102
    assert scope["trainer"].step == 20
    assert (tmp_path / "outputs" / "api_example" / "checkpoints" / "last.pt").exists()
