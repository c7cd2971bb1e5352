"""Per-job thread limits: jobs x threads <= cores."""
from __future__ import annotations

import os

import pytest
import torch

from factorgan.runs import threads
from factorgan.runs.threads import ThreadsError, parallel_jobs, resolve_threads


def test_parallel_jobs_reads_joblibs_n_jobs():
    assert parallel_jobs(None, cores=8) == 1  # a single run
    assert parallel_jobs({"_target_": "BasicLauncher"}, cores=8) == 1
    assert parallel_jobs({"n_jobs": 3}, cores=8) == 3
    assert parallel_jobs({"n_jobs": -1}, cores=8) == 8  # joblib: every core
    assert parallel_jobs({"n_jobs": -2}, cores=8) == 7
    assert parallel_jobs({"n_jobs": -16}, cores=8) == 1
    assert parallel_jobs({"cpus_per_task": 4, "n_jobs": None}, cores=8) == 1  # submitit


@pytest.mark.parametrize(
    ("setting", "cores", "jobs", "cpus", "expect"),
    [("auto", 8, 2, None, 4), ("auto", 8, 3, None, 2), ("auto", 2, 2, None, 1), ("auto", 2, 5, None, 1),
     ("auto", 8, 1, None, None), ("auto", 64, 1, 4, 4), (3, 2, 2, None, 3), ("2", 8, 1, None, 2)],
)
def test_resolve_threads(setting, cores, jobs, cpus, expect):
    got = resolve_threads(setting, cores, jobs, cpus)
    assert got == expect
    if setting == "auto" and jobs > 1:
        assert got * min(jobs, cores) <= cores


@pytest.mark.parametrize("bad", [0, -1, "many", None])
def test_bad_thread_settings_are_refused(bad):
    with pytest.raises(ThreadsError, match="'auto' or an integer"):
        resolve_threads(bad, cores=4, jobs=1)


@pytest.fixture
def keep_threads(monkeypatch):
    """Restore torch's thread count and the thread env vars after the test."""
    before = torch.get_num_threads()
    for var in threads.THREAD_ENV_VARS:
        monkeypatch.setenv(var, os.environ.get(var, "1"))
    yield
    torch.set_num_threads(before)


def test_configure_threads_applies_the_share_to_torch_and_child_processes(keep_threads, monkeypatch, capsys):
    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    assert threads.configure_threads("auto", {"n_jobs": 2}) == 2
    assert torch.get_num_threads() == 2
    assert all(os.environ[var] == "2" for var in threads.THREAD_ENV_VARS)
    assert "warning" not in capsys.readouterr().out
    assert threads.configure_threads("auto", {"n_jobs": 6}) == 1
    assert "hydra.launcher.n_jobs=4 or fewer" in capsys.readouterr().out
