"""A run's TensorBoard writer whose failed writes (a full disk, a quota) stop the run with
the checkpoint write's kind of message instead of a traceback.

``SummaryWriter`` writes its event file in a thread of its own: a failed write ends that
thread (which would print its traceback) and is raised again at the next ``add_*`` or
``flush`` of the training loop. Here that thread's error is left to the loop, which turns
it into a :class:`~factorgan.errors.WriteFailed`. TensorBoard ignores an event cut
off at the end of a file, and a resume starts a new file, so nothing half-written is read.
"""
from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any, Callable

from torch.utils.tensorboard import SummaryWriter

from factorgan import atomic_files



class RunWriter:
    """A ``SummaryWriter`` on ``log_dir`` (``purge_step`` as its own) whose every method
    raises :class:`~factorgan.errors.WriteFailed` saying what failed, the free space, what is intact and how to
    go on (``hint``) when a write fails."""

    def __init__(self, log_dir: str | Path, purge_step: int | None = None, hint: str = atomic_files.CONTINUE) -> None:
        self.log_dir, self.hint = Path(log_dir), hint
        self._writer = self._guarded(SummaryWriter)(str(log_dir), purge_step=purge_step)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._writer, name)
        return self._guarded(attr) if callable(attr) else attr

    def add_run_hparams(self, hparams: dict[str, Any], metrics: dict[str, float], step: int) -> None:
        """The HParams view's session (run settings -> ``metrics``) in this run's own event
        file, with the metrics as scalars at ``step``: TensorBoard lists the run once
        (``SummaryWriter.add_hparams`` would write a second run, ``<log dir>/<run_name>``)."""
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        def write() -> None:
            for summary in hparams_summaries(hparams, metrics):  # experiment, session start, session end
                self._writer.file_writer.add_summary(summary, step)
            for tag, value in metrics.items():
                self._writer.add_scalar(tag, value, step)

        self._guarded(write)()

    def _guarded(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except Exception as raised:
                reason = atomic_files.write_failure(raised)
                if reason is None:
                    raise
                raise atomic_files.unwritable(
                    self.log_dir, reason, self.hint,
                    intact=("The run's checkpoints are intact (checkpoints/last.pt is its last saved step); "
                            "TensorBoard keeps the events written so far."),
                ) from None
        return call


def _writer_thread(thread: threading.Thread | None) -> bool:
    return type(thread).__name__ == "_AsyncWriterThread" and type(thread).__module__.startswith("tensorboard.")


def _quiet_writer_threads(previous: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``threading.excepthook`` without the traceback of a TensorBoard writer thread's
    failed write: the training loop gets that error and says what happened."""
    def hook(args: Any) -> Any:
        if _writer_thread(args.thread) and atomic_files.write_failure(args.exc_value) is not None:
            return None
        return previous(args)
    hook.quiets_tensorboard = True  # type: ignore[attr-defined]
    return hook


if not getattr(threading.excepthook, "quiets_tensorboard", False):
    threading.excepthook = _quiet_writer_threads(threading.excepthook)
