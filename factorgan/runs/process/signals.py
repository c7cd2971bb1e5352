"""Stopping a run cleanly on Ctrl-C, SIGTERM and a cluster's pre-timeout signal.

``python -m factorgan.train`` calls :func:`install`; from then on SIGINT, SIGTERM, SIGUSR1
and SIGUSR2 (SLURM's ``--signal``; submitit sends ``SUBMITIT_PREEMPT_SIGNAL``, USR2 by
default) no longer kill the process. Inside the training loop (:func:`deferred`) the
first one only sets a flag: the loop finishes the current step, writes
``checkpoints/last.pt`` and raises :class:`Interrupted`. A second signal raises
:class:`Interrupted` at once (even mid-save: :func:`factorgan.runs.checkpoint.save_atomic`
keeps the previous file), a third one kills the process. Outside the loop (building the
data, evaluating) the first signal raises :class:`Interrupted` at once.

:func:`finish` prints what was saved and how to continue, then exits with ``128 + signal``
(130 for Ctrl-C, 143 for SIGTERM), or hands the signal to the handler installed before
ours when that is submitit's, which requeues the job: the requeued job resumes from
``last.pt`` (``on_existing=auto`` in a multirun).
"""
from __future__ import annotations

import contextlib
import os
import shlex
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator, NoReturn, Sequence

from factorgan.runs import checkpoint

STOP_SIGNALS: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)
SUBMITIT_REQUEUE = "checkpoint_and_try_requeue"  # submitit's handler of its pre-timeout signal


class Interrupted(BaseException):
    """A stop signal ended the run. A BaseException, like KeyboardInterrupt: ``except
    Exception`` (Hydra marks such a job failed and goes on with the sweep) lets it pass.

    Args:
        signum: the signal.
        step: the step saved in ``checkpoint``; None when the signal came outside the
            training loop or aborted a step or a save (``last.pt`` then holds its last save).
        checkpoint: the checkpoint written for this stop.
        aborted: a second signal stopped the run at once, without saving.
    """

    def __init__(self, signum: int, step: int | None = None, checkpoint: Path | None = None,
                 aborted: bool = False) -> None:
        super().__init__(f"stopped by {signal_name(signum)}")
        self.signum, self.step, self.checkpoint, self.aborted = signum, step, checkpoint, aborted

    @property
    def exit_code(self) -> int:
        """The shell's convention for a process ended by a signal: 128 + its number."""
        return 128 + self.signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


@dataclass
class StopState:
    """What the handlers have seen since :func:`install`."""

    signum: int | None = None  # the first stop signal, while the loop finishes its step
    deferring: bool = False  # inside the training loop: the first signal only sets the flag
    raised: bool = False  # Interrupted is on its way: a further signal kills at once
    previous: dict[int, Any] = field(default_factory=dict)  # handlers before ours

    @property
    def requested(self) -> bool:
        """A stop signal came: end the loop after the current step."""
        return self.signum is not None

    def stop(self, step: int, saved: Path | None) -> Interrupted:
        """The exception that ends the loop after it saved ``step`` to ``saved``."""
        assert self.signum is not None
        self.raised = True
        return Interrupted(self.signum, step, saved)


_STATE = StopState()


def _write(message: str) -> None:
    # os.write to the process's stderr, not print: a handler runs between two bytecodes of
    # the main thread, which may be inside a write to sys.stderr (tqdm's bar), and buffered
    # writes are not reentrant.
    with contextlib.suppress(OSError):
        os.write(2, message.encode())


def _die(signum: int) -> NoReturn:
    """End the process the signal's default way (no cleanup, no traceback)."""
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    os._exit(128 + signum)  # for a signal whose default is not to end the process


def _handle(signum: int, frame: FrameType | None) -> None:
    state = _STATE
    if state.raised:  # already stopping and asked again: no more waiting
        _die(signum)
    if state.deferring and state.signum is None:
        state.signum = signum
        again = "press Ctrl-C again" if signum == signal.SIGINT else f"send {signal_name(signum)} again"
        _write(f"\n{signal_name(signum)}: finishing the current step, then saving checkpoints/last.pt "
               f"({again} to stop at once without saving; the previous checkpoint is kept)\n")
        return
    aborted = state.signum is not None
    state.raised = True
    raise Interrupted(state.signum or signum, aborted=aborted)


