"""Run directories: readable names, refusing to overwrite, and checking resumes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch

from factorgan.runs import checkpoint
from factorgan.runs.compat import upgrade_config
from factorgan.runs.metrics import flatten, read_metrics

# Keys that may change when a run is resumed (how long / how often, and where it runs).
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


def _given(value: Any) -> bool:
    return value is not None and str(value) not in ("None", "null", "")


def run_path(experiment: str, model: str, paired: Any, tags: Mapping[str, Any] | None, seed: Any, name: Any) -> str:
    """``<experiment>/<model>/paired<P>[_<tag><value>...]_seed<S>[_<name>]``: the
    experiment's ``run_tags`` in order (e.g. ``_lam0.9``); null parts are left out."""
    leaf = f"paired{paired}"
    for key, value in (tags or {}).items():
        if _given(value):
            leaf += f"_{key}{value}"
    leaf += f"_seed{seed}"
    if _given(name):
        leaf += f"_{name}"
    return f"{experiment}/{model}/{leaf}"




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
    diffs = config_differences(upgrade_config(saved), config)
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
