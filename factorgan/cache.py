"""The cache folder: what factorgan computes once and keeps (decoded image folders,
MUSDB18 spectrograms, trained MNIST classifiers)."""
from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "FACTORGAN_CACHE"


def cache_folder(given: str | Path | None = None, default_sub: str = "") -> Path:
    """``given`` (a dataset's or evaluator's ``cache_dir`` setting) when set; else
    ``$FACTORGAN_CACHE/<default_sub>``, or ``~/.cache/factorgan/<default_sub>`` when that
    variable is unset or empty. ``~`` is expanded in each."""
    if given:
        return Path(given).expanduser()
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "factorgan").expanduser() / default_sub
