"""train.log: the run's console output, written once the run has started."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from factorgan.runs.process.console_log import LOG, tee


def test_nothing_is_written_for_a_run_that_never_started(tmp_path: Path) -> None:
    with tee(tmp_path):
        print("CPU threads: 1")
        print("error: refused", file=sys.stderr)
    assert not (tmp_path / LOG).exists()


def test_output_before_and_after_the_start_is_kept_in_order(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with tee(tmp_path):
        print("CPU threads: 1")
        (tmp_path / "config.yaml").write_text("seed: 0\n")
        print("Run directory: x")
        sys.stderr.write("\rtrain:  50%|#####     |")  # a progress bar redraw: console only
        sys.stderr.write("\n")  # and its closing line break
        print("warning: slow", file=sys.stderr)
    lines = (tmp_path / LOG).read_text().splitlines()
    assert lines[0].startswith("==== ")
    assert lines[1:] == ["CPU threads: 1", "Run directory: x", "warning: slow"]
    seen = capsys.readouterr()
    assert "Run directory: x" in seen.out and "50%" in seen.err  # the console still sees everything


def test_a_resume_appends_and_a_crash_logs_its_traceback(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    with tee(tmp_path):
        print("first")
    with pytest.raises(RuntimeError):
        with tee(tmp_path):
            print("second")
            raise RuntimeError("boom")
    text = (tmp_path / LOG).read_text()
    assert text.count("==== ") == 2
    assert text.index("first") < text.index("second") < text.index("RuntimeError: boom")
    assert sys.stdout.__class__.__name__ != "_Tee"  # streams restored
