"""What a run does with a run directory that already holds a run (``on_existing``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from conftest import TINY, compose_config
from factorgan.runs import checkpoint
from factorgan.runs import directory as runs
from factorgan.runs import metrics as run_metrics
from factorgan.runs.directory import RunError, on_existing_policy, plan_run


def config(*overrides: str) -> dict[str, Any]:
    return OmegaConf.to_container(compose_config(*TINY, *overrides), resolve=True)  # type: ignore[return-value]


def save_run(run_dir: Path, cfg: dict[str, Any], step: int) -> Path:
    """A checkpoint as training writes it (only the fields the plan reads matter here)."""
    path = checkpoint.checkpoint_dir(run_dir) / checkpoint.LAST
    checkpoint.save_atomic({"step": step, "config": cfg}, path)
    run_metrics.write_metrics_placeholder(run_dir)
    return path


def test_auto_policy_continues_sweeps_and_refuses_single_runs():
    assert on_existing_policy("auto", multirun=True) == "continue"
    assert on_existing_policy("auto", multirun=False) == "refuse"
    assert on_existing_policy("continue", multirun=False) == "continue"
    assert on_existing_policy("refuse", multirun=True) == "refuse"
    with pytest.raises(RunError, match="refuse, continue"):
        on_existing_policy("overwrite", multirun=True)


def test_continue_starts_resumes_or_skips(tmp_path):
    cfg = config()  # trainer.max_steps=4
    assert plan_run(tmp_path, cfg, False, "continue", needs_metrics=False).action == "start"
    last = save_run(tmp_path, cfg, step=2)
    plan = plan_run(tmp_path, cfg, False, "continue", needs_metrics=False)
    assert (plan.action, plan.checkpoint) == ("resume", last) and "step 2 of 4" in plan.reason
    save_run(tmp_path, cfg, step=4)
    plan = plan_run(tmp_path, cfg, False, "continue", needs_metrics=False)
    assert plan.action == "skip" and "step 4 of 4" in plan.reason
    # a larger max_steps turns a finished run into an unfinished one: it is extended
    assert plan_run(tmp_path, config("trainer.max_steps=8"), False, "continue", False).action == "resume"


def test_continue_waits_for_metrics_when_an_evaluation_is_configured(tmp_path):
    cfg = config()
    save_run(tmp_path, cfg, step=4)
    # trained but not evaluated (e.g. the evaluation crashed): resume, which evaluates
    assert plan_run(tmp_path, cfg, False, "continue", needs_metrics=True).action == "resume"
    run_metrics.write_metrics(tmp_path, {"fid": 3.0}, step=4, checkpoint_name=checkpoint.LAST)
    plan = plan_run(tmp_path, cfg, False, "continue", needs_metrics=True)
    assert plan.action == "skip" and "metrics written" in plan.reason


def test_continue_still_refuses_a_changed_config(tmp_path):
    save_run(tmp_path, config(), step=4)
    with pytest.raises(RunError, match=r"lam: 0\.9 -> 0\.5"):
        plan_run(tmp_path, config("lam=0.5"), False, "continue", needs_metrics=False)
    # how many threads or what to do with existing runs are not part of the run
    plan = plan_run(tmp_path, config("threads=3", "on_existing=continue"), False, "continue", False)
    assert plan.action == "skip"


def test_refuse_keeps_the_single_run_behaviour(tmp_path):
    cfg = config()
    assert plan_run(tmp_path, cfg, False, "refuse", needs_metrics=False).action == "start"
    last = save_run(tmp_path, cfg, step=4)
    with pytest.raises(RunError, match="resume=true"):
        plan_run(tmp_path, cfg, False, "refuse", needs_metrics=False)
    plan = plan_run(tmp_path, cfg, True, "refuse", needs_metrics=False)
    assert (plan.action, plan.checkpoint) == ("resume", last)
