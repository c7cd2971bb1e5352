"""A run's results: ``metrics.json`` and the settings TensorBoard's HParams view shows."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factorgan.runs import checkpoint
from factorgan.runs.evaluation import result_settings, settings_key

METRICS = "metrics.json"
HPARAM_KEYS = ("experiment_name", "model.name", "paired", "seed", "name")  # and the experiment's run_tags

FORMAT = 2  # metrics.json layout: 2 keeps every evaluation per checkpoint and settings key
UNKNOWN = "unknown"  # the settings key of results recorded before settings were (format 1)


class EvaluationResult(dict):
    """An evaluator's ``{metric: value}`` that also says what scored them (``provenance``,
    e.g. ``{"classifier": {"version": 2, "sha256": ...}}``): recorded beside the metrics in
    ``metrics.json``; an ordinary dict to everything else."""

    def __init__(self, metrics: dict[str, float], provenance: dict[str, Any] | None = None) -> None:
        super().__init__(metrics)
        self.provenance = provenance


def write_metrics_placeholder(run_dir: Path) -> None:
    """``metrics.json`` exists from the start (empty until evaluation writes it)."""
    path = run_dir / METRICS
    if not path.exists():
        path.write_text(json.dumps({}) + "\n")


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Any ``metrics.json`` (``{}``; ``step``/``checkpoint``/``metrics``, with or without
    format 1's ``by_checkpoint: {checkpoint: {step, metrics}}``) in the current layout;
    results of unknown settings are kept under the settings key :data:`UNKNOWN`."""
    if data.get("format") == FORMAT or not data:
        return data
    out = dict(data)
    by_ckpt: dict[str, dict[str, Any]] = {}
    for name, entry in (data.get("by_checkpoint") or {}).items():
        by_ckpt[name] = {UNKNOWN: {"step": entry.get("step"), "settings": None, "metrics": entry.get("metrics", {})}}
    if data.get("metrics") and data.get("checkpoint", checkpoint.LAST) not in by_ckpt:
        by_ckpt[data.get("checkpoint", checkpoint.LAST)] = {
            UNKNOWN: {"step": data.get("step"), "settings": None, "metrics": data["metrics"]}}
    out.update(format=FORMAT, by_checkpoint=by_ckpt, during_training=data.get("during_training", {}))
    if data.get("metrics"):
        out.setdefault("settings", None)
        out.setdefault("settings_key", UNKNOWN)
    return out


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's ``metrics.json`` in the current layout (``{}`` before any evaluation).

    Top level: the run's own result (``step``, ``checkpoint``, ``settings``,
    ``settings_key``, ``metrics``); ``by_checkpoint``: ``{checkpoint: {settings key:
    {step, settings, metrics}}}``, every evaluation; ``during_training``: ``{step:
    {step, settings, metrics}}``, the evaluations during training (never the result).
    """
    path = Path(run_dir) / METRICS
    return upgrade(json.loads(path.read_text())) if path.exists() else {}


def _write(run_dir: Path, data: dict[str, Any]) -> Path:
    path = Path(run_dir) / METRICS
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def _entry(metrics: dict[str, float], step: int, settings: dict[str, Any] | None,
           provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    entry = {"step": int(step), "settings": settings, "metrics": {k: float(v) for k, v in metrics.items()}}
    if provenance is not None:  # entries without it (older results, other evaluators) keep their layout
        entry["provenance"] = provenance
    return entry


def write_metrics(
    run_dir: Path, metrics: dict[str, float], step: int, checkpoint_name: str = checkpoint.LAST,
    settings: dict[str, Any] | None = None, own: bool | None = None,
    provenance: dict[str, Any] | None = None,
) -> bool:
    """Record an evaluation in ``metrics.json`` (atomically) under its checkpoint and
    settings key; ``own``: it is the run's own result (the top-level ``step``,
    ``checkpoint``, ``metrics`` that sweeps and results tables read; default: when
    ``checkpoint_name`` is ``last.pt``). Other evaluations never replace the run's own.

    Args:
        settings: the evaluator settings (:func:`factorgan.runs.evaluation.result_settings`
            are recorded; None: unknown).
        provenance: what scored the metrics (e.g. the classifier's name), recorded as the
            entry's ``provenance`` (None: ``metrics``' own :class:`EvaluationResult`
            provenance, if any).
    Returns:
        True when this is the run's own result and none was recorded at this step before
        (then TensorBoard gets ``eval/<metric>`` and the HParams view, once per step).
    """
    data = read_metrics(run_dir) or upgrade({"by_checkpoint": {}})
    recorded = None if settings is None else result_settings(settings)
    key = UNKNOWN if settings is None else settings_key(settings)
    if provenance is None:
        provenance = getattr(metrics, "provenance", None)
    entry = _entry(metrics, step, recorded, provenance)
    data["by_checkpoint"].setdefault(checkpoint_name, {})[key] = entry
    own = checkpoint_name == checkpoint.LAST if own is None else own
    first = own and not (data.get("metrics") and data.get("step") == int(step))
    if own:
        data.pop("provenance", None)  # an earlier result's: only this entry's may stand
        data.update(checkpoint=checkpoint_name, settings_key=key, **entry)
    _write(run_dir, data)
    return bool(first)


def write_during_training(run_dir: Path, metrics: dict[str, float], step: int, settings: dict[str, Any]) -> Path:
    """Record an evaluation during training under ``during_training`` (for curves; never
    the run's result)."""
    data = read_metrics(run_dir) or upgrade({"by_checkpoint": {}})
    data["during_training"][str(int(step))] = _entry(metrics, step, result_settings(settings),
                                                     getattr(metrics, "provenance", None))
    return _write(run_dir, data)


def own_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's own result ``{step, checkpoint, settings, settings_key, metrics}``, or None."""
    data = read_metrics(run_dir)
    if not data.get("metrics"):
        return None
    return {k: data.get(k) for k in ("step", "checkpoint", "settings", "settings_key", "metrics")}


def flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> one dict with dotted keys."""
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def hparams(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that identify a run, for TensorBoard's HParams view: the keys every
    run has, then the experiment's ``run_tags`` (e.g. PairedMNIST's ``lam``).

    Unset values are left out (the view shows them empty and its filters keep them; a
    string 'None' would be a value, and one in a numeric column breaks its filter), but
    ``name`` is always a string, ``''`` when unset, so the column exists in every run."""
    flat = flatten(config)
    values = {k: flat.get(k) for k in HPARAM_KEYS}
    values.update(config.get("run_tags") or {})
    values["name"] = "" if values.get("name") is None else str(values["name"])
    return {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in values.items() if v is not None}
