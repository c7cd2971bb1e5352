"""TensorBoard's writer on a full disk: the run stops with the checkpoint write's kind of
message (what failed, free space, what is intact, how to go on), no traceback from the
writer's thread or the loop, and resumes once there is space."""
from __future__ import annotations

import errno
import subprocess
import sys
import textwrap

import pytest

from conftest import TINY
from factorgan.runs import checkpoint
from factorgan.errors import RunError
from factorgan.runs.tensorboard.events import RunWriter

# pytest's own thread hook reports the writer thread's error (the command line's is quiet)
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
# After `ok` writes of event records, every write fails as on a full disk (in the writer's
# own thread, where SummaryWriter writes).
FULL_AFTER = """
import errno, sys
from tensorboard.summary.writer import record_writer
real, calls = record_writer.RecordWriter.write, [0]
def write(self, data):
    calls[0] += 1
    if calls[0] > {ok}:
        raise OSError(errno.ENOSPC, "No space left on device")
    return real(self, data)
record_writer.RecordWriter.write = write
"""


def test_a_failed_event_write_is_a_run_error(tmp_path, monkeypatch):
    from tensorboard.summary.writer import record_writer

    writer = RunWriter(tmp_path / "tb")
    writer.add_scalar("loss/g", 1.0, 1)
    writer.flush()

    def disk_full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(record_writer.RecordWriter, "write", disk_full)
    with pytest.raises(RunError) as err:
        writer.add_scalar("loss/g", 2.0, 2)
        writer.flush()
    text = str(err.value)
    assert text.startswith(f"could not write {tmp_path / 'tb'}: No space left on device; ")
    assert "MiB free on its disk. The run's checkpoints are intact" in text
    assert text.endswith("then continue from it: the same command with resume=true (a sweep: run it again).")


def test_training_stops_with_a_message_and_resumes(tmp_path):
    run_dir = tmp_path / "run"
    args = [*TINY, "trainer.max_steps=6", f"hydra.run.dir={run_dir}"]
    # full after 30 records: past the checkpoint at step 2 (20 records), before step 4's (39)
    script = FULL_AFTER.format(ok=30) + textwrap.dedent("""
        from factorgan.cli.train import main
        sys.argv = ["factorgan.train", *sys.argv[1:]]
        main()
    """)
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Exception in thread" not in done.stderr, done.stderr
    assert f"error: could not write {run_dir / 'tb'}: No space left on device; " in done.stderr
    assert "The run's checkpoints are intact" in done.stderr
    step = checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"]
    assert step == 2
    resumed = subprocess.run([sys.executable, "-m", "factorgan.train", *args, "resume=true"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert checkpoint.load(run_dir / "checkpoints" / "last.pt")["step"] == 6
