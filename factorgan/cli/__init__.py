"""Command lines: train (Hydra), evaluate, sample, results; also installed as the console
scripts ``factorgan-train``, ``factorgan-evaluate``, ``factorgan-sample``, ``factorgan-results``."""
from __future__ import annotations

import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def _check_not_shadowed() -> None:
    """``python -m`` puts the current directory first on the import path, so a folder
    named ``factorgan`` there (a run directory named after the model, say) can stand in
    for the package; say so instead of failing later with an obscure ImportError."""
    top = sys.modules.get("factorgan")
    where = [Path(p).resolve() for p in getattr(top, "__path__", [])]
    if top is None or _PACKAGE in where:
        return
    message = (
        f"`factorgan` was imported from {', '.join(map(str, where)) or '?'}, a folder that is not the "
        f"package (installed at {_PACKAGE}): `python -m` looks in the current directory first. "
        "Run from another directory, rename that folder, or use the console scripts factorgan-train, "
        "factorgan-evaluate, factorgan-sample and factorgan-results, which this does not affect."
    )
    main = sys.modules.get("__main__")
    main_spec = getattr(main, "__spec__", None)
    if main_spec is not None and str(main_spec.name).startswith("factorgan."):
        raise SystemExit(f"error: {message}")
    raise ImportError(message)


_check_not_shadowed()
