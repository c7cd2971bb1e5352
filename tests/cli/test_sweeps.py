"""Sweeps end to end: Hydra multiruns through the submitit and joblib launchers, a
failing job, re-running a sweep, paired counts past the data, the sweep and launcher
configs, and TensorBoard's HParams view of a sweep."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from conftest import TINY, compose_config
from factorgan.runs import checkpoint
from factorgan.runs.rundir.folder import run_path
from factorgan.runs.process import threads
from factorgan.data.in_memory import PairedCountError
from factorgan.build import build_trainer
from factorgan.cli.train import expected_error, train

REPO = Path(__file__).resolve().parents[2]
SWEEPS = REPO / "factorgan" / "configs" / "sweep"
SMALL = ["trainer.max_steps=3", "trainer.sample_every=0", "generator.hidden=16", "discriminator.hidden=16"]


def multirun(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m factorgan.train -m ...`` as a user runs it, from ``cwd``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "0"}
    return subprocess.run([sys.executable, "-m", "factorgan.train", "-m", *TINY, *SMALL, *args],
                          capture_output=True, text=True, cwd=cwd, env=env)


def run_dir(sweep: Path, model: str, paired: int = 10, lam: float = 0.9) -> Path:
    return sweep / run_path("paired_mnist", model, paired, {"lam": lam}, 0, None)


def step_of(path: Path) -> int:
    return int(checkpoint.load(path / "checkpoints" / checkpoint.LAST)["step"])


def test_submitit_local_runs_each_job_in_its_own_process(tmp_path):
    sweep = tmp_path / "sweep"
    done = multirun(tmp_path, "hydra/launcher=submitit_local", f"hydra.sweep.dir={sweep}", "model=gan,factorgan", "paired=10")
    assert done.returncode == 0, done.stderr
    for model in ("gan", "factorgan"):
        assert step_of(run_dir(sweep, model)) == 3
        assert (run_dir(sweep, model) / "config.yaml").exists()
    logs = sorted((sweep / ".submitit").rglob("*_log.out"))
    assert len(logs) == 2  # submitit ran two jobs, each logging its own run
    assert {"Finished at step 3" in log.read_text() for log in logs} == {True}


def multirun_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> str:
    """The same multirun inside this process (basic launcher, no interpreter start-up);
    returns what it printed."""
    from hydra.core.global_hydra import GlobalHydra

    from factorgan.cli.train import main

    monkeypatch.setattr(sys, "argv", ["factorgan.train", "-m", *TINY, *SMALL, *args])
    GlobalHydra.instance().clear()
    capsys.readouterr()
    main()
    return capsys.readouterr().out


def test_joblib_sweep_with_a_failing_job_keeps_the_other_and_a_rerun_skips_or_resumes(
    tmp_path, monkeypatch, capsys
):
    sweep = tmp_path / "sweep"
    first = multirun(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", f"hydra.sweep.dir={sweep}",
                     "model=gan", "paired=10,-1")
    assert "Joblib.Parallel(n_jobs=2" in first.stderr + first.stdout
    share = max(1, threads.available_cores() // 2)
    assert first.stdout.count(f"CPU threads: {share}\n") == 2  # each job limits itself
    # paired=-1 is invalid: that job fails and the sweep says so; the other one finished
    assert first.returncode != 0 and "paired=-1 must be ≥ 0" in first.stderr
    assert "run the same sweep again to retry" in first.stderr and "Traceback" not in first.stderr
    good = run_dir(sweep, "gan", 10)
    assert step_of(good) == 3 and (good / "metrics.json").exists()
    before = (good / "checkpoints" / checkpoint.LAST).read_bytes()

    # the sweep again, grown by paired=5000 (more than the 4,000 embedded training pairs)
    with pytest.raises(SystemExit):  # paired=-1 still fails
        multirun_here(monkeypatch, capsys, f"hydra.sweep.dir={sweep}", "model=gan", "paired=10,5000,-1")
    again = capsys.readouterr().out
    assert f"Skipping {good}: already finished (step 3 of 3)" in again
    assert (good / "checkpoints" / checkpoint.LAST).read_bytes() == before
    assert f"Skipping {run_dir(sweep, 'gan', 5000)}: paired=5000 is larger" in again  # not a crash
    assert checkpoint.find(run_dir(sweep, "gan", 5000)) is None

    longer = multirun_here(monkeypatch, capsys, f"hydra.sweep.dir={sweep}", "model=gan", "paired=10",
                           "trainer.max_steps=5")
    assert f"Resuming {good} from step 3" in longer and step_of(good) == 5


def test_paired_past_the_data_is_an_error_in_a_single_run(tmp_path):
    with pytest.raises(Exception) as raised:
        train(compose_config(*TINY, "paired=5000"), tmp_path / "run")
    err = expected_error(raised.value)  # what main() reports, without a traceback
    assert isinstance(err, PairedCountError) and "maximum is paired=4000" in str(err)


def compose_with_hydra(*overrides: str):
    with initialize_config_module("factorgan.configs", version_base="1.3"):
        return compose("train", overrides=list(overrides), return_hydra_config=True)


def sweep_jobs(name: str) -> list[list[str]]:
    """The overrides of every job of ``+sweep=<name>``, as Hydra's basic sweeper expands them."""
    params = compose_with_hydra(f"+sweep={name}").hydra.sweeper.params
    values = [[f"{k}={v}" for v in str(vs).split(",")] for k, vs in params.items()]
    return [list(job) for job in itertools.product(*values)]


