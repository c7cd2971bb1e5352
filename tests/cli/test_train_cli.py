"""Starting and resuming runs: failed starts leave nothing, resumes keep config.yaml
honest and TensorBoard free of duplicates, a non-finite loss gives advice that works."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import TINY, compose_config
from factorgan.cli.train import train
from factorgan.results.collect import collect
from factorgan.runs import checkpoint
from factorgan.errors import RunError
from factorgan.runs.tensorboard.scalars import NonFiniteLossError

SMALL = [*TINY, "generator.hidden=16", "discriminator.hidden=16", "trainer.sample_every=0"]


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    """``python -m factorgan.train <args>`` in this process; returns (exit code, stderr)."""
    from hydra.core.global_hydra import GlobalHydra

    from factorgan.cli.train import main

    monkeypatch.setattr(sys, "argv", ["factorgan.train", *args])
    GlobalHydra.instance().clear()
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err


def test_failed_starts_leave_no_run_directory(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "outputs" / "run"
    code, err = run_main(monkeypatch, capsys, *SMALL, "paired=-1", f"hydra.run.dir={run_dir}")
    assert code == 2 and "paired=-1" in err
    assert not run_dir.exists()  # Hydra made it (with an empty train.log); the failed start removed it
    # resume=true with nothing to resume: refused, naming where it looked, and nothing left
    code, err = run_main(monkeypatch, capsys, *SMALL, "resume=true", f"hydra.run.dir={run_dir}")
    assert code == 2 and f"no run to resume in {run_dir}" in err
    assert not run_dir.exists() and (tmp_path / "outputs").is_dir()


def test_results_leave_out_directories_that_never_trained(tmp_path, capsys):
    train(compose_config(*SMALL), tmp_path / "good")
    (tmp_path / "failed").mkdir()  # an earlier version's failed start
    (tmp_path / "failed" / "config.yaml").write_text((tmp_path / "good" / "config.yaml").read_text())
    table = collect(tmp_path)
    assert list(table["run_dir"]) == ["good"] and list(table["steps"]) == [4]
    assert f"left out {tmp_path / 'failed'}: no checkpoint" in capsys.readouterr().err


def diverge_after(monkeypatch: pytest.MonkeyPatch, step: int) -> None:
    """The loss becomes non-finite after ``step`` (checked where training checks it)."""
    def check(means: dict, at: int) -> None:
        if at > step:
            raise NonFiniteLossError(f"non-finite loss at step {at}: loss/g")

    monkeypatch.setattr("factorgan.training.loop.check_finite", check)


def test_a_non_finite_loss_names_a_command_that_works(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    diverge_after(monkeypatch, 2)  # checkpoint at 2, diverges at 4
    code, err = run_main(monkeypatch, capsys, *SMALL, "seed=3", f"hydra.run.dir={run_dir}")
    assert code == 2 and "non-finite loss at step 4" in err
    assert f"The last good checkpoint is {run_dir / 'checkpoints' / 'last.pt'} (step 2)" in err
    command = next(line.strip() for line in err.splitlines() if "python -m factorgan.train" in line)
    assert f"init_from={run_dir} optimizer.lr=1e-05 name=lowlr" in command and "resume" not in command
    monkeypatch.undo()
    # the advised command works: a new run from the good weights, with the lower rate
    args = shlex.split(command)[3:]
    cfg = compose_config(*args)
    assert cfg.seed == 3 and cfg.optimizer.lr == 1e-5 and cfg.run_path.endswith("_seed3_lowlr")
    trainer = train(cfg, tmp_path / "lowlr")
    assert trainer is not None and trainer.step == 4
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"] == 2  # the old run is kept


def test_a_non_finite_loss_before_any_checkpoint_says_so(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    diverge_after(monkeypatch, 0)
    code, err = run_main(monkeypatch, capsys, *SMALL, f"hydra.run.dir={run_dir}")
    assert code == 2 and "No checkpoint was written before this (the first is due at step 2)" in err
    assert "the run directory was removed" in err and not run_dir.exists()
    assert "init_from" not in err and "optimizer.lr=1e-05" in err


def test_resume_refuses_a_shorter_run_and_keeps_config_yaml_describing_the_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(compose_config(*SMALL, "device=cpu"), run_dir)
    with pytest.raises(RunError, match="trainer.max_steps=2: the run is already at step 4"):
        train(compose_config(*SMALL, "trainer.max_steps=2", "resume=true"), run_dir)
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["max_steps"] == 4
    (run_dir / "config.yaml").write_text("trainer: {max_steps: 4\n")  # damaged: resume rewrites it
    capsys.readouterr()
    train(compose_config(*SMALL, "trainer.max_steps=6", "resume=true", "threads=1", "trainer.log_every=1"), run_dir)
    assert "config.yaml was damaged; rewritten" in capsys.readouterr().err
    now = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert now["trainer"]["max_steps"] == 6 and now["trainer"]["log_every"] == 1  # how the run went on
    assert now["threads"] == "auto" and now["resume"] is False  # this call's own settings are not the run's
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["config"] == now
    (entry,) = yaml.safe_load((run_dir / "resumes.yaml").read_text())
    assert entry["from_step"] == 4 and entry["changed"]["trainer.max_steps"] == {"old": 4, "new": 6}
    assert entry["this_call_only"] == {"threads": {"old": "auto", "new": 1}}


def scalars(run_dir: Path, tag: str = "loss/g") -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_tensorboard_holds_each_step_once_after_a_resume(tmp_path):
    run_dir = tmp_path / "run"
    every = ["trainer.log_every=1", "trainer.ckpt_every=2", "trainer.snapshot_every=2"]
    train(compose_config(*SMALL, *every, "trainer.max_steps=5"), run_dir)
    killed = dict(scalars(run_dir))
    assert sorted(killed) == [1, 2, 3, 4, 5]
    # "killed" at step 5 before its checkpoint: last.pt is still step 4's. Nudge the weights so
    # the resumed run's step 5 differs from the killed run's.
    ckpts = run_dir / "checkpoints"
    state = checkpoint.load(ckpts / "step_0000004.pt")
    state["generator"] = {k: v + 0.05 for k, v in state["generator"].items()}
    torch.save(state, ckpts / "last.pt")
    train(compose_config(*SMALL, *every, "trainer.max_steps=6", "resume=true"), run_dir)
    after = scalars(run_dir)
    assert [step for step, _ in after] == [1, 2, 3, 4, 5, 6]  # each step once
    values = dict(after)
    assert all(values[s] == pytest.approx(killed[s]) for s in (1, 2, 3, 4))
    assert values[5] != pytest.approx(killed[5])  # step 5 is the resumed run's


def test_train_log_holds_the_runs_console_output(tmp_path, monkeypatch, capsys):
    """train.log: what the run printed, one header per command, resumes appended; a
    refused resume adds its error to the run's log."""
    run_dir = tmp_path / "run"
    code, _ = run_main(monkeypatch, capsys, *SMALL, "trainer.max_steps=2", f"hydra.run.dir={run_dir}")
    assert code == 0
    log = (run_dir / "train.log").read_text()
    assert log.startswith("==== ") and "CPU threads: " in log and f"Run directory: {run_dir}" in log
    assert "Finished at step 2" in log
    code, _ = run_main(monkeypatch, capsys, *SMALL, "trainer.max_steps=1", "resume=true", f"hydra.run.dir={run_dir}")
    assert code == 2
    log = (run_dir / "train.log").read_text()
    assert log.count("==== ") == 2 and "error: " in log.split("==== ")[-1] and "Traceback" not in log


def test_model_discriminator_keys_of_earlier_versions_still_work(tmp_path, monkeypatch, capsys):
    """``model.discriminator.*`` (today ``model.combined.*``) on the command line is read as
    today's key, and the run's config.yaml says ``model.combined``."""
    run_dir = tmp_path / "run"
    code, err = run_main(monkeypatch, capsys, *SMALL, "trainer.max_steps=1", "model.discriminator.dep_q=false",
                         f"hydra.run.dir={run_dir}")
    assert code == 0, err
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert "discriminator" not in saved["model"] and saved["model"]["combined"]["dep_q"] is False
    terms = {k.split(".")[1] for k in checkpoint.load(run_dir / "checkpoints" / checkpoint.LAST)["discriminator"]}
    assert "dep_p" in terms and "dep_q" not in terms
