"""Collect every run under a folder into one tidy table (one row per run)."""
from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from factorgan.results.arms import note_untrained_arms
from factorgan.runs import checkpoint

from factorgan.errors import RunError
from factorgan.runs.rundir.config_file import read_config
from factorgan.runs.rundir.folder import has_checkpoint
from factorgan.runs.results import metrics_file as run_metrics

# The columns that identify every run, in order; each experiment's `run_tags` (e.g. `lam`)
# follow `paired`, then every metric, then `run_dir`.
ID_COLUMNS = ["experiment", "model", "paired", "seed", "name", "steps"]
CONFIG = "config.yaml"
TAG = "tag:"  # marks run-tag columns while rows are built


def find_runs(root: Path) -> list[Path]:
    """Run directories under ``root`` (or ``root`` itself): those holding ``config.yaml``.
    Hidden folders (``.submitit`` logs) are not searched."""
    root = Path(root)
    found = [p.parent for p in root.rglob(CONFIG)
             if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(d for d in found if _trained(d))


def _trained(run_dir: Path) -> bool:
    """A run with a checkpoint or metrics; a start that never reached its first
    checkpoint has no results: left out of the table, and said so on stderr."""
    try:
        if has_checkpoint(run_dir) or run_metrics.read_metrics(run_dir).get("metrics"):
            return True
    except run_metrics.DamagedMetrics:
        return True  # run_row says why it is left out
    print(f"note: left out {run_dir}: no checkpoint (a start that failed or is still starting)",
          file=sys.stderr)
    return False


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of ``checkpoints/last.pt`` (memory-mapped: tensors are not read); None,
    said on stderr, when it cannot be read."""
    path = checkpoint.find(run_dir)
    if path is None:
        return None
    try:
        return int(checkpoint.load(path, mmap=True)["step"])
    except RunError as err:
        print(f"warning: {err}", file=sys.stderr)
        return None


def _none_if_null(value: Any) -> Any:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def last_scalars(run_dir: Path, tags: Sequence[str]) -> dict[str, float]:
    """The last logged value of each TensorBoard scalar ``tag`` of a run (those it has)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not (run_dir / "tb").is_dir():
        return {}
    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    present = set(events.Tags().get("scalars", []))
    return {tag: float(events.Scalars(tag)[-1].value) for tag in tags if tag in present}


# The settings a row cannot go without (a cut-off config.yaml and no checkpoint to read
# them from: the run is left out rather than tabulated with blanks).
REQUIRED = ("experiment_name", "model.name", "paired", "seed")


def run_row(run_dir: Path, root: Path, scalars: Sequence[str] = ()) -> dict[str, Any] | None:
    """One run: its identifying settings, the step its metrics were taken at (or its
    checkpoint's step if not evaluated yet), every metric of ``metrics.json``, and the
    last value of the TensorBoard ``scalars`` asked for. None, said on stderr, for a run
    whose metrics.json is damaged or whose settings cannot be read (nothing is changed:
    the run's next evaluation sets a damaged file aside)."""
    try:
        config = read_config(run_dir)  # a damaged config.yaml: the checkpoint's copy
        written = run_metrics.read_metrics(run_dir)
    except (run_metrics.DamagedMetrics, RunError) as err:
        again = (f"; evaluating it again sets the file aside (python -m factorgan.evaluate run={run_dir})"
                 if isinstance(err, run_metrics.DamagedMetrics) else "")
        print(f"note: left out {run_dir}: {err}{again}", file=sys.stderr)
        return None
    flat = run_metrics.flatten(config)
    lacking = [k for k in REQUIRED if k not in flat]
    if lacking:
        print(f"note: left out {run_dir}: its config.yaml lacks {', '.join(lacking)} and it has no "
              f"checkpoint holding the config", file=sys.stderr)
        return None
    metrics = written.get("metrics", {})
    steps = written.get("step") if metrics else checkpoint_step(run_dir)
    row: dict[str, Any] = {
        "experiment": config.get("experiment_name"),
        "model": (config.get("model") or {}).get("name"),
        "paired": config.get("paired"),
        **{f"{TAG}{k}": _none_if_null(v) for k, v in (config.get("run_tags") or {}).items()},
        "seed": config.get("seed"),
        "name": config.get("name"),
        "steps": steps,
    }
    row.update({k: float(v) for k, v in metrics.items()})
    if scalars:
        row.update(last_scalars(run_dir, scalars))
    row["run_dir"] = str(run_dir.relative_to(root)) if run_dir != root else "."
    return row


def id_columns(table: pd.DataFrame) -> list[str]:
    """The columns of a :func:`collect` table that identify runs: :data:`ID_COLUMNS` and
    the experiments' run tags (every other column but ``run_dir`` is a metric)."""
    return list(table.attrs.get("id_columns", ID_COLUMNS))


def collect(root: str | Path, scalars: Sequence[str] = ()) -> pd.DataFrame:
    """Every run under ``root`` as one row: :data:`ID_COLUMNS` with each experiment's
    ``run_tags`` after ``paired``, then the metrics (sorted by name; empty where a run has
    none yet; plus the last value of each TensorBoard tag in ``scalars``), then ``run_dir``
    (relative to ``root``)."""
    root = Path(root)
    found = find_runs(root)
    note_untrained_arms(root, len(found))  # arms whose start failed leave no directory
    rows = [row for row in (run_row(d, root, scalars) for d in found) if row is not None]
    tags = sorted({k for r in rows for k in r if k.startswith(TAG)})
    rows = [{(k[len(TAG):] if k.startswith(TAG) else k): v for k, v in r.items()} for r in rows]
    tags = [k[len(TAG):] for k in tags]
    metric_names = sorted({k for r in rows for k in r} - set(ID_COLUMNS) - set(tags) - {"run_dir"})
    columns = [*ID_COLUMNS[:3], *tags, *ID_COLUMNS[3:]]
    table = pd.DataFrame(rows, columns=[*columns, *metric_names, "run_dir"])
    table["steps"] = table["steps"].astype("Int64")  # nullable: runs without a checkpoint
    order = ["experiment", "model", *tags, "paired", "seed", "name"]
    table = table.sort_values(order, na_position="first", kind="stable").reset_index(drop=True)
    table.attrs["id_columns"] = columns
    return table
