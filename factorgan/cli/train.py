"""Hydra entry point: ``python -m factorgan.train [experiment=...] [key=value ...]``.

A thin shell: the run directory's lock, policy and files around :func:`train`, expected
errors as messages. Objects are built from the config in :mod:`factorgan.build`.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from factorgan.build import build_trainer
import factorgan.configs  # noqa: F401  (registers the configs' run_path resolver)
from factorgan.checks import check_config, resolve_device
from factorgan.summary import describe_data, summary
from factorgan.errors import NonFiniteLossError, PairedCountError, RunError, SweepJobFailed, user_error
from factorgan.runs import checkpoint
from factorgan.runs.process import console_log
from factorgan.runs.resume import policy as run_policy
from factorgan.runs.rundir.compat import current_config, upgrade_overrides
from factorgan.runs.rundir import folder
from factorgan.runs.rundir.config_file import write_config
from factorgan.runs.results import evaluation as run_evaluation
from factorgan.runs.results import metrics_file as run_metrics
from factorgan.runs.process import signals, threads
from factorgan.runs.results.evaluation import split_evaluation
from factorgan.runs.resume.init_from import initialise
from factorgan.runs.process.lock import RunLock, discarded_on_failure
from factorgan.training.loop import Trainer

__all__ = ["main", "train", "build_trainer", "expected_error"]  # build_trainer: here as before

# Errors shown as a message without a traceback (factorgan.errors), as before.
expected_error = user_error


def tensorboard_root(run_dir: Path, run_path: str) -> Path:
    """The folder above all runs (``outputs/``) when ``run_dir`` ends in the standard
    run path, so TensorBoard shows every run side by side; else the run itself."""
    depth = len(Path(run_path).parts)
    if run_dir.parts[-depth:] == Path(run_path).parts:
        return run_dir.parents[depth - 1]
    return run_dir


def train(
    cfg: DictConfig, run_dir: str | Path | None = None, multirun: bool = False, overrides: Sequence[str] | None = None
) -> Trainer | None:
    """Start or resume the run in ``run_dir`` (default ``outputs/<run_path>``) and train it
    to ``trainer.max_steps``, then evaluate it when the config has an ``evaluation``.

    ``multirun``: part of a sweep, where ``on_existing=auto`` skips finished runs and
    resumes unfinished ones (returns None for a skipped run). ``overrides``: the command
    line's; when given, a resumed run keeps its own values of keys the command line did
    not set (defaults that changed since the run was made).
    """
    cfg = current_config(cfg)  # keys spelt as earlier versions did, read as today's
    # The config as a plain dict, once: checked, saved in config.yaml and every checkpoint.
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    check_config(config)  # before anything is built or written
    run_dir = Path("outputs") / str(config["run_path"]) if run_dir is None else Path(run_dir)
    # One process per run directory; a start that fails before its first checkpoint
    # leaves nothing behind (the discard runs while the lock is still held). The run's
    # `threads` applies while it trains (numbers depend on it: a bit-exact resume needs
    # the same count); the caller's thread count is restored afterwards.
    with threads.threads_for_run(cfg.get("threads", "auto")), RunLock(run_dir) as lock, \
            discarded_on_failure(run_dir, str(cfg.run_path), lock):
        folder.remove_temporaries(run_dir)  # a killed process's partial writes (we hold the lock)
        return _train(cfg, config, run_dir, multirun, overrides)


def _train(cfg: DictConfig, config: dict[str, Any], run_dir: Path, multirun: bool,
           overrides: Sequence[str] | None = None) -> Trainer | None:
    """:func:`train` in a locked run directory (``config``: ``cfg`` resolved)."""
    policy = run_policy.on_existing_policy(cfg.get("on_existing", "auto"), multirun)
    if overrides is not None and (cfg.resume or policy == "continue"):
        config, kept = run_policy.keep_run_values(run_dir, config, overrides)
        if kept:
            print("Resuming with the run's own " + "; ".join(kept))
            cfg = OmegaConf.create(config)
    # the command's evaluation (a resume may change it), checked before anything trains
    evaluation = None if config.get("evaluation") is None else split_evaluation(config["evaluation"])
    plan = run_policy.plan_run(
        run_dir, config, cfg.resume, policy, needs_metrics=cfg.get("evaluation") is not None,
        multirun=multirun,
    )
    if plan.action == "skip":
        print(f"Skipping {run_dir}: {plan.reason}")
        return None
    resume_from = plan.checkpoint
    state: dict[str, Any] = {}
    if resume_from is not None:
        state = checkpoint.load(resume_from, map_location=resolve_device(cfg.device))
        # config.yaml keeps describing what produced the run; resumes.yaml says what changed.
        config, changes = run_policy.resumed_config(state["config"], config)
    # The evaluators are built now, with the trainer, so their settings are checked
    # before anything trains.
    evaluator = None if evaluation is None else run_evaluation.build_evaluator(evaluation.settings, run_dir)
    # the trainer stores config in every checkpoint, like config.yaml
    trainer = build_trainer(cfg, run_dir, config=config, purpose="new" if resume_from is None else "resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume_from is not None:
        trainer.load_state_dict(state, resumed=True)
        run_policy.record_resume(run_dir, trainer.step, changes)
        print(f"Resuming {run_dir} from step {trainer.step}")
        if "init_from" in changes["this_call_only"]:
            print("  (init_from is ignored: a resume continues from the run's own checkpoint)")
    elif cfg.get("init_from") is not None:
        print(initialise(trainer, cfg.init_from, bool(cfg.get("init_optimizer", False))))
    write_config(run_dir, config)
    run_metrics.write_metrics_placeholder(run_dir)
    logdir = tensorboard_root(run_dir, cfg.run_path)
    print(f"Run directory: {run_dir}")
    print(f"  data: {describe_data(trainer.data)}")
    print(f"  device: {trainer.device}; watch with: tensorboard --logdir {logdir}")
    if resume_from is not None and run_evaluation.owed_at_resume(
            trainer.during_evaluation, trainer.step, (state.get("config") or {}).get("trainer", {}).get("max_steps", 0),
            recorded_during_training(run_dir)):
        print(f"Evaluating step {trainer.step}: its evaluation during training was not recorded before the run stopped")
        trainer.evaluate_during_training()  # the curve's point at the checkpoint's step
    trainer.fit()
    if evaluator is not None and evaluation is not None:
        # The evaluator is any callable (generator, data) -> {metric: value} (config `evaluation`);
        # the final checkpoint with the run's own settings: the run's result.
        metrics = evaluator(trainer.G, trainer.data)
        trainer.record_metrics(metrics, settings=evaluation.settings, own=True)
        print(summary(metrics, config, trainer.step))
    print(f"Finished at step {trainer.step}. Run directory: {run_dir}")
    print(f"  samples: {run_dir / 'samples' / 'latest.png'}")
    print(f"  TensorBoard: tensorboard --logdir {logdir}")
    return trainer


def recorded_during_training(run_dir: Path) -> set[str] | None:
    """The steps ``metrics.json`` holds evaluations during training of (None: unreadable)."""
    try:
        return set(run_metrics.read_metrics(run_dir).get("during_training") or {})
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def nonfinite_advice(run_dir: Path, cfg: DictConfig, overrides: Sequence[str]) -> str:
    """What to do after a non-finite loss, as commands that work: resume=true would keep
    the settings that diverged, so a new run starts from the last good weights."""
    dropped = ("resume", "name", "init_from", "init_optimizer", "optimizer.lr")
    args = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in dropped]
    lr = cfg.get("optimizer", {}).get("lr")
    lower = f"optimizer.lr={lr / 10:g}" if isinstance(lr, (int, float)) else "optimizer.lr=<lower>"
    command = " ".join(["python -m factorgan.train", *args])
    last = checkpoint.find(run_dir)
    if last is None:
        where = "and the run directory was removed" if not run_dir.exists() else f"in {run_dir}"
        return (
            f"No checkpoint was written before this (the first is due at step "
            f"{cfg.trainer.ckpt_every}), so there is nothing to resume or start from {where}. "
            f"Start again with a lower learning rate (or another objective, e.g. loss=...):\n"
            f"  {command} {lower}"
        )
    try:
        step = f" (step {checkpoint.load(last, mmap=True)['step']})"
    except RunError:
        step = ""
    name = f"{cfg.name}_lowlr" if cfg.get("name") else "lowlr"
    return (
        f"The last good checkpoint is {last}{step}. resume=true would continue with the same "
        f"settings (it refuses a changed optimizer.lr or loss), so start a new run from these "
        f"weights with a lower learning rate (or another objective, e.g. loss=...):\n"
        f"  {command} init_from={run_dir} {lower} name={name}\n"
        f"(init_optimizer=true also takes the optimiser's state)"
    )


def main() -> None:
    """``python -m factorgan.train [key=value ...]`` (``factorgan-train``): Hydra's entry
    point, with keys spelt as earlier versions did read as today's."""
    sys.argv = [sys.argv[0], *upgrade_overrides(sys.argv[1:])]
    hydra_main()


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
def hydra_main(cfg: DictConfig) -> None:
    """One job of the command (each job of a sweep): the run in Hydra's output directory."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    with console_log.tee(run_dir, quiet=(SweepJobFailed,)):  # the console output, also in train.log
        run_job(cfg, hydra_cfg, run_dir)


def run_job(cfg: DictConfig, hydra_cfg: Any, run_dir: Path) -> None:
    """One job of ``main``: train, and turn expected failures into messages."""
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    signals.install()  # Ctrl-C, SIGTERM, pre-timeout signal: finish the step, save last.pt, exit
    try:
        # Hydra made run_dir (and an empty log): a start that fails removes them
        with discarded_on_failure(run_dir, str(cfg.get("run_path"))):
            n_threads = threads.configure_threads(cfg.get("threads", "auto"), hydra_cfg.launcher if multirun else None)
            print(f"CPU threads: {n_threads}", flush=True)  # before any failure: a sweep job's log shows it
            train(cfg, run_dir, multirun, list(hydra_cfg.overrides.task))
    except signals.Interrupted as stop:
        signals.finish(stop, run_dir, multirun)  # says how to resume; exits (submitit: requeues)
    except Exception as raised:
        err = user_error(raised)
        if err is None:
            raise
        if multirun and isinstance(err, PairedCountError):
            # A sweep's grid may go past a small dataset: skip that point, not the sweep.
            print(f"Skipping {run_dir}: {err}")
            return
        # Expected failures: a clear message and exit code, no traceback.
        print(f"error: {err}", file=sys.stderr)
        if isinstance(err, NonFiniteLossError):
            print(nonfinite_advice(run_dir, cfg, list(hydra_cfg.overrides.task)), file=sys.stderr)
        if multirun:
            print("The sweep's other runs go on; run the same sweep again to retry this one "
                  "(finished runs are skipped).", file=sys.stderr)
            # Hydra marks this job failed; the sweep's other jobs still run
            raise SweepJobFailed(str(err)) from None
        sys.exit(2)
    finally:
        signals.restore()  # a sweep's next job in this process installs them again


if __name__ == "__main__":
    main()
