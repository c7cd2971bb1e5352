"""Run directories: readable names, refusing to overwrite, and checking resumes."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from factorgan.runs import checkpoint# Keys that may change when a run is resumed (how long / how often, and where it runs).
RESUMABLE_CHANGES = (
    "resume",
    "device",
    "trainer.max_steps",
    "trainer.log_every",
    "trainer.sample_every",
    "trainer.ckpt_every",
    "trainer.snapshot_every",
    "trainer.progress",
    "trainer.cuda_graph",
    "channels_last",
    "evaluation",  # what is measured after training, not how the run trains
    "threads",  # how many CPU threads, not what is computed
    "on_existing",
    "samples",  # how sample grids are drawn, not how the run trains
)


def _resumable(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in RESUMABLE_CHANGES)


class RunError(RuntimeError):
    """A run cannot start as asked (it exists, or its resume does not match)."""


def run_path(experiment: str, model: str, paired: Any, lam: Any, seed: Any, name: Any) -> str:
    """``<experiment>/<model>/paired<P>[_lam<L>]_seed<S>[_<name>]``; null parts are left out."""
    leaf = f"paired{paired}"
    if lam is not None and str(lam) not in ("None", "null", ""):
        leaf += f"_lam{lam}"
    leaf += f"_seed{seed}"
    if name is not None and str(name) not in ("None", "null", ""):
        leaf += f"_{name}"
    return f"{experiment}/{model}/{leaf}"


def flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in cfg.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ (ignoring :data:`RESUMABLE_CHANGES`)."""
    a, b = flatten(saved), flatten(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if _resumable(key):
            continue
        if a.get(key, "<missing>") != b.get(key, "<missing>"):
            diffs.append(f"{key}: {a.get(key, '<missing>')!r} -> {b.get(key, '<missing>')!r}")
    return diffs


def prepare(run_dir: Path, config: dict[str, Any], resume: bool) -> Path | None:
    """Check the run directory; return the checkpoint to resume from, or None to start.

    Starting over an existing run without ``resume=true`` is refused, and so is resuming
    with a config that differs beyond :data:`RESUMABLE_CHANGES`.
    """
    last = checkpoint.find(run_dir)
    if last is None:
        if resume:
            print(f"resume=true but {run_dir} holds no checkpoint yet: starting a new run")
        return None
    if not resume:
        step = torch.load(last, map_location="cpu", weights_only=False)["step"]
        raise RunError(
            f"{run_dir} already holds a run (checkpoint at step {step}). Add resume=true to "
            f"continue it (a larger trainer.max_steps extends it), or name=<tag> to start a "
            f"separate run."
        )
    check_resumable(run_dir, checkpoint.load(last)["config"], config)
    return last


def check_resumable(run_dir: Path, saved: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse to resume a run whose saved config differs beyond :data:`RESUMABLE_CHANGES`."""
    diffs = config_differences(saved, config)
    if diffs:
        raise RunError(
            f"cannot resume {run_dir}: the config differs from the saved run in\n  "
            + "\n  ".join(diffs)
            + "\nOnly these may change on resume: " + ", ".join(RESUMABLE_CHANGES)
        )


# ---- what to do with a run directory that already holds a run (config `on_existing`) ----
ON_EXISTING = ("auto", "refuse", "continue")


@dataclass(frozen=True)
class RunPlan:
    """``action``: ``start`` a new run, ``resume`` from ``checkpoint``, or ``skip`` it."""

    action: str
    checkpoint: Path | None = None
    reason: str = ""


def on_existing_policy(setting: str, multirun: bool) -> str:
    """Resolve ``on_existing``: ``auto`` is ``continue`` in a multirun (re-running a sweep
    picks up where it stopped) and ``refuse`` in a single run (never overwrite by accident)."""
    if setting not in ON_EXISTING:
        raise RunError(f"on_existing={setting!r} is not one of {', '.join(ON_EXISTING)}")
    if setting == "auto":
        return "continue" if multirun else "refuse"
    return setting


def is_finished(run_dir: Path, step: int, max_steps: int, needs_metrics: bool) -> bool:
    """Trained to ``max_steps`` and, when an evaluation is configured, evaluated."""
    return step >= max_steps and (not needs_metrics or bool(read_metrics(run_dir).get("metrics")))


def plan_run(
    run_dir: Path, config: dict[str, Any], resume: bool, policy: str, needs_metrics: bool
) -> RunPlan:
    """Decide how to treat ``run_dir`` under ``policy`` (see :func:`on_existing_policy`).

    ``refuse``: :func:`prepare` (an existing run needs ``resume=true``). ``continue``: a
    finished run is skipped, an unfinished one resumed, a missing one started; a saved
    run with a different config is still refused, so a changed sweep never mixes runs.
    """
    if policy == "refuse":
        last = prepare(run_dir, config, resume)
        return RunPlan("resume" if last is not None else "start", last)
    last = checkpoint.find(run_dir)
    if last is None:
        return RunPlan("start")
    state = checkpoint.load(last)
    check_resumable(run_dir, state["config"], config)
    step, max_steps = int(state["step"]), int(config["trainer"]["max_steps"])
    if is_finished(run_dir, step, max_steps, needs_metrics):
        return RunPlan("skip", last, f"already finished (step {step} of {max_steps}, metrics written)"
                       if needs_metrics else f"already finished (step {step} of {max_steps})")
    return RunPlan("resume", last, f"unfinished (step {step} of {max_steps})")


METRICS = "metrics.json"
HPARAM_KEYS = ("experiment_name", "model.name", "paired", "lam", "seed", "name")


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


def hparams(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that identify a run, for TensorBoard's HParams view."""
    flat = flatten(config)
    return {k: (flat.get(k) if isinstance(flat.get(k), (int, float, str, bool)) else str(flat.get(k)))
            for k in HPARAM_KEYS}
