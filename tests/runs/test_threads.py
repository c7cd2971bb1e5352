"""Per-job thread limits: jobs x threads <= cores."""
from __future__ import annotations

import os

import pytest
import torch

from factorgan.runs.process import threads
from factorgan.runs.process.threads import ThreadsError, parallel_jobs, resolve_threads


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


def fake_cgroup(root, **files):
    for name, text in files.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize("files, cpus", [
    ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2: --cpus=1.5
    ({"cpu.max": "max 100000\n"}, None),
    ({"cpu__cpu.cfs_quota_us": "50000\n", "cpu__cpu.cfs_period_us": "100000\n"}, 0.5),  # cgroup v1
    ({"cpu__cpu.cfs_quota_us": "-1\n", "cpu__cpu.cfs_period_us": "100000\n"}, None),
    ({}, None),
])
def test_the_cgroup_cpu_quota_is_read_from_v2_and_v1_files(tmp_path, files, cpus):
    assert threads.cgroup_cpu_limit(fake_cgroup(tmp_path, **files)) == cpus


def test_available_cores_honour_a_cpu_quota_below_the_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "CGROUP_ROOT", fake_cgroup(tmp_path, **{"cpu.max": "100000 100000"}))
    assert threads.available_cores() == 1
    (tmp_path / "cpu.max").write_text("10000000 100000")  # 100 CPUs: the affinity decides
    assert threads.available_cores() == len(os.sched_getaffinity(0))


def test_a_single_run_under_a_quota_uses_the_quotas_cores(keep_threads, monkeypatch, tmp_path):
    monkeypatch.delenv("OMP_NUM_THREADS")
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "CGROUP_ROOT", fake_cgroup(tmp_path, **{"cpu.max": "100000 100000"}))
    assert threads.configure_threads("auto", None) == 1 and os.environ["OMP_NUM_THREADS"] == "1"


def test_a_busy_machine_is_noted_once_with_the_advice(monkeypatch, capsys):
    monkeypatch.setattr(threads, "_load_warned", False)
    assert threads.warn_if_busy(cores=2, threads=1, load=7.5) is None  # one thread: nothing to advise
    assert threads.warn_if_busy(cores=2, threads=2, load=1.5) is None  # a quiet machine
    note = threads.warn_if_busy(cores=2, threads=2, load=7.5)
    assert note is not None and note.startswith("note: the load average is 7.5 on the 2 CPUs this process may use")
    assert "threads=1 runs faster on a busy machine" in note and note in capsys.readouterr().out
    assert threads.warn_if_busy(cores=2, threads=2, load=9.0) is None  # once per process


def test_configure_threads_notes_a_busy_machine(keep_threads, monkeypatch, capsys):
    monkeypatch.setattr(threads, "_load_warned", False)
    monkeypatch.setattr(threads, "available_cores", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (8.0, 8.0, 8.0))
    threads.configure_threads(2, None)
    assert "note: the load average is 8.0 on the 2 CPUs" in capsys.readouterr().out


def test_train_applies_threads_and_gives_the_caller_its_count_back(keep_threads, monkeypatch, tmp_path):
    """factorgan.train(cfg) trains with the run's threads (a resume is bit-exact only with
    the same count), then restores the caller's thread count and variables."""
    import factorgan
    from conftest import TINY, compose_config
    from factorgan.training.loop import Trainer

    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    seen = []
    monkeypatch.setattr(Trainer, "fit", lambda self: seen.append((torch.get_num_threads(), os.environ["OMP_NUM_THREADS"])))
    factorgan.train(compose_config(*TINY, "model=gan", "paired=10", "threads=1"), tmp_path / "run")
    assert seen == [(1, "1")]
    assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"
    factorgan.train(compose_config(*TINY, "model=gan", "paired=10", "name=auto"), tmp_path / "auto")
    assert seen[1] == (2, "2")  # threads=auto keeps the caller's count
