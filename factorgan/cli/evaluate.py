"""Evaluate a finished (or running) run's checkpoint with the run's configured evaluator.

    python -m factorgan.evaluate run=<run dir> [checkpoint=last] [device=auto]
                                 [evaluation.<key>=<value> ...]

Rebuilds the run from its ``config.yaml``, loads ``checkpoints/<checkpoint>.pt``
(``last`` or a snapshot such as ``step_0005000``), runs the config's ``evaluation``
(for PairedMNIST: fid_top, fid_bottom, fid, dependency, classifier_accuracy) and records
the metrics: ``metrics.json`` in the run directory (other checkpoints' results are kept
under ``by_checkpoint``), TensorBoard scalars ``eval/<metric>`` and the HParams view.
``evaluation.<key>=<value>`` changes one evaluator setting for this call, e.g.
``evaluation.num_samples=500``.
"""
from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import OmegaConf

from factorgan.runs import checkpoint
from factorgan.cli.common import CliError, load_run, main_guard, parse_args


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


def main(argv: list[str]) -> dict[str, float]:
    args = parse_args(
        argv, {"run": "", "checkpoint": checkpoint.LAST, "device": "None"}, __doc__ or "",
        prefixes=("evaluation.",),
    )
    trainer, ckpt = load_run(args["run"], args["checkpoint"], args.get("device"))
    cfg = OmegaConf.create(trainer.config)
    if cfg.get("evaluation") is None:
        cfg.evaluation = experiment_evaluation(str(cfg.get("experiment_name")))
        if cfg.evaluation is None:
            raise CliError(
                f"the run {args['run']} configures no evaluation (evaluation: null in its "
                f"config.yaml) and its experiment {cfg.get('experiment_name')!r} has no evaluator"
            )
        print(f"{args['run']} has no evaluation settings: using experiment "
              f"{cfg.experiment_name}'s defaults")
    overrides = [f"{k}={v}" for k, v in args.items() if k.startswith("evaluation.")]
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    evaluator: Any = instantiate(cfg.evaluation)
    if getattr(evaluator, "run_dir", False) is None:  # an evaluator that keeps partial results
        evaluator.run_dir = trainer.run_dir
    metrics = evaluator(trainer.G, trainer.data)
    trainer.record_metrics(metrics, ckpt)
    print(f"{args['run']} ({ckpt}, step {trainer.step}): "
          + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))
    return metrics


if __name__ == "__main__":
    main_guard(main)
