"""A run's results: ``metrics.json`` and the settings TensorBoard's HParams view shows."""
from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from factorgan import atomic_files
from factorgan.errors import DamagedMetrics
from factorgan.runs import checkpoint
from factorgan.runs.results.evaluation import result_settings, settings_key

METRICS = "metrics.json"
CURVE = "during_training.csv"  # the evaluations during training as a table, beside metrics.json
LOCK = f".{METRICS}.lock"  # serialises writers of metrics.json (flock)
HPARAM_KEYS = ("experiment_name", "model.name", "paired", "seed", "name")  # and the experiment's run_tags

# metrics.json layout: 2 keeps every evaluation per checkpoint and settings key; 3 (written
# now) the same with ``during_training`` in step order and each provenance once, in
# ``provenances``, named by its id from the entries. Formats 1 and 2 still read.
FORMAT = 3
READABLE = (2, 3)  # formats read as they are (1 and older are upgraded)
PROVENANCES = "provenances"  # format 3: {id: provenance}; an entry's "provenance" is an id
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
    with _locked(run_dir):
        if not (Path(run_dir) / METRICS).exists():
            _write(run_dir, {}, "")


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Any ``metrics.json`` (``{}``; ``step``/``checkpoint``/``metrics``, with or without
    format 1's ``by_checkpoint: {checkpoint: {step, metrics}}``) in the current layout;
    results of unknown settings are kept under the settings key :data:`UNKNOWN`."""
    if data.get("format") in READABLE or not data:
        return _expanded(data)
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
    return _expanded(out)


def step_order(key: str) -> tuple[int, int, str]:
    """Sort key: step numbers (``"500"``) numerically, before any other text."""
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _entries(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every place of ``data`` that may hold a ``provenance``: the top level, each
    evaluation under ``by_checkpoint`` and ``during_training``."""
    yield data
    for by_key in (data.get("by_checkpoint") or {}).values():
        yield from (e for e in by_key.values() if isinstance(e, dict))
    yield from (e for e in (data.get("during_training") or {}).values() if isinstance(e, dict))


def _expanded(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as readers see it whatever its format: each entry's ``provenance`` in
    full (format 3 stores ids into ``provenances``) and ``during_training`` in step order."""
    if not data:
        return data
    out = dict(data)
    table = out.pop(PROVENANCES, None) or {}
    if "during_training" in out:
        steps = out["during_training"] or {}
        out["during_training"] = {k: steps[k] for k in sorted(steps, key=step_order)}
    for entry in _entries(out):
        ref = entry.get("provenance")
        if isinstance(ref, str):
            if ref in table:
                entry["provenance"] = table[ref]
            else:  # a dangling id: the name is all that is known
                entry["provenance"] = {"id": ref}
    if out.get("format") in READABLE:
        out["format"] = FORMAT
    return out


def provenance_id(provenance: dict[str, Any]) -> str:
    """A provenance's short stable name in ``provenances`` (10 hex digits of its JSON)."""
    return hashlib.sha1(json.dumps(provenance, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as format 3 stores it: each distinct provenance once under ``provenances``,
    the entries naming it by id; steps and other keys in order (numbers numerically)."""
    out = json.loads(json.dumps(data, default=str))  # a copy the entries can be rewritten in
    table: dict[str, Any] = {}
    for entry in _entries(out):
        provenance = entry.get("provenance")
        if isinstance(provenance, dict):
            ref = provenance_id(provenance)
            table[ref] = provenance
            entry["provenance"] = ref
    if table:
        out[PROVENANCES] = table
    if data:
        out["format"] = FORMAT
    return _ordered(out)


def _ordered(value: Any) -> Any:
    """Every mapping's keys sorted, step numbers numerically (``"500"`` before ``"4500"``),
    but ``metrics`` in the order the evaluator reported them (``fid_top, fid_bottom, fid, ...``)."""
    if isinstance(value, dict):
        return {k: value[k] if k == "metrics" else _ordered(value[k]) for k in sorted(value, key=step_order)}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The run's ``metrics.json`` in the current layout (``{}`` before any evaluation).

    Top level: the run's own result (``step``, ``checkpoint``, ``settings``,
    ``settings_key``, ``metrics``); ``by_checkpoint``: ``{checkpoint: {settings key:
    {step, settings, metrics}}}``, every evaluation; ``during_training``: ``{step:
    {step, settings, metrics}}``, the evaluations during training (never the result).
    A damaged file (empty, cut off, not JSON, not this layout) raises
    :class:`DamagedMetrics`; reading never changes it (writers set it aside).
    """
    path = Path(run_dir) / METRICS
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise DamagedMetrics(path, "empty" if not raw.strip() else f"not valid JSON: {err}") from None
    problem = layout_problem(data)
    if problem:
        raise DamagedMetrics(path, problem)
    return upgrade(data)


def layout_problem(data: Any) -> str | None:
    """What makes parsed ``metrics.json`` contents unusable (None: nothing)."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__} where an object is expected"
    for key in ("by_checkpoint", "during_training"):
        table = data.get(key)
        if table is not None and not (isinstance(table, dict) and all(isinstance(v, dict) for v in table.values())):
            return f"{key} is not a mapping of entries"
    if data.get("metrics") is not None and not isinstance(data["metrics"], dict):
        return "metrics is not a mapping"
    if data.get(PROVENANCES) is not None and not isinstance(data[PROVENANCES], dict):
        return f"{PROVENANCES} is not a mapping"
    return None


def set_aside(damaged: DamagedMetrics) -> Path:
    """Rename a damaged ``metrics.json`` to ``metrics.json.damaged-<time>`` (never
    overwriting an earlier one) and say so on stderr; the caller holds the lock."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = damaged.path.with_name(f"{METRICS}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = damaged.path.with_name(f"{METRICS}.damaged-{stamp}-{n}")
    os.replace(damaged.path, aside)
    print(f"warning: {damaged}: set aside as {aside}; a new {METRICS} holds this evaluation "
          f"(the earlier ones are only in that file)", file=sys.stderr)
    return aside


def _readable(run_dir: Path) -> dict[str, Any]:
    """:func:`read_metrics` for a writer holding the lock: a damaged file is set aside."""
    try:
        return read_metrics(run_dir)
    except DamagedMetrics as damaged:
        set_aside(damaged)
        return {}


@contextlib.contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """Hold the exclusive ``flock`` on ``<run dir>/.metrics.json.lock``: every read-modify-write
    of ``metrics.json`` (an evaluation, training's own) runs under it, one at a time. The
    file stays (removing it would let two writers lock different files)."""
    path = Path(run_dir) / LOCK
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise atomic_files.unwritable(path, os.strerror(err.errno) if err.errno else str(err),
                                      intact=f"{METRICS} was not changed.") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as err:  # a file system without locks: write unserialised, but say so
            print(f"warning: cannot lock {path} ({err}); concurrent evaluations of this run could "
                  f"overwrite each other's results", file=sys.stderr)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write(run_dir: Path, data: dict[str, Any], hint: str) -> Path:
    """``metrics.json`` (format 3, :func:`_compact`) and, when there are evaluations during
    training, :data:`CURVE` beside it; both atomically (the caller holds the lock)."""
    text = json.dumps(_compact(data), indent=2) + "\n"
    path = atomic_files.write_atomic(Path(run_dir) / METRICS, lambda f: f.write(text.encode()), hint)
    if data.get("during_training"):
        table = curve_csv(data["during_training"])
        atomic_files.write_atomic(Path(run_dir) / CURVE, lambda f: f.write(table.encode()), hint)
    return path


def curve_csv(during_training: dict[str, dict[str, Any]]) -> str:
    """The evaluations during training as CSV: ``step`` then one column per metric (in
    the order the evaluator reports them), one row per step in step order; a metric an
    evaluation lacks is an empty cell."""
    rows = [during_training[k] for k in sorted(during_training, key=step_order)]
    names: list[str] = []
    for row in rows:
        names += [n for n in row.get("metrics", {}) if n not in names]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", *names])
    for key, row in zip(sorted(during_training, key=step_order), rows):
        metrics = row.get("metrics", {})
        writer.writerow([row.get("step", key), *(repr(float(metrics[n])) if n in metrics else "" for n in names)])
    return out.getvalue()


def evaluate_again(run_dir: Path) -> str:
    """How to redo a lost evaluation of ``run_dir``: the hint of a failed write."""
    return f"evaluate again: python -m factorgan.evaluate run={run_dir}"


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
    """Record an evaluation in ``metrics.json`` (atomically, under the file's lock, so
    concurrent evaluations all keep theirs) under its checkpoint and settings key;
    ``own``: it is the run's own result (the top-level ``step``, ``checkpoint``,
    ``metrics`` that sweeps and results tables read; default: when ``checkpoint_name``
    is ``last.pt``). Other evaluations never replace the run's own. A damaged file is set
    aside (:func:`set_aside`); a failed write raises :class:`RunError` saying why.

    Args:
        settings: the evaluator settings (:func:`factorgan.runs.results.evaluation.result_settings`
            are recorded; None: unknown).
        provenance: what scored the metrics (e.g. the classifier's name), recorded as the
            entry's ``provenance`` (None: ``metrics``' own :class:`EvaluationResult`
            provenance, if any).
    Returns:
        True when this is the run's own result and none was recorded at this step before
        (then TensorBoard gets ``eval/<metric>`` and the HParams view, once per step).
    """
    recorded = None if settings is None else result_settings(settings)
    key = UNKNOWN if settings is None else settings_key(settings)
    if provenance is None:
        provenance = getattr(metrics, "provenance", None)
    entry = _entry(metrics, step, recorded, provenance)
    own = checkpoint_name == checkpoint.LAST if own is None else own
    with _locked(run_dir):
        data = _readable(run_dir) or upgrade({"by_checkpoint": {}})
        data["by_checkpoint"].setdefault(checkpoint_name, {})[key] = entry
        first = own and not (data.get("metrics") and data.get("step") == int(step))
        if own:
            data.pop("provenance", None)  # an earlier result's: only this entry's may stand
            data.update(checkpoint=checkpoint_name, settings_key=key, **entry)
        _write(run_dir, data, evaluate_again(run_dir))
    return bool(first)


def write_during_training(run_dir: Path, metrics: dict[str, float], step: int, settings: dict[str, Any]) -> Path:
    """Record an evaluation during training under ``during_training`` (for curves; never
    the run's result), as :func:`write_metrics` does."""
    entry = _entry(metrics, step, result_settings(settings), getattr(metrics, "provenance", None))
    with _locked(run_dir):
        data = _readable(run_dir) or upgrade({"by_checkpoint": {}})
        data["during_training"][str(int(step))] = entry
        return _write(run_dir, data, "continue the run: the same command with resume=true")


def own_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's own result ``{step, checkpoint, settings, settings_key, metrics}``, or
    None (also when ``metrics.json`` is damaged: its next write sets it aside)."""
    try:
        data = read_metrics(run_dir)
    except DamagedMetrics:
        return None
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
    """The settings that identify a run, for TensorBoard's HParams view: the experiment,
    model and pairs, the experiment's ``run_tags`` (e.g. PairedMNIST's ``lam``), ``name``
    and ``seed``, in this order.

    Unset values are left out (the view shows them empty and its filters keep them; a
    string 'None' would be a value, and one in a numeric column breaks its filter), but
    ``name`` is always a string, ``''`` when unset, so the column exists in every run.

    Integers are written as their digits (``paired`` ``"100"``, ``seed`` ``"0"``): the view
    prints every number to five significant digits (``100.00``), and a string column
    filters by its values (tick the seeds or pair counts to compare) and also holds
    ``paired=all``; floats (``lam``) stay numbers."""
    flat = flatten(config)
    values = {k: flat.get(k) for k in HPARAM_KEYS if k not in ("seed", "name")}
    values.update(config.get("run_tags") or {})
    # name and seed last: the view ticks the first five columns (those that differ between
    # runs first), so seed is unticked unless the runs differ by it
    values["name"] = "" if flat.get("name") is None else str(flat["name"])
    values["seed"] = flat.get("seed")
    return {k: (v if isinstance(v, (float, str, bool)) else str(v)) for k, v in values.items() if v is not None}
