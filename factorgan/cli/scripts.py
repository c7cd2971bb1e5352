"""Console-script entry points (``[project.scripts]`` in pyproject.toml).

``factorgan-train`` is :func:`factorgan.cli.train.main` itself (Hydra's entry point);
the others wrap the ``python -m`` modules' mains. Console scripts do not put the current
directory on the import path, so a folder named ``factorgan`` there cannot shadow the
package.
"""
from __future__ import annotations

import sys


def evaluate() -> None:
    """``factorgan-evaluate run=<run dir> ...`` = ``python -m factorgan.evaluate``."""
    from factorgan.cli.common import main_guard
    from factorgan.cli.evaluate import main

    main_guard(main)


def sample() -> None:
    """``factorgan-sample run=<run dir> ...`` = ``python -m factorgan.sample``."""
    from factorgan.cli.common import main_guard
    from factorgan.cli.sample import main

    main_guard(main)


def results() -> None:
    """``factorgan-results <dir> ...`` = ``python -m factorgan.results``."""
    from factorgan.cli.results import main

    sys.exit(main())
