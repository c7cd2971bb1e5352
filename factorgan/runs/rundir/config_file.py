"""A run's ``config.yaml`` and the copy every checkpoint holds (``checkpoint['config']``).

The checkpoint's copy is the truth: a ``config.yaml`` that cannot be parsed, is cut off
(still valid YAML, but with keys missing) or says otherwise than the checkpoint is named
on stderr, and the checkpoint's config is used instead. Keys a resume may change
(:data:`RESUMABLE_CHANGES`, e.g. a longer
``trainer.max_steps`` written before the resumed run's first checkpoint) may differ.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from factorgan import atomic_files
from factorgan.errors import RunConfigUnreadable, RunError
from factorgan.runs import checkpoint
from factorgan.runs.rundir.compat import upgrade_config
from factorgan.runs.results.metrics_file import flatten

CONFIG = "config.yaml"
_MISSING = object()


# Keys that may change when a run is resumed (how long / how often, and where it runs).
RESUMABLE_CHANGES = (
    "resume",
    "device",
    "trainer.max_steps",
    "trainer.log_every",
    "trainer.sample_every",
    "trainer.ckpt_every",
    "trainer.snapshot_every",
    "trainer.progress",
    "trainer.cuda_graph",
    "channels_last",
    "evaluation",  # what is measured after training, not how the run trains
    "threads",  # how many CPU threads, not what is computed
    "on_existing",
    "samples",  # how sample grids are drawn, not how the run trains
    "init_from",  # where a new run's weights came from: a resume continues from its own
    "init_optimizer",
)


def resumable(key: str) -> bool:
    """Whether ``key`` (dotted) may change when a run is resumed."""
    return any(key == k or key.startswith(k + ".") for k in RESUMABLE_CHANGES)


def write_config(run_dir: Path, config: dict[str, Any]) -> Path:
    """Write the run's ``config.yaml`` (atomically), saying so when it replaces a damaged one."""
    path = Path(run_dir) / CONFIG
    if path.exists() and not isinstance(_parse(path)[0], dict):
        print(f"note: {path} was damaged; rewritten from the run's checkpoint", file=sys.stderr)
    text = yaml.safe_dump(config, sort_keys=False)
    atomic_files.write_atomic(path, lambda f: f.write(text.encode()),
                              "continue: the same command with resume=true (a sweep: run it again)")
    return path


def _parse(path: Path) -> tuple[Any, str]:
    """(the parsed file or the error that stopped it, its text)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        return err, ""
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as err:
        return err, text


def _saved_config(run_dir: Path, checkpoint_name: str) -> tuple[Path | None, Any]:
    """(the checkpoint ``checkpoint_name``, else ``last.pt``; its config, or the
    :class:`RunError` that stopped reading it); (None, None) without a checkpoint."""

    ckpt = checkpoint.find(run_dir, checkpoint_name) or checkpoint.find(run_dir)
    if ckpt is None:
        return None, None
    try:
        return ckpt, checkpoint.load(ckpt, mmap=True).get("config")  # tensors are not read
    except RunError as err:
        return ckpt, err


def mismatch(stored: dict[str, Any], saved: dict[str, Any], text: str) -> str:
    """How ``config.yaml`` (``stored``, its ``text``) falls short of the checkpoint's config
    ``saved`` (both in today's form): cut off, keys missing, values that differ outside
    what a resume may change; empty when it does not."""
    def present(key: str) -> bool:  # a resumable key's block is there (e.g. evaluation: null)
        root = next(k for k in RESUMABLE_CHANGES if key == k or key.startswith(k + "."))
        node: Any = stored
        for part in root.split("."):
            node = node.get(part, _MISSING) if isinstance(node, dict) else _MISSING
        return node is not _MISSING

    a, b = flatten(stored), flatten(saved)
    missing = [k for k in b if k not in a and not (resumable(k) and present(k))]
    differ = [k for k in sorted(set(a) | set(b)) if k not in missing and not resumable(k)
              and a.get(k, _MISSING) != b.get(k, _MISSING)]
    problems = ["cut off mid-line"] if text and not text.endswith("\n") else []
    if missing:
        problems.append(f"{len(missing)} keys missing ({_some(missing)})")
    if differ:
        problems.append("differs in " + _some([f"{k}: {a.get(k, '<missing>')!r} in the file, "
                                               f"{b.get(k, '<missing>')!r} in the checkpoint" for k in differ]))
    return "; ".join(problems)


def _some(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def read_config(run_dir: Path, checkpoint_name: str = checkpoint.LAST) -> dict[str, Any]:
    """A run's config (today's form): its ``config.yaml`` when it agrees with the copy in
    the checkpoint ``checkpoint_name`` (else ``last.pt``); when it is damaged, cut off,
    missing keys, different or missing: the checkpoint's copy, saying so on stderr.
    Raises :class:`RunError` when neither can be read."""

    path = Path(run_dir) / CONFIG
    parsed, text = _parse(path) if path.exists() else (None, "")
    ckpt, saved = _saved_config(run_dir, checkpoint_name)
    usable = isinstance(saved, dict) and bool(saved)
    if isinstance(parsed, dict):
        stored = upgrade_config(parsed)
        problem = mismatch(stored, upgrade_config(saved), text) if usable else ""
        if not problem:
            return stored
        problem = f"{path} does not match the run's checkpoint ({problem})"
    elif isinstance(parsed, Exception):
        problem = f"{path} is damaged ({str(parsed).strip().splitlines()[0] if str(parsed).strip() else type(parsed).__name__})"
    else:
        problem = f"{path} is damaged (not a mapping of settings)" if path.exists() else f"{run_dir} has no {CONFIG}"
    if ckpt is None:
        raise RunConfigUnreadable(f"{problem}, and the run has no checkpoint holding its config: it cannot be rebuilt")
    if isinstance(saved, RunError):
        raise saved
    if not usable:
        raise RunConfigUnreadable(f"{problem}, and {ckpt} holds no config")
    print(f"warning: {problem}; using the config saved in {ckpt} instead (resume=true rewrites "
          f"{CONFIG} from it)", file=sys.stderr)
    return upgrade_config(saved)
