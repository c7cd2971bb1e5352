"""A sweep's arms that never trained: Hydra records the sweep in ``multirun.yaml``; a job
whose start failed removes its run directory, so the results would otherwise not show
that it is missing."""
from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

MULTIRUN = "multirun.yaml"


def sweep_size(root: Path) -> int | None:
    """How many runs the sweep in ``root/multirun.yaml`` launched (its grid, from the
    sweep config's ``hydra.sweeper.params`` and the command line), or None when ``root``
    is not a sweep folder or its file cannot be read."""
    path = Path(root) / MULTIRUN
    if not path.is_file():
        return None
    try:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser

        saved = OmegaConf.load(path)
        params = OmegaConf.to_container(saved.hydra.sweeper.get("params") or {}, resolve=False)
        grid = {str(k): f"{k}={v}" for k, v in (params or {}).items()}  # type: ignore[union-attr]
        for override in saved.hydra.overrides.task:  # the command line replaces the sweep config's values
            grid[str(override).split("=", 1)[0].lstrip("+~")] = str(override)
        parsed = OverridesParser.create().parse_overrides(list(grid.values()))
        return sum(len(batch) for batch in BasicSweeper.split_arguments(parsed, None))
    except Exception:  # an unreadable or foreign file: say nothing rather than something wrong
        return None


def note_untrained_arms(root: Path, found: int) -> str | None:
    """Say on stderr how many of the sweep's runs never trained (no run directory left),
    and how to retry them; returns the note."""
    total = sweep_size(root)
    if total is None or found >= total:
        return None
    missing = total - found
    note = (f"note: the sweep in {root} launched {total} runs and {found} are here: {missing} never trained "
            f"(a start that failed removes its run directory; the sweep's console output says why). "
            "Run the same sweep again to retry them (finished runs are skipped).")
    print(note, file=sys.stderr)
    return note
