"""How a run is evaluated: the config's ``evaluation`` block split into the evaluator's
settings and the schedule of evaluations during training, and the key that names the
settings an evaluation's numbers depend on (``metrics.json`` keeps results per key).

    evaluation:
      _target_: factorgan.evaluators.paired_mnist.PairedMNISTEvaluator
      num_samples: null        # evaluator settings (constructor arguments)
      every: 500               # also evaluate every 500 generator steps (0: only at the end)
      during: {num_samples: 500}   # settings changed for the evaluations during training
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection, Mapping

from omegaconf import DictConfig, OmegaConf

from factorgan.contracts import Evaluator, KeepsPartialResults, check_evaluator
from factorgan.errors import ConfigError

# Keys of the evaluation block that schedule evaluations: not evaluator arguments.
SCHEDULE_KEYS = ("every", "during")
# Evaluator settings that change how an evaluation runs, not its numbers: left out of the
# settings key (and of the settings metrics.json records).
NOT_RESULT_KEYS = ("progress", "cache_dir", "workers", "run_dir")


def result_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings an evaluation's numbers depend on (sorted; without
    :data:`NOT_RESULT_KEYS`), as ``metrics.json`` records them."""
    return {k: settings[k] for k in sorted(settings) if k not in NOT_RESULT_KEYS and k not in SCHEDULE_KEYS}


def settings_key(settings: Mapping[str, Any]) -> str:
    """A short stable name for the settings that change the numbers (10 hex digits): two
    evaluations of one checkpoint with the same key give the same numbers."""
    text = json.dumps(result_settings(settings), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class EvaluationPlan:
    """A split ``evaluation`` block.

    Attributes:
        settings: the evaluator's ``_target_`` and arguments (for ``instantiate``).
        every: evaluate during training every ``every`` generator steps (0: off).
        during: settings overridden for those evaluations (e.g. fewer samples).
    """

    settings: dict[str, Any]
    every: int = 0
    during: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return settings_key(self.settings)

    @property
    def during_settings(self) -> dict[str, Any]:
        return {**self.settings, **self.during}

    def differences(self, other: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Result settings that differ: ``{key: (this plan's value, other's value)}``."""
        a, b = result_settings(self.settings), result_settings(other)
        return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def split_evaluation(evaluation: DictConfig | Mapping[str, Any]) -> EvaluationPlan:
    """Split an ``evaluation`` block (resolved) into evaluator settings, ``every`` and
    ``during``; blocks without the schedule keys (runs before they existed) evaluate
    only at the end."""
    if isinstance(evaluation, DictConfig):
        raw: dict[str, Any] = OmegaConf.to_container(evaluation, resolve=True)  # type: ignore[assignment]
    else:
        raw = dict(evaluation)
    every = raw.pop("every", 0)
    during = raw.pop("during", None)
    if every is None:
        every = 0
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ConfigError(f"evaluation.every={every!r} must be an integer ≥ 0 (generator steps; 0: "
                          "evaluate only at the end)")
    if during is None:
        during = {}
    if not isinstance(during, Mapping):
        raise ConfigError(f"evaluation.during={during!r} must be a mapping of evaluator settings, "
                          "e.g. 'evaluation.during={num_samples: 500}'")
    bad = [k for k in during if k in SCHEDULE_KEYS or k == "_target_"]
    if bad:
        raise ConfigError(f"evaluation.during may only change evaluator settings, not {', '.join(bad)}")
    if "_target_" not in raw:
        raise ConfigError("the evaluation block has no _target_ (the evaluator class); set one, or "
                          "evaluation=null")
    return EvaluationPlan(settings=raw, every=int(every), during=dict(during))


def build_evaluator(settings: Mapping[str, Any], run_dir: str | Path | None = None,
                    where: str = "evaluation") -> Evaluator:
    """Instantiate the evaluator named by ``settings`` (its checks run here, before any
    training); ``run_dir`` goes to an evaluator that keeps partial results there.

    Settings the evaluator does not take are a :class:`ConfigError` naming ``where``
    (``evaluation`` or ``evaluation.during``)."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        evaluator = instantiate(dict(settings))
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, ConfigError):  # the evaluator's own check: its message, unwrapped
            raise cause from None
        if isinstance(cause, TypeError) and "argument" in str(cause):
            target = settings.get("_target_")
            raise ConfigError(f"{where}: {target} does not take these settings ({cause}); "
                              f"see its documentation for the settings it has") from err
        raise
    check_evaluator(evaluator, f"{where} ({settings.get('_target_')})")
    if run_dir is not None and getattr(evaluator, "run_dir", False) is None:  # a KeepsPartialResults
        keeps: KeepsPartialResults = evaluator
        keeps.run_dir = Path(run_dir)
    return evaluator


@dataclass
class DuringTraining:
    """Evaluations during training (``evaluation.every``): ``evaluator`` built from the
    run's settings with ``evaluation.during`` applied (``settings``)."""

    evaluator: Evaluator
    every: int
    settings: dict[str, Any]
    calls: int = 0  # evaluations so far (the first one shows the evaluator's messages)

    def due(self, step: int, max_steps: int) -> bool:
        """Every ``every`` steps, but not at the final step (the final evaluation covers it)."""
        return self.every > 0 and step % self.every == 0 and step < max_steps


def during_training(plan: EvaluationPlan, run_dir: str | Path | None = None) -> DuringTraining | None:
    """The evaluations during training of ``plan`` (None when ``every`` is 0)."""
    if plan.every == 0:
        return None
    settings = plan.during_settings
    return DuringTraining(build_evaluator(settings, run_dir, where="evaluation.during"), plan.every, settings)


def owed_at_resume(during: DuringTraining | None, step: int, saved_max_steps: int,
                   recorded: Collection[str] | None) -> bool:
    """Whether the evaluation during training due at a resumed checkpoint's ``step`` is
    missing from ``metrics.json`` (``recorded``: the steps its ``during_training`` holds;
    the run was killed between writing the checkpoint and evaluating): due under the
    schedule the checkpoint was trained with (``saved_max_steps``: not its final step,
    whose result is the final evaluation). An unreadable ``metrics.json`` (``recorded``
    None) owes nothing here."""
    if recorded is None or during is None or step <= 0 or not during.due(step, saved_max_steps):
        return False
    return str(step) not in recorded
