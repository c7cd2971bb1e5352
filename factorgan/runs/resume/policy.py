"""The resume policy: what a start does with a run directory that already holds a run
(refuse, resume, skip: ``on_existing``), which config changes a resume allows, what
``config.yaml`` says after a resume, and ``resumes.yaml``, the history of resumes."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from factorgan import atomic_files
from factorgan.errors import NothingToResume, ResumeMismatch, RunError, RunExists
from factorgan.runs import checkpoint
from factorgan.runs.results.metrics_file import DamagedMetrics, flatten, read_metrics
from factorgan.runs.rundir.compat import upgrade_config
from factorgan.runs.rundir.config_file import RESUMABLE_CHANGES, resumable

# Of those, the ones config.yaml takes from a resume: they describe the run's checkpoint
# and metrics from then on (a longer run, its schedule, the evaluation that wrote its
# metrics - unless evaluation=null). The others only say how that call ran (device,
# threads, progress bars ...): config.yaml keeps the run's own values, and resumes.yaml
# records every change.
RECORDED_ON_RESUME = (
    "trainer.max_steps",
    "trainer.log_every",
    "trainer.sample_every",
    "trainer.ckpt_every",
    "trainer.snapshot_every",
    "evaluation",
)
RESUMES = "resumes.yaml"
_MISSING = "<missing>"  # a key one of two configs lacks


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ (ignoring :data:`RESUMABLE_CHANGES`)."""
    a, b = flatten(saved), flatten(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if resumable(key):
            continue
        if a.get(key, _MISSING) != b.get(key, _MISSING):
            diffs.append(f"{key}: {a.get(key, _MISSING)!r} -> {b.get(key, _MISSING)!r}")
    return diffs


def prepare(run_dir: Path, config: dict[str, Any], resume: bool, multirun: bool = False) -> Path | None:
    """Check the run directory; return the checkpoint to resume from, or None to start.

    Starting over an existing run without ``resume=true`` is refused, and so is resuming
    with a config that differs beyond :data:`RESUMABLE_CHANGES`, a shorter
    ``trainer.max_steps`` than the run's step, or (a single run) nothing to resume.
    """
    last = checkpoint.find(run_dir)
    if last is None:
        if resume and not multirun:
            raise NothingToResume(nothing_to_resume(run_dir))
        if resume:
            print(f"resume=true but {run_dir} holds no checkpoint yet: starting a new run")
        return None
    state = checkpoint.load(last, mmap=True)  # tensors are not read
    if not resume:
        raise RunExists(
            f"{run_dir} already holds a run (checkpoint at step {state['step']}). Add resume=true to "
            f"continue it (a larger trainer.max_steps extends it), or name=<tag> to start a "
            f"separate run."
        )
    check_resumable(run_dir, state["config"], config)
    check_steps(run_dir, int(state["step"]), int(config["trainer"]["max_steps"]))
    return last


def nothing_to_resume(run_dir: Path) -> str:
    """Why ``resume=true`` found nothing, with the runs that do exist beside ``run_dir``."""
    near = sorted(p.name for p in run_dir.parent.glob("*") if checkpoint.find(p) is not None) \
        if run_dir.parent.is_dir() else []
    hint = f"\n  runs in {run_dir.parent}: {', '.join(near)}" if near else ""
    tagged = [n[len(run_dir.name) + 1:] for n in near if n.startswith(run_dir.name + "_")]
    if tagged:  # e.g. a run named by a speed preset, which earlier versions did
        hint += f"\n  the same settings with a name: add name={tagged[0]} to resume {run_dir.name}_{tagged[0]}"
    return (
        f"resume=true but there is no run to resume in {run_dir} (no checkpoints/{checkpoint.LAST}). "
        f"The run directory follows from the settings (experiment, model, paired, the experiment's "
        f"tags such as lam, seed, name): give the ones of the run to resume, or drop resume=true to "
        f"start a new run.{hint}"
    )


def check_steps(run_dir: Path, step: int, max_steps: int) -> None:
    """Refuse to resume with a ``trainer.max_steps`` below the run's step: the run cannot
    be shortened, and its config would then contradict its checkpoint."""
    if max_steps < step:
        raise ResumeMismatch(
            f"cannot resume {run_dir} with trainer.max_steps={max_steps}: the run is already at "
            f"step {step}. Give trainer.max_steps={step} (evaluates only) or more (trains on); "
            f"to use an earlier state, evaluate a snapshot (python -m factorgan.evaluate "
            f"run={run_dir} checkpoint=step_...) or start a new run from one (init_from=<snapshot> "
            f"name=<tag>)."
        )


def check_resumable(run_dir: Path, saved: dict[str, Any], config: dict[str, Any]) -> None:
    """Refuse to resume a run whose saved config differs beyond :data:`RESUMABLE_CHANGES`."""
    saved = upgrade_config(saved)
    diffs = config_differences(saved, config)
    if diffs:
        flat_saved, flat_now = flatten(saved), flatten(config)
        keep = [f"{key}={_override_value(flat_saved[key])}" for key in sorted(set(flat_saved) | set(flat_now))
                if not resumable(key) and key in flat_saved and flat_saved[key] != flat_now.get(key, _MISSING)]
        raise ResumeMismatch(
            f"cannot resume {run_dir}: the config differs from the saved run in\n  "
            + "\n  ".join(diffs)
            + "\nOnly these may change on resume: " + ", ".join(RESUMABLE_CHANGES)
            + ("\nIf you did not ask for these changes (a default changed since the run was made), resume "
               "with the run's own values: add " + " ".join(keep) if keep else "")
        )


def given_on_command_line(key: str, overrides: Sequence[str]) -> bool:
    """Whether the dotted ``key`` was set by one of ``overrides`` (``a.b=1``, ``+a.b=1``,
    or a config group such as ``generator=conv`` for ``generator.*``). ``experiment=``
    names the run rather than changing it and does not count."""
    for override in overrides:
        name = override.split("=", 1)[0].lstrip("+~")
        if name and name != "experiment" and not name.startswith("hydra") and (key == name or key.startswith(name + ".")):
            return True
    return False


def keep_run_values(run_dir: Path, config: dict[str, Any], overrides: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """``config`` for resuming the run in ``run_dir``: every key that differs from the run's
    saved value although the command line did not set it (a default changed since the run
    was made) takes the run's value. Returns the config and a note per key kept."""
    last = checkpoint.find(run_dir)
    if last is None:
        return config, []
    saved = flatten(upgrade_config(checkpoint.load(last, mmap=True)["config"]))  # tensors are not read
    now = flatten(config)
    out, kept = copy.deepcopy(config), []
    for key in sorted(set(saved) & set(now)):
        if saved[key] == now[key] or resumable(key) or given_on_command_line(key, overrides):
            continue
        _set(out, key, copy.deepcopy(saved[key]))
        kept.append(f"{key}={saved[key]!r} (today's default: {now[key]!r})")
    return out, kept


def _override_value(value: Any) -> str:
    """``value`` as a Hydra command-line override writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_override_value(v) for v in value) + "]"
    return str(value)


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
    """Trained to ``max_steps`` and, when an evaluation is configured, evaluated (a
    damaged metrics.json is not: evaluating again sets it aside)."""
    try:
        return step >= max_steps and (not needs_metrics or bool(read_metrics(run_dir).get("metrics")))
    except DamagedMetrics:
        return False


def plan_run(
    run_dir: Path, config: dict[str, Any], resume: bool, policy: str, needs_metrics: bool,
    multirun: bool = False,
) -> RunPlan:
    """Decide how to treat ``run_dir`` under ``policy`` (see :func:`on_existing_policy`).

    ``refuse``: :func:`prepare` (an existing run needs ``resume=true``). ``continue``: a
    finished run is skipped, an unfinished one resumed, a missing one started; a saved
    run with a different config is still refused, so a changed sweep never mixes runs.
    """
    if policy == "refuse":
        last = prepare(run_dir, config, resume, multirun)
        return RunPlan("resume" if last is not None else "start", last)
    last = checkpoint.find(run_dir)
    if last is None:
        return RunPlan("start")
    state = checkpoint.load(last, mmap=True)
    check_resumable(run_dir, state["config"], config)
    step, max_steps = int(state["step"]), int(config["trainer"]["max_steps"])
    if is_finished(run_dir, step, max_steps, needs_metrics):
        return RunPlan("skip", last, f"already finished (step {step} of {max_steps}, metrics written)"
                       if needs_metrics else f"already finished (step {step} of {max_steps})")
    check_steps(run_dir, step, max_steps)
    return RunPlan("resume", last, f"unfinished (step {step} of {max_steps})")


# ---- what config.yaml says after a resume, and the history of resumes ----


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _set(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def resumed_config(saved: dict[str, Any], current: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The config a resumed run records (config.yaml, its checkpoints), and its changes.

    ``current`` (this call's config, which :func:`check_resumable` found equal to
    ``saved`` outside :data:`RESUMABLE_CHANGES`) with every resumable key that is not
    :data:`RECORDED_ON_RESUME` set back to the saved run's value, and ``evaluation=null``
    keeping the run's evaluation. Returns ``(recorded, changes)``; ``changes``:
    ``{"changed": {key: {old, new}}, "this_call_only": {key: {old, new}}}``.
    """
    saved = upgrade_config(saved)
    recorded = copy.deepcopy(current)
    changes: dict[str, dict[str, Any]] = {"changed": {}, "this_call_only": {}}
    for key in RESUMABLE_CHANGES:
        old, new = _get(saved, key), _get(current, key)
        if old == new:
            continue
        if key == "resume":  # always true on a resume: not worth a history entry
            if old != _MISSING:
                _set(recorded, key, old)
            continue
        if key in RECORDED_ON_RESUME and not (key == "evaluation" and new is None):
            changes["changed"][key] = {"old": old, "new": new}
        else:
            changes["this_call_only"][key] = {"old": old, "new": new}
            if old != _MISSING:  # else a key the run's version did not have: today's value
                _set(recorded, key, copy.deepcopy(old))
    return recorded, changes


def record_resume(run_dir: Path, step: int, changes: dict[str, Any]) -> Path:
    """Append this resume (time, step resumed from, changes) to ``resumes.yaml``."""
    path = Path(run_dir) / RESUMES
    try:
        history = yaml.safe_load(path.read_text()) if path.exists() else []
    except yaml.YAMLError:
        history = None
    if not isinstance(history, list):  # damaged: keep it aside rather than lose it
        path.replace(path.with_suffix(".yaml.damaged"))
        history = []
    history.append({"time": time.strftime("%Y-%m-%d %H:%M:%S"), "from_step": int(step), **changes})
    text = yaml.safe_dump(history, sort_keys=False)
    atomic_files.write_atomic(path, lambda f: f.write(text.encode()), "run the same command again (resume=true)")
    return path
