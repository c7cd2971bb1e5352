"""One training process per run directory (``<run dir>/.lock``)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import TINY, compose_config
from factorgan.cli.train import train
from factorgan.runs import checkpoint
from factorgan.errors import RunError
from factorgan.runs.process.lock import LOCK, RunLock, discard_unless_in_use

REPO = Path(__file__).resolve().parents[2]


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    with RunLock(tmp_path / "run") as first:
        assert first.held and f"pid {os.getpid()}" in (tmp_path / "run" / LOCK).read_text()
        with pytest.raises(RunError, match=rf"is in use: pid {os.getpid()} on .*name=<tag>"):
            RunLock(tmp_path / "run").acquire()
    assert not (tmp_path / "run" / LOCK).exists()  # released and removed
    with RunLock(tmp_path / "run"):  # free again
        pass


def hold_in_subprocess(run_dir: Path) -> subprocess.Popen:
    script = textwrap.dedent(f"""
        import time
        from factorgan.runs.process.lock import RunLock
        RunLock({str(run_dir)!r}).acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_the_lock_of_a_killed_process_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    proc = hold_in_subprocess(run_dir)
    try:
        with pytest.raises(RunError, match=f"pid {proc.pid} on"):
            RunLock(run_dir).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (run_dir / LOCK).exists()  # the stale file stays, but the kernel released the lock
    with RunLock(run_dir) as lock:
        assert f"pid {os.getpid()} " in lock.path.read_text()


def test_train_refuses_a_directory_in_use_and_leaves_it_alone(tmp_path):
    run_dir = tmp_path / "run"
    proc = hold_in_subprocess(run_dir)
    try:
        (run_dir / "config.yaml").write_text("seed: 0\n")  # the other process's start
        with pytest.raises(RunError, match=f"in use: pid {proc.pid}"):
            train(compose_config(*TINY), run_dir)
        # the refused start removes nothing of the running one
        assert not discard_unless_in_use(run_dir, set())
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK, "config.yaml"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # once it is gone (killed before its first checkpoint), the run starts
    train(compose_config(*TINY, "trainer.sample_every=0", "generator.hidden=8", "discriminator.hidden=8"), run_dir)
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"] == 4
    assert not (run_dir / LOCK).exists()


def test_a_full_disk_at_a_fresh_start_leaves_no_lock_file_or_run_directory(tmp_path):
    """The pid write of the lock fails (ENOSPC): a message with the free space, exit 2, no
    traceback, and neither the lock file nor the run directory Hydra made are left."""
    run_dir = tmp_path / "outputs" / "run"
    script = textwrap.dedent("""
        import errno, os, sys
        def disk_full(fd, data, offset):
            raise OSError(errno.ENOSPC, "No space left on device")
        os.pwrite = disk_full
        from factorgan.cli.train import main
        sys.argv = ["factorgan.train", *sys.argv[1:]]
        main()
    """)
    done = subprocess.run([sys.executable, "-c", script, *TINY, f"hydra.run.dir={run_dir}"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"error: could not write {run_dir / LOCK}: No space left on device; " in done.stderr
    assert "MiB free on its disk. Nothing was trained or written; the lock file was removed." in done.stderr
    assert done.stderr.rstrip().endswith("then run the same command again.")
    assert not run_dir.exists() and (tmp_path / "outputs").is_dir()
