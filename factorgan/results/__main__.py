"""``python -m factorgan.results <dir>``: see :mod:`factorgan.cli.results`."""
import sys

from factorgan.cli.results import main

sys.exit(main())
