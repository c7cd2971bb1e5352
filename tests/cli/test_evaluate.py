"""``python -m factorgan.evaluate`` on a tiny trained run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY, compose_config
from factorgan.cli import evaluate
from factorgan.cli.common import main_guard
from factorgan.errors import CliError
from factorgan.evaluators.paired_mnist import METRICS
from factorgan.cli.train import train
from factorgan.runs.results.evaluation import settings_key

REPO = Path(__file__).resolve().parents[2]
TINY_EVAL = [o for o in TINY if not o.startswith("evaluation")] + [
    "generator.hidden=16", "discriminator.hidden=16", "trainer.snapshot_every=2",
    "evaluation.classifier_epochs=1", "evaluation.num_samples=100", "evaluation.progress=false",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """4 training steps, snapshots at steps 2 and 4, evaluated at the end."""
    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    train(compose_config(*TINY_EVAL), run_dir)
    return run_dir


def read(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_evaluate_reproduces_the_end_of_training_metrics(run):
    at_training = read(run)["metrics"]
    metrics = evaluate.main([f"run={run}", "device=cpu"])
    assert tuple(metrics) == METRICS
    assert metrics == pytest.approx(at_training, rel=1e-6)  # same checkpoint, same seeded samples


def eval_events(run_dir: Path, tag: str = "eval/fid", sub: str = "") -> list[tuple[int, float]]:
    """(step, value) of every TensorBoard event of ``tag`` in the run's ``tb/<sub>``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb" / sub), size_guidance={"scalars": 0})
    events.Reload()
    if tag not in events.Tags().get("scalars", []):
        return []
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_a_snapshot_is_recorded_beside_the_final_metrics(run):
    final = read(run)["metrics"]
    hparams_before = eval_events(run, "hparam/fid")  # in the run's own event file
    snap = evaluate.main([f"run={run}", "checkpoint=step_0000002", "evaluation.num_samples=60"])
    saved = read(run)
    assert saved["checkpoint"] == "last.pt" and saved["metrics"] == final  # never lost
    (entry,) = saved["by_checkpoint"]["step_0000002.pt"].values()
    assert entry["step"] == 2 and entry["metrics"] == pytest.approx(snap)
    assert entry["settings"]["num_samples"] == 60 and "progress" not in entry["settings"]
    assert snap["fid"] != pytest.approx(final["fid"])
    # HParams keep showing the final model: the snapshot wrote nothing there
    assert eval_events(run, "hparam/fid") == hparams_before
    assert [v for _, v in hparams_before] == pytest.approx([final["fid"]])


def test_other_settings_are_kept_beside_the_runs_own_result(run, capsys):
    own = read(run)
    before = eval_events(run)
    assert before == [(4, pytest.approx(own["metrics"]["fid"]))]  # one eval/fid point, at the final step
    other = evaluate.main([f"run={run}", "evaluation.num_samples=200"])
    saved = read(run)
    # the run's result, its settings and the results table's numbers are unchanged
    assert {k: saved[k] for k in ("step", "checkpoint", "metrics", "settings", "settings_key")} == \
        {k: own[k] for k in ("step", "checkpoint", "metrics", "settings", "settings_key")}
    assert saved["settings"]["num_samples"] == 100
    last = saved["by_checkpoint"]["last.pt"]
    assert set(last) == {own["settings_key"], settings_key({**own["settings"], "num_samples": 200})}
    assert last[own["settings_key"]]["metrics"] == own["metrics"]
    beside = last[settings_key({**own["settings"], "num_samples": 200})]
    assert beside["metrics"] == pytest.approx(other) and beside["settings"]["num_samples"] == 200
    assert other["fid"] != pytest.approx(own["metrics"]["fid"])
    assert eval_events(run) == before  # no second value at step 4 under eval/fid
    out = capsys.readouterr().out
    assert "num_samples=200 (run: 100)" in out
    assert f"Result at step 4 (metrics.json, by_checkpoint.last.pt.{settings_key({**own['settings'], 'num_samples': 200})}):" in out
    assert any(line.startswith("  dependency metric") and " lower " in line for line in out.splitlines())
    # the run's own settings again: the same numbers, still one point per step
    again = evaluate.main([f"run={run}"])
    assert again == pytest.approx(own["metrics"], rel=1e-6) and eval_events(run) == before


def test_missing_run_and_checkpoint_say_what_exists(run, tmp_path):
    with pytest.raises(CliError, match=r"(?s)no run directory .*directories in .*: run"):
        evaluate.main([f"run={run.parent / 'nope'}"])
    with pytest.raises(CliError, match=r"no checkpoint 'step_9'.*available: last.pt, step_0000002.pt, step_0000004.pt"):
        evaluate.main([f"run={run}", "checkpoint=step_9"])
    with pytest.raises(CliError, match="missing run="):
        evaluate.main([])
    with pytest.raises(CliError, match="unknown argument 'sed'"):
        evaluate.main([f"run={run}", "sed=1"])


def test_a_run_without_evaluation_uses_its_experiments_evaluator_or_is_refused(tmp_path):
    assert evaluate.experiment_evaluation("paired_mnist")._target_.endswith("PairedMNISTEvaluator")
    assert evaluate.experiment_evaluation("no_such_experiment") is None
    train(compose_config(*TINY, "experiment_name=custom", "generator.hidden=16", "discriminator.hidden=16"),
          tmp_path / "r")
    with pytest.raises(CliError, match="configures no evaluation.*'custom' has no evaluator"):
        evaluate.main([f"run={tmp_path / 'r'}"])


