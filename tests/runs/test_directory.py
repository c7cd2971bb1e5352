"""What a run does with a run directory that already holds a run (``on_existing``)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from conftest import TINY, compose_config
from factorgan.runs import checkpoint
from factorgan.runs.resume import policy
from factorgan.runs.rundir import config_file, folder
from factorgan.runs.results import metrics_file as run_metrics
from factorgan.errors import RunError
from factorgan.runs.resume.policy import check_resumable, on_existing_policy, plan_run


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


def test_resume_with_nothing_to_resume_is_refused_in_a_single_run(tmp_path):
    (tmp_path / "outputs" / "paired100_lam0.9_seed0").mkdir(parents=True)
    save_run(tmp_path / "outputs" / "paired100_lam0.9_seed0", config(), step=4)
    run_dir = tmp_path / "outputs" / "paired100_lam0.5_seed0"
    with pytest.raises(RunError) as err:
        plan_run(run_dir, config("lam=0.5"), True, "refuse", needs_metrics=False)
    assert f"no run to resume in {run_dir}" in str(err.value)
    assert "runs in" in str(err.value) and "paired100_lam0.9_seed0" in str(err.value)
    # a run with the same settings and a name (earlier speed presets named their runs)
    save_run(tmp_path / "outputs" / "paired100_lam0.5_seed0_fast", config("lam=0.5"), step=4)
    with pytest.raises(RunError, match=r"add name=fast to resume paired100_lam0.5_seed0_fast"):
        plan_run(run_dir, config("lam=0.5"), True, "refuse", needs_metrics=False)
    # a sweep (on_existing=refuse or continue) keeps starting what is not there yet
    assert plan_run(run_dir, config("lam=0.5"), True, "refuse", False, multirun=True).action == "start"
    assert plan_run(run_dir, config("lam=0.5"), True, "continue", False, multirun=True).action == "start"


def test_a_shorter_max_steps_than_the_runs_step_is_refused(tmp_path):
    save_run(tmp_path, config("trainer.max_steps=8"), step=8)
    with pytest.raises(RunError, match=r"trainer.max_steps=4: the run is already at step 8.*max_steps=8"):
        plan_run(tmp_path, config("trainer.max_steps=4"), True, "refuse", needs_metrics=False)
    # a sweep skips it when finished, and refuses rather than resumes it when not evaluated yet
    assert plan_run(tmp_path, config("trainer.max_steps=4"), False, "continue", False).action == "skip"
    with pytest.raises(RunError, match="already at step 8"):
        plan_run(tmp_path, config("trainer.max_steps=4"), False, "continue", needs_metrics=True)
    assert plan_run(tmp_path, config("trainer.max_steps=8"), True, "refuse", False).action == "resume"


def test_a_resume_records_what_produced_the_run_and_keeps_the_calls_own_settings_apart(tmp_path):
    saved = config("trainer.max_steps=8", "device=auto")
    saved["evaluation"] = {"_target_": "some.Evaluator", "num_samples": 100}
    current = config("trainer.max_steps=12", "resume=true", "threads=3", "evaluation=null")
    recorded, changes = policy.resumed_config(saved, current)
    assert recorded["trainer"]["max_steps"] == 12  # extends the run: it produced the checkpoint
    assert recorded["evaluation"] == saved["evaluation"]  # evaluation=null: this call only
    assert (recorded["device"], recorded["threads"], recorded["resume"]) == ("auto", "auto", False)
    assert changes["changed"] == {"trainer.max_steps": {"old": 8, "new": 12}}
    assert changes["this_call_only"]["device"] == {"old": "auto", "new": "cpu"}
    assert changes["this_call_only"]["evaluation"]["new"] is None
    assert "resume" not in changes["this_call_only"]
    # every other key is this call's (equal to the saved run's: check_resumable ensures it)
    assert {k: v for k, v in recorded.items() if k not in config_file.RESUMABLE_CHANGES and k != "trainer"} == \
        {k: v for k, v in current.items() if k not in config_file.RESUMABLE_CHANGES and k != "trainer"}
    # an evaluation given on resume writes the metrics: recorded
    current["evaluation"] = {"_target_": "some.Evaluator", "num_samples": 500}
    recorded, changes = policy.resumed_config(saved, current)
    assert recorded["evaluation"]["num_samples"] == 500 and "evaluation" in changes["changed"]

    import yaml
    policy.record_resume(tmp_path, 8, changes)
    policy.record_resume(tmp_path, 12, {"changed": {}, "this_call_only": {}})
    history = yaml.safe_load((tmp_path / policy.RESUMES).read_text())
    assert [h["from_step"] for h in history] == [8, 12]
    assert history[0]["changed"]["trainer.max_steps"] == {"old": 8, "new": 12} and "time" in history[0]


def test_a_failed_write_of_the_resume_history_keeps_the_earlier_history(tmp_path, monkeypatch):
    import errno

    import yaml

    from factorgan.errors import WriteFailed

    policy.record_resume(tmp_path, 8, {"changed": {}, "this_call_only": {}})
    before = (tmp_path / policy.RESUMES).read_text()

    def full(fd):  # the data reaches the disk at fsync: a full disk fails there
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteFailed, match=r"resumes.yaml: No space left on device.*run the same command again"):
        policy.record_resume(tmp_path, 12, {"changed": {}, "this_call_only": {}})
    monkeypatch.undo()
    assert (tmp_path / policy.RESUMES).read_text() == before
    assert [h["from_step"] for h in yaml.safe_load(before)] == [8]
    assert sorted(p.name for p in tmp_path.iterdir()) == [policy.RESUMES]  # no partial file


def test_a_failed_start_removes_only_what_it_wrote(tmp_path):
    run_dir = tmp_path / "outputs" / "exp" / "gan" / "paired1_seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "train.log").write_text("")  # Hydra's, before the start
    before = folder.entries(run_dir)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    (run_dir / "tb").mkdir()
    (run_dir / "tb" / "events").write_text("x")
    (run_dir / ".lock").write_text("pid 1")
    assert folder.discard_failed_start(run_dir, before, "exp/gan/paired1_seed0")
    assert not run_dir.exists() and not (tmp_path / "outputs" / "exp").exists()
    assert (tmp_path / "outputs").is_dir()  # the root above the run path stays

    # the user's own files (and a non-empty log) are kept; what the start wrote goes
    run_dir.mkdir(parents=True)
    (run_dir / "notes.txt").write_text("mine")
    before = folder.entries(run_dir)
    (run_dir / "config.yaml").write_text("seed: 0\n")
    assert not folder.discard_failed_start(run_dir, before)
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]

    # a run with a checkpoint is never touched
    save_run(run_dir, config(), step=2)
    assert not folder.discard_failed_start(run_dir, set())
    assert (run_dir / "checkpoints" / "last.pt").exists() and (run_dir / "metrics.json").exists()


def test_a_damaged_config_yaml_falls_back_to_the_checkpoints_copy(tmp_path, capsys):
    cfg = config("seed=3")
    save_run(tmp_path, cfg, step=2)
    (tmp_path / "config.yaml").write_text("seed: [unclosed\n  model: {")
    assert config_file.read_config(tmp_path)["seed"] == 3
    err = capsys.readouterr().err
    assert f"{tmp_path / 'config.yaml'} is damaged" in err and "checkpoints/last.pt instead" in err
    (tmp_path / "config.yaml").write_text("just a string")
    assert config_file.read_config(tmp_path)["seed"] == 3
    (tmp_path / "checkpoints" / "last.pt").unlink()
    with pytest.raises(RunError, match="damaged.*no checkpoint holding its config"):
        config_file.read_config(tmp_path)
    config_file.write_config(tmp_path, cfg)  # a resume rewrites it, saying so
    assert "was damaged" in capsys.readouterr().err
    assert config_file.read_config(tmp_path)["seed"] == 3


def test_a_resume_keeps_the_runs_values_of_defaults_that_changed(tmp_path):
    """Keys the command line did not set take the saved run's value; keys it set are
    compared (and refused when they differ); experiment= does not count as setting them."""
    from factorgan.runs.resume.policy import given_on_command_line, keep_run_values

    saved = {"generator": {"upsample": "transpose", "width": 32}, "trainer": {"max_steps": 10}, "seed": 0}
    (tmp_path / "checkpoints").mkdir()
    torch.save({"step": 10, "config": saved}, tmp_path / "checkpoints" / "last.pt")
    today = {"generator": {"upsample": "bilinear", "width": 32}, "trainer": {"max_steps": 20}, "seed": 0}
    config, kept = keep_run_values(tmp_path, today, ["experiment=cityscapes_seg", "trainer.max_steps=20"])
    assert config["generator"]["upsample"] == "transpose" and config["trainer"]["max_steps"] == 20
    assert kept == ["generator.upsample='transpose' (today's default: 'bilinear')"]
    assert today["generator"]["upsample"] == "bilinear"  # not changed in place
    config, kept = keep_run_values(tmp_path, today, ["generator.upsample=bilinear"])
    assert config["generator"]["upsample"] == "bilinear" and kept == []
    assert given_on_command_line("generator.upsample", ["generator=unet"])
    assert given_on_command_line("generator.upsample", ["+generator.upsample=x"])
    assert not given_on_command_line("generator.upsample", ["experiment=cityscapes_seg", "gen=1"])
    # the refusal for an explicit change says how to keep the run's values
    with pytest.raises(RunError, match="add generator.upsample=transpose"):
        check_resumable(tmp_path, saved, today)
