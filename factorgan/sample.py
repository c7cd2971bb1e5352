"""``python -m factorgan.sample run=<run dir> ...``: see :mod:`factorgan.cli.sample`."""
from factorgan.cli.common import main_guard
from factorgan.cli.sample import main

if __name__ == "__main__":
    main_guard(main)
