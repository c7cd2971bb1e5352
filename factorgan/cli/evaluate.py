"""Evaluate a finished (or running) run's checkpoint with the run's configured evaluator.

    python -m factorgan.evaluate run=<run dir> [checkpoint=last] [device=auto]
                                 [evaluation.<key>=<value> ...] [--cfg job] [--help]

Rebuilds the run from its ``config.yaml``, loads ``checkpoints/<checkpoint>.pt``
(``last`` or a snapshot such as ``step_0005000``), runs the config's ``evaluation``
(for PairedMNIST: fid_top, fid_bottom, fid, dependency, classes_covered, class_tv,
classifier_accuracy), prints the result table and records
the metrics in ``metrics.json`` under the checkpoint and the settings (``by_checkpoint``).
``evaluation.<key>=<value>`` changes one evaluator setting for this call, e.g.
``evaluation.num_samples=500``.

The run's own result (metrics.json's top-level ``metrics``, TensorBoard's ``eval/<metric>``
and HParams view, the results table) is only ever the final checkpoint evaluated with the
run's settings; other checkpoints or settings are kept beside it and printed.
"""
from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

from factorgan.runs import checkpoint
from factorgan.runs.results import metrics_file as run_metrics
from factorgan.checks import check_targets
from factorgan.runs.results.evaluation import EvaluationPlan, build_evaluator, split_evaluation
from factorgan.build import load_run
from factorgan.cli.common import REQUIRED, Command, main_guard
from factorgan.summary import summary
from factorgan.errors import CliError


COMMAND = Command(
    prog="python -m factorgan.evaluate",
    usage="run=<run dir> [checkpoint=last] [device=<device>] [evaluation.<key>=<value> ...]",
    doc=__doc__ or "",
    defaults={"run": REQUIRED, "checkpoint": checkpoint.LAST, "device": None},
    paths=frozenset({"run"}),
    prefixes=("evaluation.",),
)


def experiment_evaluation(experiment: str) -> Any:
    """The ``evaluation`` block of ``configs/experiment/<experiment>.yaml`` today (for runs
    trained with ``evaluation=null`` or before their experiment had an evaluator)."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    try:
        with initialize_config_module("factorgan.configs", version_base="1.3"):
            return compose("train", overrides=[f"experiment={experiment}"]).get("evaluation")
    except HydraException:
        return None


def is_own_result(ckpt: str, step: int, max_steps: int, key: str, run_key: str, configured: bool,
                  recorded_key: str | None) -> bool:
    """Whether an evaluation is the run's own result: the final checkpoint (``last.pt`` at
    ``trainer.max_steps``) with the run's settings (``run_key``), for a run trained with
    ``evaluation=null`` its experiment's defaults, and then only the first such evaluation
    (``recorded_key``: the own result's key so far, None when there is none)."""
    if ckpt != checkpoint.LAST or step < max_steps or key != run_key:
        return False
    return configured or recorded_key is None or recorded_key == key


def main(argv: list[str]) -> dict[str, float]:
    args = COMMAND.parse(argv)
    device = None if args["device"] is None else str(args["device"])
    trainer, ckpt = load_run(args["run"], str(args["checkpoint"]), device)
    cfg = OmegaConf.create(trainer.config)
    configured = cfg.get("evaluation") is not None
    if not configured:
        cfg.evaluation = experiment_evaluation(str(cfg.get("experiment_name")))
        if cfg.evaluation is None:
            raise CliError(
                f"the run {args['run']} configures no evaluation (evaluation: null in its "
                f"config.yaml) and its experiment {cfg.get('experiment_name')!r} has no evaluator"
            )
        print(f"{args['run']} has no evaluation settings: using experiment "
              f"{cfg.experiment_name}'s defaults")
    run_plan = split_evaluation(cfg.evaluation)  # the run's own settings
    for key, value in args.items():  # this call's evaluation.<key>=<value>
        if key.startswith("evaluation."):
            OmegaConf.update(cfg, key, value, merge=True)
    check_targets({"evaluation": OmegaConf.to_container(cfg.evaluation, resolve=True)})  # typos list the settings
    plan = split_evaluation(cfg.evaluation)  # this call's settings
    evaluator = build_evaluator(plan.settings, trainer.run_dir)
    metrics = evaluator(trainer.G, trainer.data)
    max_steps = int(cfg.trainer.max_steps)
    recorded = run_metrics.own_result(trainer.run_dir)
    own = is_own_result(ckpt, trainer.step, max_steps, plan.key, run_plan.key, configured,
                        None if recorded is None else recorded["settings_key"])
    # the numbers first: a write that fails (a full disk) does not lose them
    where = "metrics.json" if own else f"metrics.json, by_checkpoint.{ckpt}.{plan.key}"
    print(f"{args['run']} ({ckpt}, step {trainer.step}):")
    print(summary(metrics, trainer.config, trainer.step, where), flush=True)
    trainer.record_metrics(metrics, ckpt, plan.settings, own)
    if not own:
        print(f"  not the run's result ({why_not_own(plan, run_plan, ckpt, trainer.step, max_steps)}): "
              f"kept beside it in metrics.json under by_checkpoint.{ckpt}.{plan.key}")
    return metrics


def why_not_own(plan: EvaluationPlan, run_plan: EvaluationPlan, ckpt: str, step: int, max_steps: int) -> str:
    """Why an evaluation is not the run's own result, in words."""
    if ckpt != checkpoint.LAST or step < max_steps:
        return f"{ckpt} at step {step} is not the final checkpoint, last.pt at step {max_steps}"
    differ = plan.differences(run_plan.settings)
    if differ:
        return "settings differ from the run's: " + ", ".join(f"{k}={a} (run: {b})" for k, (a, b) in differ.items())
    return "the run's result was taken with earlier default settings"


if __name__ == "__main__":
    main_guard(main)
