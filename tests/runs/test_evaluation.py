"""Splitting an ``evaluation`` block: evaluator settings, ``every``/``during``, the settings key."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY_EVALUATED, compose_config
from factorgan.cli.train import train
from factorgan.errors import ConfigError
from factorgan.evaluators.paired_mnist import PairedMNISTEvaluator
from factorgan.runs import checkpoint
from factorgan.runs.results.evaluation import (
    SCHEDULE_KEYS, build_evaluator, during_training, result_settings, settings_key, split_evaluation,
)

REPO = Path(__file__).resolve().parents[2]
TARGET = "factorgan.evaluators.paired_mnist.PairedMNISTEvaluator"


def test_the_composed_block_splits_into_settings_and_schedule():
    cfg = compose_config("experiment=paired_mnist", "evaluation.every=7", "evaluation.during={num_samples: 300}")
    plan = split_evaluation(cfg.evaluation)
    assert SCHEDULE_KEYS == ("every", "during")
    assert not set(SCHEDULE_KEYS) & set(plan.settings) and plan.settings["_target_"] == TARGET
    assert (plan.every, plan.during) == (7, {"num_samples": 300})
    assert plan.during_settings == {**plan.settings, "num_samples": 300}
    assert plan.settings["progress"] is True  # resolved (${trainer.progress})
    assert isinstance(build_evaluator(plan.settings), PairedMNISTEvaluator)  # instantiable as is


def test_old_blocks_without_schedule_keys_evaluate_only_at_the_end():
    plan = split_evaluation({"_target_": TARGET, "num_samples": None})
    assert (plan.every, plan.during) == (0, {}) and during_training(plan) is None


def test_the_key_follows_the_settings_that_change_the_numbers_only():
    base = {"_target_": TARGET, "num_samples": None, "seed": 1234, "progress": True, "cache_dir": None}
    key = settings_key(base)
    assert len(key) == 10 and key == settings_key(dict(reversed(list(base.items()))))  # order-free
    # progress bars, cache folders, worker counts do not change the numbers
    assert key == settings_key({**base, "progress": False, "cache_dir": "/elsewhere", "workers": 3})
    assert key == settings_key({**base, "every": 5, "during": {"num_samples": 100}})
    # sample count, seed and the evaluator do
    assert len({key, settings_key({**base, "num_samples": 200}), settings_key({**base, "seed": 1}),
                settings_key({**base, "_target_": "x.Other"})}) == 4
    assert result_settings(base) == {"_target_": TARGET, "num_samples": None, "seed": 1234}


def test_the_plan_names_the_settings_that_differ():
    plan = split_evaluation({"_target_": TARGET, "num_samples": 200, "seed": 1, "progress": False})
    assert plan.differences({"_target_": TARGET, "num_samples": None, "seed": 1, "progress": True}) == {
        "num_samples": (200, None)}


@pytest.mark.parametrize("block, message", [
    ({"every": -1}, r"evaluation.every=-1 must be an integer ≥ 0"),
    ({"every": "often"}, r"evaluation.every='often'"),
    ({"during": 5}, r"evaluation.during=5 must be a mapping"),
    ({"during": {"every": 2}}, r"evaluation.during may only change evaluator settings, not every"),
])
def test_bad_schedules_are_config_errors(block, message):
    with pytest.raises(ConfigError, match=message):
        split_evaluation({"_target_": TARGET, **block})


def test_settings_the_evaluator_lacks_name_the_block():
    plan = split_evaluation({"_target_": TARGET, "every": 2, "during": {"num_sample": 300}})
    with pytest.raises(ConfigError, match=r"evaluation.during: .*PairedMNISTEvaluator does not take.*num_sample"):
        during_training(plan)
    # an evaluator's own checks surface as themselves, not wrapped by Hydra
    with pytest.raises(ConfigError, match="num_samples=0 is too few"):
        build_evaluator({"_target_": TARGET, "num_samples": 0})


def test_the_due_steps_skip_the_final_one():
    during = during_training(split_evaluation({"_target_": TARGET, "every": 3, "during": {"num_samples": 60}}))
    assert during is not None and during.settings["num_samples"] == 60
    assert [s for s in range(1, 13) if during.due(s, max_steps=12)] == [3, 6, 9]


def test_training_refuses_bad_evaluation_settings_before_it_trains(tmp_path):
    for override in ("evaluation.num_samples=0", "evaluation.during={num_samples: 2}", "evaluation.every=-2"):
        with pytest.raises(ConfigError):
            train(compose_config(*TINY_EVALUATED, override), tmp_path / "r")
        assert checkpoint.find(tmp_path / "r") is None  # nothing trained
    ok = subprocess.run([sys.executable, "-m", "factorgan.train", *TINY_EVALUATED, "threads=1",
                         "evaluation.num_samples=2", f"hydra.run.dir={tmp_path / 'cli'}"],
                        capture_output=True, text=True, cwd=REPO)
    assert ok.returncode == 2 and "Traceback" not in ok.stderr, ok.stderr
    assert "FID needs more samples than feature dimensions" in ok.stderr and "at least 51" in ok.stderr


def test_a_resume_runs_the_evaluation_a_kill_left_owing_at_the_checkpoints_step(tmp_path, monkeypatch, capsys):
    """Killed between the checkpoint at step 4 and the evaluation due there: the resume
    evaluates step 4 before training on, so the curve keeps that point."""
    from factorgan.runs.results.metrics_file import read_metrics
    from factorgan.training.loop import Trainer

    run = [*TINY_EVALUATED, "trainer.max_steps=6", "generator.hidden=16", "discriminator.hidden=16",
           "evaluation.classifier_epochs=1", "evaluation.num_samples=100", "evaluation.progress=false",
           "evaluation.every=2", "evaluation.during={num_samples: 60}", f"evaluation.cache_dir={tmp_path / 'cache'}"]
    evaluate = Trainer.evaluate_during_training

    def killed_at_step_4(self):
        if self.step == 4:
            raise SystemExit("killed")  # after last.pt at step 4 was written
        return evaluate(self)

    monkeypatch.setattr(Trainer, "evaluate_during_training", killed_at_step_4)
    with pytest.raises(SystemExit):
        train(compose_config(*run), tmp_path / "run")
    assert sorted(read_metrics(tmp_path / "run")["during_training"]) == ["2"]
    monkeypatch.setattr(Trainer, "evaluate_during_training", evaluate)
    capsys.readouterr()
    train(compose_config(*run, "resume=true"), tmp_path / "run")
    out = capsys.readouterr().out
    assert "Resuming" in out and "Evaluating step 4: its evaluation during training was not recorded" in out
    assert sorted(read_metrics(tmp_path / "run")["during_training"], key=int) == ["2", "4"]
    # nothing owed: a resume of a run whose evaluations are all there evaluates nothing extra
    train(compose_config(*run, "trainer.max_steps=8", "resume=true"), tmp_path / "run")
    assert "Evaluating step" not in capsys.readouterr().out