def test_paired_mnist_sweeps_cover_the_paper_grid_and_compose():
    paper = sweep_jobs("paired_mnist_paper")
    assert len(paper) == 3 * 2 * 9
    keys = {tuple(sorted(o for o in job if o.split("=")[0] in ("model", "lam", "paired"))) for job in paper}
    assert len(keys) == 54
    cpu = sweep_jobs("paired_mnist_cpu")
    assert max(int(o.split("=")[1]) for job in cpu for o in job if o.startswith("paired=")) <= 4000
    for job in (paper[0], paper[-1], cpu[-1]):
        cfg = compose_with_hydra(*job)
        assert cfg.experiment_name == "paired_mnist"
        assert cfg.hydra.sweep.dir.startswith("multirun/")
    assert compose_config(*paper[0]).trainer.max_steps == 200_000
    assert compose_config(*paper[0]).dataset.source == "idx"


def test_cityscapes_sweep_lists_the_paper_grid():
    jobs = sweep_jobs("cityscapes_seg_paper")
    assert sorted(int(o[7:]) for o in {o for job in jobs for o in job if o.startswith("paired=")}) == [
        25, 100, 500, 1000, 2975]  # 2,975: the whole training set, which the dataset accepts
    assert {o for job in jobs for o in job if o.startswith("dataset.order=")} == {"dataset.order=lexicographic"}
    assert {o for job in jobs for o in job if o.startswith("model=")} == {"model=factorgan", "model=gan"}
    assert compose_config(*jobs[0]).experiment_name == "cityscapes_seg"


@pytest.mark.parametrize("sweep,every", [("cityscapes_pairs_paper", 2975), ("edges2shoes_paper", 49825)])
def test_image_pair_sweeps_list_the_paper_grid(sweep, every):
    """Fig. 2: GAN, GAN (big) and FactorGAN with 100, 1000 and every training pair."""
    jobs = sweep_jobs(sweep)
    assert len(jobs) == 9
    assert sorted({int(o[7:]) for job in jobs for o in job if o.startswith("paired=")}) == [100, 1000, every]
    assert {o for job in jobs for o in job if o.startswith("model=")} == {"model=factorgan", "model=gan", "model=gan_big"}
    cfg = compose_config(*jobs[0])
    assert cfg.experiment_name == sweep.removesuffix("_paper") and cfg.evaluation.runs == 10


def test_slurm_launcher_config_extends_submitit():
    launcher = compose_with_hydra("hydra/launcher=slurm").hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.timeout_min, launcher.mem_gb, launcher.cpus_per_task) == (1, 1440, 32, 4)
    assert launcher.max_num_timeout > 0  # requeued runs resume from their checkpoints
    joblib = compose_with_hydra("hydra/launcher=joblib").hydra.launcher
    assert joblib._target_.endswith("JoblibLauncher")


def test_a_sweeps_runs_show_up_together_in_tensorboard_hparams(tmp_path):
    """``tensorboard --logdir <sweep>``: one HParams session per run with its metrics."""
    from tensorboard import default, program
    from tensorboard.backend import application
    from werkzeug.test import Client

    fid = {}
    for model, paired in itertools.product(("gan", "factorgan"), (10, 100)):
        cfg = compose_config(*TINY, f"model={model}", f"paired={paired}")
        path = tmp_path / cfg.run_path
        path.mkdir(parents=True)
        fid[(model, paired)] = float(paired + len(model))
        build_trainer(cfg, path).record_metrics({"fid": fid[(model, paired)]})
    tb = program.TensorBoard(plugins=default.get_plugins())
    tb.configure(argv=[None, "--logdir", str(tmp_path), "--load_fast=false", "--reload_interval=0",
                       "--reload_task=blocking"])
    provider, multiplexer = tb._make_data_provider()
    app = application.TensorBoardWSGIApp(tb.flags, tb.plugin_loaders, provider, tb.assets_zip_provider, multiplexer)
    request = {"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"], "colParams": [],
               "startIndex": 0, "sliceSize": 100}
    groups = Client(app).post("/data/plugin/hparams/session_groups", json=request).get_json()["sessionGroups"]
    shown = {(g["hparams"]["model.name"], int(g["hparams"]["paired"])): g["metricValues"][0]["value"] for g in groups}
    assert shown == pytest.approx(fid, rel=1e-6)
    # each run once: its HParams session is in the run's own events (no <run>/tb/hparams run)
    runs = sorted(multiplexer.Runs())
    assert runs == sorted(f"{Path(cfg).as_posix()}/tb" for cfg in
                          (compose_config(*TINY, f"model={m}", f"paired={p}").run_path
                           for m, p in itertools.product(("gan", "factorgan"), (10, 100))))
    assert sorted(g["sessions"][0]["name"] for g in groups) == runs
