"""One process per run directory: a training run holds an exclusive ``flock`` on
``<run dir>/.lock`` (which records its pid, host and start time).

The kernel releases the lock when the process ends, however it ends (SIGKILL, a crash,
a preempted job), so a killed run never blocks its own resume; a second start on a
directory in use is refused, naming the process that holds it. Evaluating or sampling a
run reads it and takes no lock. (``flock`` works between processes of one machine, and
on most network file systems between machines; the file also records the host.)
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Iterator

from factorgan import atomic_files
from factorgan.errors import RunError, RunInUse
from factorgan.runs.rundir.folder import discard_failed_start, entries

LOCK = ".lock"


def holder(path: Path) -> str:
    """Who holds the lock, as its file says (``pid 123 on host, since ...``)."""
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return text or "another process (it has not written its pid yet)"


class RunLock:
    """Exclusive lock of a run directory; a context manager (:meth:`acquire` / :meth:`release`).

    Raises :class:`~factorgan.errors.RunInUse` when another process holds it.
    """

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, record: bool = True) -> RunLock:
        """Take the lock; ``record``: write this process into the file (a full disk is a
        :class:`~factorgan.errors.WriteFailed` saying so, and leaves no lock file behind)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunInUse(
                    f"{self.run_dir} is in use: {holder(self.path)} is training it. Two processes "
                    f"on one run directory would overwrite each other's checkpoints: wait for it "
                    f"to finish (or stop it), or start a separate run with name=<tag>."
                ) from None
            except OSError as err:  # a file system without locks: train, but say so
                os.close(fd)
                print(f"warning: cannot lock {self.path} ({err}); a second process started on "
                      f"this run directory would not be noticed", file=sys.stderr)
                return self
            # The holder before us may have removed the file as it released it: then our
            # lock is on a file no one else sees; start again on the current one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self._fd = fd
        if record:
            self._record()
        return self

    def _record(self) -> None:
        """Write who holds the lock into the file; a write that fails (a full disk)
        releases the lock, removes the file and raises :class:`~factorgan.errors.WriteFailed` saying so."""
        assert self._fd is not None
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}\n".encode(), 0)
        except OSError as err:
            self.release()
            raise atomic_files.unwritable(
                self.path, os.strerror(err.errno) if err.errno else str(err),
                "run the same command again",
                intact="Nothing was trained or written; the lock file was removed.") from err

    def release(self) -> None:
        """Remove the lock file and release the lock (removing first, while still held,
        so no one locks a file that is about to disappear)."""
        if self._fd is None:
            return
        Path(self.path).unlink(missing_ok=True)
        os.close(self._fd)  # closing the last descriptor releases the flock
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def discard_unless_in_use(run_dir: str | Path, before: set[str], run_path: str | None = None,
                          lock: RunLock | None = None) -> bool:
    """Remove what a failed start wrote (:func:`~factorgan.runs.rundir.folder.discard_failed_start`)
    unless another process holds the run directory (then its files are not ours to remove).
    ``lock``: this process's lock on it, when still held; else it is taken for a moment.
    Returns whether the directory was removed."""
    if not Path(run_dir).is_dir():
        return False
    if lock is not None and lock.held:
        return discard_failed_start(Path(run_dir), before, run_path)
    lock = RunLock(run_dir)
    try:
        lock.acquire(record=False)  # held for a moment: nothing to write (the disk may be full)
    except RunError:
        return False
    try:
        return discard_failed_start(Path(run_dir), before, run_path)
    finally:
        lock.release()


@contextlib.contextmanager
def discarded_on_failure(run_dir: str | Path, run_path: str | None = None,
                         lock: RunLock | None = None) -> Iterator[None]:
    """The one clean-up of a failed start: when the body raises before the run's first
    checkpoint, what it wrote in ``run_dir`` is removed (:func:`discard_unless_in_use`;
    ``lock``: this process's lock, so the discard runs while it is held). Nested uses are
    harmless: the inner one has already removed what there was."""
    before = entries(run_dir)
    try:
        yield
    except BaseException:
        try:
            discard_unless_in_use(run_dir, before, run_path, lock)
        except OSError as err:  # never hide the failure itself
            print(f"warning: could not clean up {run_dir}: {err}", file=sys.stderr)
        raise

