"""``python -m factorgan.evaluate run=<run dir> ...``: see :mod:`factorgan.cli.evaluate`."""
from factorgan.cli.common import main_guard
from factorgan.cli.evaluate import main

if __name__ == "__main__":
    main_guard(main)
