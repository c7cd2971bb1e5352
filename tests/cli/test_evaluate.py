"""``python -m factorgan.evaluate`` on a tiny trained run."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY, compose_config
from factorgan.cli import evaluate
from factorgan.cli.common import CliError, main_guard
from factorgan.experiments.paired_mnist import METRICS
from factorgan.cli.train import train

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


def test_a_snapshot_is_recorded_beside_the_final_metrics(run):
    final = read(run)["metrics"]
    snap = evaluate.main([f"run={run}", "checkpoint=step_0000002", "evaluation.num_samples=50"])
    saved = read(run)
    assert saved["checkpoint"] == "last.pt" and saved["metrics"] == final  # never lost
    assert saved["by_checkpoint"]["step_0000002.pt"] == {"step": 2, "metrics": pytest.approx(snap)}
    assert snap["fid"] != pytest.approx(final["fid"])


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


def test_errors_exit_2_without_traceback_and_help_prints_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main_guard(evaluate.main, [f"run={tmp_path / 'missing'}"])
    assert exit_.value.code == 2 and "error: no run directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main_guard(evaluate.main, ["--help"])
    assert exit_.value.code == 0 and "checkpoint=" in capsys.readouterr().out