def install(signals: Sequence[int] = STOP_SIGNALS) -> bool:
    """Stop cleanly on ``signals`` from now on (see the module's docstring); returns False
    where handlers cannot be installed (outside the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return False
    restore()
    for signum in signals:
        _STATE.previous[signum] = signal.signal(signum, _handle)
    return True


def restore() -> None:
    """Put back the handlers :func:`install` replaced, and forget any stop request."""
    global _STATE
    if threading.current_thread() is threading.main_thread():
        for signum, handler in _STATE.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    _STATE = StopState()


@contextlib.contextmanager
def deferred() -> Iterator[StopState]:
    """Within the block, a first stop signal only sets ``requested`` on the yielded state:
    the caller finishes its step, saves and raises :meth:`StopState.stop`. Harmless when
    :func:`install` was not called (nothing sets the flag, Ctrl-C raises KeyboardInterrupt)."""
    state = _STATE
    state.deferring = True
    try:
        yield state
    finally:
        state.deferring = False


def _requeues(handler: Any) -> bool:
    """``handler`` is submitit's, which checkpoints the job's callable and requeues it."""
    return callable(handler) and getattr(handler, "__name__", "") == SUBMITIT_REQUEUE


def _saved_step(run_dir: Path) -> int | None:
    path = checkpoint.find(run_dir)
    if path is None:
        return None
    try:
        return int(checkpoint.load(path)["step"])
    except Exception:  # an unreadable file: say nothing about its step
        return None


def resume_command(argv: Sequence[str], resume: bool = True) -> str:
    """The command line that continues the run: ``argv`` with ``resume=true`` (without any
    ``resume=`` for a run that has no checkpoint to resume yet)."""
    args = [a for a in argv if not a.startswith(("resume=", "+resume=", "++resume="))]
    return " ".join(["python -m factorgan.train", *map(shlex.quote, args), *(["resume=true"] if resume else [])])


def describe(stop: Interrupted, run_dir: Path, multirun: bool, requeue: bool = False,
             argv: Sequence[str] | None = None) -> str:
    """What was saved, and how the run goes on."""
    name = signal_name(stop.signum)
    last = checkpoint.checkpoint_dir(run_dir) / checkpoint.LAST
    step = stop.step
    if step is not None:
        lines = [f"Stopped by {name} after step {step}: saved {stop.checkpoint or last}."]
    else:
        step = _saved_step(run_dir)
        how = ("a second signal stopped the run at once, without saving" if stop.aborted
               else "the signal came outside the training steps")
        kept = (f"{last} holds step {step}" if step is not None
                else "the run has no checkpoint yet: it starts from step 0")
        lines = [f"Stopped by {name} ({how}); {kept}."]
    if requeue:
        lines.append("submitit requeues this job; it resumes from that checkpoint by itself.")
    elif multirun:
        lines.append("To continue, run the same sweep again (the same command): finished runs are "
                     "skipped, unfinished ones resume from their checkpoints/last.pt.")
    else:
        command = resume_command(sys.argv[1:] if argv is None else argv, resume=step is not None)
        lines.append(("To continue: " if step is not None else "To start again: ") + command)
    return "\n".join(lines)


def finish(stop: Interrupted, run_dir: Path, multirun: bool) -> NoReturn:
    """Report ``stop`` and end the process: exit ``128 + signal``, or, for submitit's
    pre-timeout signal, let submitit requeue the job (it exits itself; it raises when the
    job may not be requeued any more, e.g. after ``max_num_timeout`` requeues)."""
    handler: Callable[[int, Any], Any] | None = _STATE.previous.get(stop.signum)
    requeue = _requeues(handler)
    print(describe(stop, run_dir, multirun, requeue), file=sys.stderr, flush=True)
    restore()
    if requeue:
        assert handler is not None
        handler(stop.signum, None)
    sys.exit(stop.exit_code)
