"""CPU threads per job, so that parallel jobs do not oversubscribe the machine.

PyTorch and OpenMP start one thread per core by default. Two such processes on two cores
spin against each other (docs/performance.md: each ran many times slower than alone), so every job of
a parallel sweep limits itself to its share: ``jobs x threads <= cores``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

# Thread-pool size variables read by OpenMP, MKL and OpenBLAS in child processes.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ThreadsError(ValueError):
    """The ``threads`` setting is neither ``auto`` nor a positive integer."""


def available_cores() -> int:
    """Cores this process may run on (honours taskset and SLURM/cgroup CPU sets)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


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


def configure_threads(setting: int | str, launcher: Mapping[str, Any] | None) -> int:
    """Resolve ``threads`` for this job under ``launcher`` (None: a single run), apply
    it, and return the thread count in use. Warns when the launcher runs more jobs at
    once than there are cores."""
    cores = available_cores()
    jobs = parallel_jobs(launcher, cores)
    if jobs > cores:
        print(
            f"warning: hydra.launcher.n_jobs={jobs} runs more jobs at once than the {cores} "
            f"cores; set hydra.launcher.n_jobs={cores} or fewer to avoid oversubscription"
        )
    cpus = None if launcher is None else launcher.get("cpus_per_task")
    threads = resolve_threads(setting, cores, jobs, cpus)
    if threads is not None:
        limit_threads(threads)
    return torch.get_num_threads()
