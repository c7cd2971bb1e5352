"""``metrics.json`` under faults: concurrent writers keep every entry, a damaged file is
set aside by writers (never by readers), a full disk leaves the previous file and no
temporary one."""
from __future__ import annotations

import errno
import json
import multiprocessing
import os
from pathlib import Path

import pytest

from factorgan.runs import checkpoint
from factorgan.runs.results import metrics_file as run_metrics
from factorgan.errors import RunError
from factorgan.runs.resume.policy import is_finished

OWN = {"_target_": "x.Evaluator", "num_samples": None, "seed": 1234}
WRITERS, EACH = 4, 40


def _writer(run_dir: str, index: int, barrier, failures) -> None:
    """``EACH`` evaluations of distinct snapshots and steps; writer 0 also records the
    run's own result at every 10th write (the case that left invalid JSON)."""
    barrier.wait()
    try:
        for i in range(EACH):
            settings = {**OWN, "num_samples": 100 + i}
            run_metrics.write_metrics(Path(run_dir), {"fid": float(i)}, i, f"step_{index}_{i}.pt", settings, own=False)
            if index == 0 and i % 10 == 0:
                run_metrics.write_metrics(Path(run_dir), {"fid": 1.0}, 100, checkpoint.LAST, OWN, own=True)
            if index == 1:
                run_metrics.write_during_training(Path(run_dir), {"fid": float(i)}, 1000 + i, OWN)
    except Exception as err:  # noqa: BLE001 - any failure is the finding
        failures.put(f"writer {index}: {type(err).__name__}: {err}")


def test_concurrent_writers_keep_every_entry_and_leave_valid_json(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, failures = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, barrier, failures)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    errors = [failures.get() for _ in range(failures.qsize())] if not failures.empty() else []
    assert errors == [] and [p.exitcode for p in procs] == [0] * WRITERS
    data = json.loads((tmp_path / "metrics.json").read_text())  # valid JSON
    snapshots = {name for name in data["by_checkpoint"] if name.startswith("step_")}
    assert len(snapshots) == WRITERS * EACH  # every acknowledged entry kept
    assert sorted(data["during_training"], key=int) == [str(1000 + i) for i in range(EACH)]
    assert data["metrics"] == {"fid": 1.0} and data["checkpoint"] == "last.pt"
    # unique temporary names, none left behind; only the lock file and the curve beside metrics.json
    assert sorted(p.name for p in tmp_path.iterdir()) == [run_metrics.LOCK, run_metrics.CURVE, "metrics.json"]
    curve = (tmp_path / run_metrics.CURVE).read_text().splitlines()
    assert [row.split(",")[0] for row in curve] == ["step", *(str(1000 + i) for i in range(EACH))]


DAMAGED = {
    "empty": b"",
    "cut off": json.dumps({"format": 2, "step": 4, "metrics": {"fid": 3.0}}).encode()[:25],
    "random bytes": bytes(range(256)) * 4,
    "a list": b"[1, 2]",
    "wrong layout": b'{"by_checkpoint": [1, 2]}',
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_a_writer_sets_a_damaged_file_aside_and_keeps_the_new_numbers(tmp_path, capsys, content):
    path = tmp_path / "metrics.json"
    path.write_bytes(content)
    with pytest.raises(run_metrics.DamagedMetrics, match="metrics.json is damaged"):
        run_metrics.read_metrics(tmp_path)
    assert path.read_bytes() == content  # reading never renames
    assert run_metrics.own_result(tmp_path) is None and not is_finished(tmp_path, 4, 4, needs_metrics=True)
    assert run_metrics.write_metrics(tmp_path, {"fid": 2.5}, 4, checkpoint.LAST, OWN, own=True)
    assert run_metrics.own_result(tmp_path)["metrics"] == {"fid": 2.5}
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("metrics.json.damaged-")]
    assert len(aside) == 1 and aside[0].read_bytes() == content  # kept as it was
    err = capsys.readouterr().err
    assert f"{path} is damaged (" in err and f"set aside as {aside[0]}" in err
    # a second damaged file in the same second does not overwrite the first one set aside
    path.write_bytes(b"[")
    run_metrics.write_during_training(tmp_path, {"fid": 9.0}, 2, OWN)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("metrics.json.damaged-")]) == 2
    assert run_metrics.read_metrics(tmp_path)["during_training"]["2"]["metrics"] == {"fid": 9.0}


def test_a_full_disk_keeps_the_previous_file_and_says_what_to_do(tmp_path, monkeypatch):
    run_metrics.write_metrics(tmp_path, {"fid": 2.0}, 4, checkpoint.LAST, OWN, own=True)
    before = (tmp_path / "metrics.json").read_bytes()
    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(RunError) as err:
        run_metrics.write_metrics(tmp_path, {"fid": 1.0}, 4, "step_0000002.pt", OWN, own=False)
    monkeypatch.setattr(os, "fsync", real_fsync)
    text = str(err.value)
    assert text.startswith(f"could not write {tmp_path / 'metrics.json'}: No space left on device; ")
    assert "MiB free on its disk" in text and "previous metrics.json is intact" in text
    assert text.endswith(f"evaluate again: python -m factorgan.evaluate run={tmp_path}.")
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [run_metrics.LOCK, "metrics.json"]
