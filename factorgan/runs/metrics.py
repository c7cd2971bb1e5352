"""A run's results: ``metrics.json`` and the settings TensorBoard's HParams view shows."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from factorgan.runs import checkpoint

METRICS = "metrics.json"
HPARAM_KEYS = ("experiment_name", "model.name", "paired", "seed", "name")  # and the experiment's run_tags


def write_metrics_placeholder(run_dir: Path) -> None:
    """``metrics.json`` exists from the start (empty until evaluation writes it)."""
    path = run_dir / METRICS
    if not path.exists():
        path.write_text(json.dumps({}) + "\n")


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's ``metrics.json`` (``{}`` before any evaluation)."""
    path = Path(run_dir) / METRICS
    return json.loads(path.read_text()) if path.exists() else {}


def write_metrics(run_dir: Path, metrics: dict[str, float], step: int, checkpoint_name: str) -> Path:
    """Write ``metrics.json`` atomically: ``{"step", "checkpoint", "metrics": {name: value}}``.

    Evaluations of other checkpoints are kept under ``"by_checkpoint"`` so evaluating an
    old snapshot never loses the final numbers.
    """
    path = Path(run_dir) / METRICS
    old = read_metrics(run_dir)
    by_ckpt = dict(old.get("by_checkpoint", {}))
    entry = {"step": int(step), "metrics": {k: float(v) for k, v in metrics.items()}}
    by_ckpt[checkpoint_name] = entry
    out: dict[str, Any] = {"by_checkpoint": by_ckpt}
    main = by_ckpt.get(checkpoint.LAST, entry)
    out.update({"step": main["step"], "checkpoint": checkpoint.LAST if checkpoint.LAST in by_ckpt else checkpoint_name, "metrics": main["metrics"]})
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


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
    run has, then the experiment's ``run_tags`` (e.g. PairedMNIST's ``lam``)."""
    flat = flatten(config)
    values = {k: flat.get(k) for k in HPARAM_KEYS}
    values.update(config.get("run_tags") or {})
    return {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in values.items()}
