"""CPU threads per job, so that parallel jobs do not oversubscribe the machine.

PyTorch and OpenMP start one thread per core by default. Two such processes on two cores
spin against each other (docs/performance.md: each ran many times slower than alone), so every job of
a parallel sweep limits itself to its share: ``jobs x threads <= cores``.
"""
from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from factorgan.errors import ThreadsError  # noqa: F401 (here as before)

# Thread-pool size variables read by OpenMP, MKL and OpenBLAS in child processes.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


# Where the cgroup CPU quota is read (a container's or a SLURM job's own cgroup is
# mounted here); tests point it at a folder of fake files.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path | None = None) -> float | None:
    """The CPUs a cgroup CPU quota allows this process (quota / period, e.g. 1.5), or None
    without a quota: cgroup v2 ``cpu.max`` (``"150000 100000"``, ``"max 100000"``), else
    cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` (quota -1: none)."""
    root = CGROUP_ROOT if root is None else Path(root)
    with contextlib.suppress(OSError, ValueError):  # no (readable) cgroup v2 file: v1 below
        quota, _, period = (root / "cpu.max").read_text().strip().partition(" ")
        return None if quota == "max" else int(quota) / int(period or 100000)
    for folder in (root / "cpu", root / "cpu,cpuacct", root):
        try:
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    return None


def available_cores() -> int:
    """Cores this process may use: its CPU affinity (taskset, SLURM/cgroup CPU sets),
    capped by a cgroup CPU quota (containers: ``--cpus=1.5`` gives 2)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return cores


def parallel_jobs(launcher: Mapping[str, Any] | None, cores: int) -> int:
    """How many jobs the Hydra launcher runs at once on this machine.

    joblib's ``n_jobs`` (negative values count back from the cores, as joblib does: -1
    is every core); 1 for everything else (the basic launcher runs jobs one after the
    other; submitit/SLURM jobs get their own ``cpus_per_task``).
    """
    n_jobs = None if launcher is None else launcher.get("n_jobs")
    if n_jobs is None:
        return 1
    n_jobs = int(n_jobs)
    if n_jobs < 0:
        n_jobs = cores + 1 + n_jobs
    return max(1, n_jobs)


def resolve_threads(
    setting: int | str, cores: int, jobs: int, cpus_per_task: int | None = None
) -> int | None:
    """The thread count for one job, or None to keep PyTorch's default.

    ``auto``: ``cores // jobs`` (at least 1) when several jobs share the machine, the
    job's ``cpus_per_task`` under submitit, else None: a job alone keeps PyTorch's default,
    which honours ``OMP_NUM_THREADS``. An integer is taken as it is.
    """
    if setting == "auto":
        if jobs > 1:
            return max(1, cores // jobs)
        return int(cpus_per_task) if cpus_per_task else None
    try:
        threads = int(setting)
    except (TypeError, ValueError):
        threads = 0
    if threads < 1:
        raise ThreadsError(f"threads={setting!r} must be 'auto' or an integer ≥ 1")
    return threads


def limit_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads here and in any child process this job starts."""
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(threads)
    torch.set_num_threads(threads)


_load_warned = False  # the busy-machine note is printed once per process


def warn_if_busy(cores: int, threads: int, load: float | None = None) -> str | None:
    """When the 1-minute load average exceeds the ``cores`` this process may use and it
    runs more than one thread, say once (per process) that ``threads=1`` is faster: on
    a busy machine PyTorch's threads wait on each other (docs/performance.md: 500 steps
    took 19 s with 1 thread, about 10 min with 2). Returns the note printed."""
    global _load_warned
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # not on this platform
            return None
    if _load_warned or threads <= 1 or load <= cores:
        return None
    _load_warned = True
    note = (
        f"note: the load average is {load:.1f} on the {cores} CPU{'s' if cores > 1 else ''} this process may "
        f"use: other processes are busy on them, and {threads} threads then wait on each other "
        "(500 PairedMNIST steps: 19 s with 1 thread, about 10 min with 2; docs/performance.md); "
        "threads=1 runs faster on a busy machine"
    )
    print(note, flush=True)
    return note


@contextlib.contextmanager
def threads_for_run(setting: int | str) -> Iterator[int]:
    """Apply a run's ``threads`` setting while it trains in this process (``factorgan.train(cfg)``,
    the command line too), then give the process back its thread count and thread
    variables. ``auto`` keeps what the process has (the command line's share of the
    machine). Yields the thread count in use."""
    before = torch.get_num_threads()
    env = {var: os.environ.get(var) for var in THREAD_ENV_VARS}
    n = resolve_threads(setting, available_cores(), jobs=1)
    if n is not None and (n != before or any(os.environ.get(v) != str(n) for v in THREAD_ENV_VARS)):
        limit_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        for var, value in env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def configure_threads(setting: int | str, launcher: Mapping[str, Any] | None) -> int:
    """Resolve ``threads`` for this job under ``launcher`` (None: a single run), apply
    it, and return the thread count in use. Warns when the launcher runs more jobs at
    once than there are cores; a single run under a CPU quota smaller than PyTorch's
    default uses the quota's cores; notes a busy machine (:func:`warn_if_busy`)."""
    cores = available_cores()
    jobs = parallel_jobs(launcher, cores)
    if jobs > cores:
        print(
            f"warning: hydra.launcher.n_jobs={jobs} runs more jobs at once than the {cores} "
            f"cores; set hydra.launcher.n_jobs={cores} or fewer to avoid oversubscription"
        )
    cpus = None if launcher is None else launcher.get("cpus_per_task")
    threads = resolve_threads(setting, cores, jobs, cpus)
    if threads is None and not os.environ.get("OMP_NUM_THREADS") and torch.get_num_threads() > cores:
        threads = cores  # a CPU quota (container) below the cores PyTorch sees
    if threads is not None:
        limit_threads(threads)
    warn_if_busy(cores, torch.get_num_threads())
    return torch.get_num_threads()
