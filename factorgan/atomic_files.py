"""Files written whole or not at all: a temporary file beside the target, fsync, then
an atomic rename. A crash leaves the previous file; a failed write (disk full, quota,
file size limit) removes the partial file and raises
:class:`~factorgan.errors.WriteFailed` saying which file, why, the free space, what is
intact and how to go on. Checkpoints, ``config.yaml``, ``metrics.json``, the run lock,
sample images and ``resumes.yaml`` are all written so."""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

from factorgan.errors import WriteFailed

# How a run goes on after a failed write: from its last checkpoint.
CONTINUE = "continue from it: the same command with resume=true (a sweep: run it again)"


def write_atomic(path: str | Path, write: Callable[[BinaryIO], Any], hint: str = "",
                 suffix: str | None = None, intact: str | None = None) -> Path:
    """``write(f)`` to a temporary file of a unique name in ``path``'s directory, fsync,
    then rename it to ``path``.

    A crash mid-write leaves the previous file intact: the rename is atomic. A write that
    fails (disk full, quota, file size limit) removes the temporary file and raises
    :class:`~factorgan.errors.WriteFailed` saying which file and why, the free space,
    what is intact (``intact``; default: the previous file), then ``hint``: how to go on.
    ``suffix``: the temporary file's (default :data:`TEMPORARY`).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or TEMPORARY, dir=path.parent)
    except OSError as raised:  # not even an empty file fits (no inodes left, read-only)
        raise unwritable(path, write_failure(raised) or str(raised), hint, intact) from raised
    try:
        # mkstemp makes the file private (0600); the run's files get the usual permissions,
        # so others on a shared machine can read it as they read the rest of the run.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as raised:
        if os.path.exists(tmp):
            os.unlink(tmp)
        reason = write_failure(raised)
        if reason is None:
            raise
        raise unwritable(path, reason, hint, intact) from raised
    return path


TEMPORARY = ".tmp"  # suffix of a checkpoint being written


def _umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def write_failure(err: BaseException) -> str | None:
    """Why a write failed, when ``err`` is (or wraps) an OS error: torch's zip writer
    reports a failed write as ``unexpected pos`` and keeps the OSError as its context."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError):
            return os.strerror(seen.errno) if seen.errno else str(seen)
        seen = seen.__cause__ or seen.__context__
    if isinstance(err, RuntimeError) and ("unexpected pos" in str(err) or "file write failed" in str(err)):
        return "the write was cut short (disk full or over quota?)"
    return None


def unwritable(path: Path, reason: str, hint: str = "", intact: str | None = None) -> Exception:
    """The error of a failed write of ``path``: what failed, the free space on its disk,
    what is intact (``intact``, default: the previous file or that none existed), then
    ``hint``."""
    if intact is None and path.exists():
        intact = f"The previous {path.name} is intact (only a complete file replaces it) and the partial file was removed."
    elif intact is None:
        intact = "No earlier file of this name existed; the partial file was removed."
    return WriteFailed(
        f"could not write {path}: {reason}{free_space(path.parent)}. {intact} Free some space (or raise the "
        f"quota / file size limit){', then ' + hint if hint else ''}."
    )


def free_space(folder: Path) -> str:
    """``; N MiB free on its disk`` for the disk holding ``folder`` (its nearest existing
    parent); empty when that cannot be read."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return f"; {shutil.disk_usage(folder).free / 2**20:.0f} MiB free on its disk"
    except OSError:
        return ""
