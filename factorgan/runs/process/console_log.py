"""``train.log``: the run's console output (what was printed, warnings, errors), kept in
its run directory.

Output is copied to the file once the run has started (its ``config.yaml`` exists):
a start that is refused leaves no log behind, and what was printed before that is
written first. Progress-bar redraws (chunks with a carriage return) stay on the console.
"""
from __future__ import annotations

import contextlib
import datetime
import io
import shlex
import sys
import traceback
from pathlib import Path
from typing import Callable, Iterator, TextIO

LOG = "train.log"


class _Log:
    """The file side of the tee: buffers until ``ready()``, then appends."""

    def __init__(self, path: Path, ready: Callable[[], bool]) -> None:
        self.path, self.ready = path, ready
        self.pending = io.StringIO()
        self.file: TextIO | None = None
        self.in_bar = False  # the last chunk was a progress-bar redraw

    def write(self, text: str) -> None:
        if "\r" in text:  # a progress bar redrawing itself
            self.in_bar = True
            return
        if self.in_bar and text == "\n":  # the bar's closing line break
            self.in_bar = False
            return
        self.in_bar = False
        if self.file is None:
            self.pending.write(text)
            if not self.ready():
                return
            self.file = self.path.open("a", encoding="utf-8")
            stamp = datetime.datetime.now().isoformat(timespec="seconds")
            self.file.write(f"==== {stamp}: {shlex.join(sys.argv)}\n")
            text = self.pending.getvalue()
        self.file.write(text)
        self.file.flush()

    def close(self) -> None:
        if self.file is None and self.pending.getvalue() and self.ready():
            self.write("")  # a run that started while nothing was printed since
        if self.file is not None:
            self.file.close()


class _Tee(io.TextIOBase):
    """A text stream writing to ``stream`` and to ``log``."""

    def __init__(self, stream: TextIO, log: _Log) -> None:
        self.stream, self.log = stream, log

    def write(self, text: str) -> int:
        self.stream.write(text)
        self.log.write(text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.stream, "encoding", "utf-8")


@contextlib.contextmanager
def tee(run_dir: Path, quiet: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Copy ``sys.stdout`` and ``sys.stderr`` to ``<run_dir>/train.log`` (appended, one
    header line per command) while the block runs, once ``config.yaml`` exists. An
    exception leaving the block adds its traceback to the log, unless it is one of
    ``quiet`` (failures whose message was printed already) or not an ``Exception`` (an
    interruption, an exit)."""
    log = _Log(Path(run_dir) / LOG, lambda: (Path(run_dir) / "config.yaml").exists())
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(out, log), _Tee(err, log)  # type: ignore[assignment]
    try:
        yield
    except Exception as raised:
        if log.file is not None and not isinstance(raised, quiet):  # why a run stopped belongs in its log
            log.file.write(traceback.format_exc())
        raise
    finally:
        sys.stdout, sys.stderr = out, err
        log.close()