def test_command_line(run):
    ok = subprocess.run([sys.executable, "-m", "factorgan.evaluate", f"run={run}", "checkpoint=step_0000004",
                         "evaluation.num_samples=60"], capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 0, ok.stderr
    assert "fid_top=" in ok.stdout and "step_0000004.pt" in read(run)["by_checkpoint"]
    assert "not the run's result" in ok.stdout


def test_too_few_samples_for_the_fid_are_refused_with_a_message(run):
    for n in (0, 2, 50):
        ok = subprocess.run([sys.executable, "-m", "factorgan.evaluate", f"run={run}", f"evaluation.num_samples={n}"],
                            capture_output=True, text=True, cwd=REPO)
        assert ok.returncode == 2 and "Traceback" not in ok.stderr, ok.stderr
        assert f"num_samples={n} is too few" in ok.stderr and "50-d features), at least 51" in ok.stderr


def test_a_setting_the_evaluator_does_not_take_lists_the_ones_it_does(run):
    from factorgan.cli import evaluate
    from factorgan.errors import ConfigError

    with pytest.raises(ConfigError, match="evaluation.num_sample is not a setting of PairedMNISTEvaluator") as err:
        evaluate.main([f"run={run}", "evaluation.num_sample=100"])
    assert "evaluation.num_samples" in str(err.value)


def test_errors_exit_2_without_traceback_and_help_prints_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main_guard(evaluate.main, [f"run={tmp_path / 'missing'}"])
    assert exit_.value.code == 2 and "error: no run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main_guard(evaluate.main, ["--help"])
    assert exit_.value.code == 0 and "checkpoint=" in capsys.readouterr().out


def test_a_truncated_checkpoint_is_named_with_the_snapshots_to_use(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    last = copy / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:1000])
    with pytest.raises(SystemExit) as exit_:
        main_guard(evaluate.main, [f"run={copy}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    assert f"cannot read checkpoint {last}: the file is damaged or incomplete" in err
    assert "Snapshots of this run: step_0000002.pt, step_0000004.pt" in err and "cp " in err


def copy_of(run: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run, tmp_path / "run"))


def test_a_cut_off_config_yaml_is_noticed_and_the_checkpoints_config_used(run, tmp_path, capsys):
    copy = copy_of(run, tmp_path)
    config = copy / "config.yaml"
    config.write_text(config.read_text()[:300])  # still valid YAML, most keys missing
    capsys.readouterr()
    metrics = evaluate.main([f"run={copy}", "device=cpu"])
    err = capsys.readouterr().err
    assert f"warning: {config} does not match the run's checkpoint (" in err and "keys missing (" in err
    assert f"using the config saved in {copy / 'checkpoints' / 'last.pt'} instead" in err
    assert metrics == pytest.approx(read(run)["metrics"], rel=1e-6) and read(copy)["metrics"] == metrics
    # a config.yaml that agrees with the checkpoint is read without a word
    evaluate.main([f"run={run}", "device=cpu"])
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b'{"format": 2, "step"', b"\x89PNG\x00\xff", b"[1, 2]"],
                         ids=["empty", "cut off", "random bytes", "a list"])
def test_a_damaged_metrics_json_is_set_aside_and_the_new_numbers_kept(run, tmp_path, capsys, content):
    copy = copy_of(run, tmp_path)
    (copy / "metrics.json").write_bytes(content)
    metrics = evaluate.main([f"run={copy}", "device=cpu"])
    assert read(copy)["metrics"] == metrics and read(copy)["step"] == 4  # the run's result again
    (aside,) = copy.glob("metrics.json.damaged-*")
    assert aside.read_bytes() == content
    err = capsys.readouterr().err
    assert f"{copy / 'metrics.json'} is damaged (" in err and f"set aside as {aside}" in err


def test_a_full_disk_at_the_metrics_write_says_so_and_keeps_the_numbers_on_screen(run, tmp_path, capsys, monkeypatch):
    import errno
    import os

    copy = copy_of(run, tmp_path)
    before = (copy / "metrics.json").read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(SystemExit) as exit_:
        main_guard(evaluate.main, [f"run={copy}", "evaluation.num_samples=60"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 2 and "Traceback" not in err
    assert f"error: could not write {copy / 'metrics.json'}: No space left on device; " in err
    assert "MiB free on its disk. The previous metrics.json is intact" in err
    assert f"evaluate again: python -m factorgan.evaluate run={copy}" in err
    assert "FID (mean over parts)" in out and "fid_top=" in out  # this evaluation's numbers were printed before the write
    assert (copy / "metrics.json").read_bytes() == before
    assert not [p.name for p in copy.iterdir() if "tmp" in p.name]


def test_a_resume_keeps_its_final_evaluation_beside_a_damaged_metrics_json(run, tmp_path, capsys):
    copy = copy_of(run, tmp_path)
    (copy / "metrics.json").write_bytes(b"[1, 2]")
    trainer = train(compose_config(*TINY_EVAL, "trainer.max_steps=6", "resume=true"), copy)
    assert trainer is not None and trainer.step == 6
    saved = read(copy)
    assert saved["step"] == 6 and set(saved["metrics"]) == set(METRICS)
    (aside,) = copy.glob("metrics.json.damaged-*")
    assert aside.read_bytes() == b"[1, 2]" and f"set aside as {aside}" in capsys.readouterr().err
