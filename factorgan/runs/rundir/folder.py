"""The run directory: its path from the settings (readable names), what is in it, and
removing what a start that failed before its first checkpoint wrote there."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

from factorgan.atomic_files import TEMPORARY
from factorgan.runs import checkpoint


def _given(value: Any) -> bool:
    return value is not None and str(value) not in ("None", "null", "")


def run_path(experiment: str, model: str, paired: Any, tags: Mapping[str, Any] | None, seed: Any, name: Any) -> str:
    """``<experiment>/<model>/paired<P>[_<tag><value>...]_seed<S>[_<name>]``: the
    experiment's ``run_tags`` in order (e.g. ``_lam0.9``); null parts are left out."""
    leaf = f"paired{paired}"
    for key, value in (tags or {}).items():
        if _given(value):
            leaf += f"_{key}{value}"
    leaf += f"_seed{seed}"
    if _given(name):
        leaf += f"_{name}"
    return f"{experiment}/{model}/{leaf}"


# ---- a start that failed before its first checkpoint leaves nothing behind ----
def entries(run_dir: Path) -> set[str]:
    """The names in ``run_dir`` now (before a start, to tell its files from others')."""
    return {p.name for p in Path(run_dir).iterdir()} if Path(run_dir).is_dir() else set()


def remove_temporaries(run_dir: str | Path) -> list[Path]:
    """Remove the partial files a killed training process left behind: checkpoints
    (``checkpoints/.last.pt.<random>.tmp``), sample images, ``config.yaml`` and
    ``resumes.yaml``. Call it only while holding the run's lock, when no write of the
    training can be under way (``metrics.json``'s are left: an evaluation takes no lock).
    Returns what was removed."""
    from factorgan.runs.resume.policy import RESUMES
    from factorgan.runs.rundir.config_file import CONFIG

    run_dir = Path(run_dir)
    stale = sorted([
        *checkpoint.checkpoint_dir(run_dir).glob(f".*{TEMPORARY}"),
        *(run_dir / "samples").glob(f".*{TEMPORARY}"),  # SampleWriter's folder
        *(p for name in (CONFIG, RESUMES) for p in run_dir.glob(f".{name}.*{TEMPORARY}")),
    ])
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def has_checkpoint(run_dir: Path) -> bool:
    return any(checkpoint.checkpoint_dir(run_dir).glob("*.pt"))


def discard_failed_start(run_dir: Path, before: set[str], run_path: str | None = None) -> bool:
    """After a start failed before writing any checkpoint: remove what it wrote, and the
    run directory when nothing else is left (an empty Hydra log and the lock file are not
    worth keeping). A directory holding a checkpoint, or files that were there before the
    start (``before``: metrics, the user's own files), is kept. The caller holds the run
    directory's lock. Returns whether the directory was removed.

    ``run_path``: the run's path under its root (``outputs/``): emptied parents within it
    are removed too.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir() or has_checkpoint(run_dir):
        return False
    for path in run_dir.iterdir():
        if path.name not in before or path.name == ".lock":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    left = list(run_dir.iterdir())
    if any(not (p.is_file() and p.suffix == ".log" and p.stat().st_size == 0) for p in left):
        return False
    for path in left:
        path.unlink()
    run_dir.rmdir()
    depth = len(Path(run_path).parts) if run_path else 0
    if depth and run_dir.parts[-depth:] == Path(run_path).parts:  # type: ignore[arg-type]
        for parent in list(run_dir.parents)[: depth - 1]:
            try:
                parent.rmdir()  # only while empty
            except OSError:
                break
    return True
