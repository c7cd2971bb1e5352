"""Checkpoints that cannot be read (a cut-off file) or written (disk full, quota, file
size limit): errors that name the file and say what to do, and nothing left half-written."""
from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from factorgan.atomic_files import TEMPORARY
from factorgan.runs import checkpoint
from factorgan.runs.rundir import folder
from factorgan.errors import RunError

REPO = Path(__file__).resolve().parents[2]


def save(path: Path, step: int) -> Path:
    checkpoint.save_atomic({"step": step, "config": {}, "w": torch.arange(1000.0) + step}, path)
    return path


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_a_truncated_checkpoint_names_the_file_and_the_snapshots_to_use(tmp_path):
    ckpts = checkpoint.checkpoint_dir(tmp_path)
    for step in (2, 4):
        save(ckpts / f"step_{step:07d}.pt", step)
    last = save(ckpts / checkpoint.LAST, 4)
    assert checkpoint.load(last)["step"] == 4
    truncate(last)
    with pytest.raises(RunError) as err:
        checkpoint.load(last)
    text = str(err.value)
    assert f"cannot read checkpoint {last}" in text and "damaged or incomplete" in text
    assert "step_0000002.pt, step_0000004.pt" in text
    assert f"cp {ckpts / 'step_0000004.pt'} {last}" in text and "resume=true" in text
    assert f"init_from={ckpts / 'step_0000004.pt'}" in text
    # the snapshots themselves still load
    assert checkpoint.load(ckpts / "step_0000004.pt")["step"] == 4


def test_a_damaged_checkpoint_without_snapshots_says_the_run_cannot_be_continued(tmp_path):
    last = save(checkpoint.checkpoint_dir(tmp_path) / checkpoint.LAST, 2)
    last.write_bytes(b"")  # an empty file (a crash right after creating it)
    with pytest.raises(RunError, match="no other snapshots.*cannot be continued"):
        checkpoint.load(last)
    truncate(save(last, 2), keep=0.99)  # only the zip's end record is missing
    with pytest.raises(RunError, match="damaged or incomplete"):
        checkpoint.load(last)


def test_an_intact_checkpoint_with_an_unusable_map_location_is_not_called_damaged(tmp_path):
    last = save(tmp_path / "last.pt", 2)
    with pytest.raises(Exception) as err:
        checkpoint.load(last, map_location="no_such_device")
    assert not isinstance(err.value, RunError)


def test_a_failed_write_keeps_the_previous_checkpoint_and_removes_the_partial_file(tmp_path, monkeypatch):
    last = save(tmp_path / "checkpoints" / "last.pt", 2)
    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        f.write(b"partial data")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(RunError) as err:
        checkpoint.save_atomic({"step": 4}, last, hint="continue with resume=true")
    text = str(err.value)
    assert f"could not write {last}: No space left on device" in text
    assert "previous last.pt is intact" in text and "partial file was removed" in text
    assert text.rstrip(".").endswith("continue with resume=true")
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pt"]  # no temp file left
    monkeypatch.setattr(torch, "save", real_save)
    assert checkpoint.load(last)["step"] == 2


def test_a_file_size_limit_stops_the_write_with_a_clear_error(tmp_path):
    """A real failed write: RLIMIT_FSIZE (SIGXFSZ ignored) makes write() fail with EFBIG,
    which torch reports as 'unexpected pos'."""
    last = save(tmp_path / "checkpoints" / "last.pt", 2)
    script = textwrap.dedent(f"""
        import resource, signal, torch
        from factorgan.runs import checkpoint
        from factorgan.errors import RunError
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))
        try:
            checkpoint.save_atomic({{"step": 4, "w": torch.zeros(100000)}}, {str(last)!r})
        except RunError as err:
            print("RunError:", err)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert f"RunError: could not write {last}: File too large" in done.stdout
    assert "unexpected pos" not in done.stdout + done.stderr
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.pt"]
    assert checkpoint.load(last)["step"] == 2


def test_errors_that_are_not_write_failures_pass_through(tmp_path, monkeypatch):
    def bug(obj, f, *args, **kwargs):
        raise TypeError("cannot pickle this")

    monkeypatch.setattr(torch, "save", bug)
    with pytest.raises(TypeError, match="cannot pickle"):
        checkpoint.save_atomic({"step": 1}, tmp_path / "x.pt")
    assert list(tmp_path.iterdir()) == []


def test_partial_writes_of_a_killed_process_are_removed_and_checkpoints_are_readable_by_others(tmp_path):
    import os
    import stat

    ckpt_dir = checkpoint.checkpoint_dir(tmp_path)
    checkpoint.save_atomic({"step": 1}, ckpt_dir / checkpoint.LAST)
    mode = stat.S_IMODE(os.stat(ckpt_dir / checkpoint.LAST).st_mode)
    mask = os.umask(0)
    os.umask(mask)
    assert mode == 0o666 & ~mask  # not mkstemp's private 0600
    stale = ckpt_dir / f".last.pt.abc123{TEMPORARY}"
    stale.write_bytes(b"PK\x03\x04 cut off")
    (tmp_path / "samples").mkdir()
    others = [tmp_path / "samples" / f".step_0000010.png.x1{TEMPORARY}", tmp_path / f".config.yaml.x2{TEMPORARY}",
              tmp_path / f".resumes.yaml.x3{TEMPORARY}"]
    evaluating = tmp_path / f".metrics.json.x4{TEMPORARY}"  # a concurrent evaluation's: not the training's to remove
    for path in (*others, evaluating):
        path.write_bytes(b"cut off")
    assert folder.remove_temporaries(tmp_path) == sorted([stale, *others])
    assert not stale.exists() and (ckpt_dir / checkpoint.LAST).exists()
    assert evaluating.exists() and not any(p.exists() for p in others)
    assert folder.remove_temporaries(tmp_path / "no_run") == []
