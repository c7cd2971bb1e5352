"""``python -m factorgan.train [experiment=...] [key=value ...]``: see :mod:`factorgan.cli.train`.

From Python, train with the function ``factorgan.train(cfg, run_dir=None)``
(:func:`factorgan.cli.train.train`); this module is only the command line's entry point.
"""
from factorgan.cli.train import main

if __name__ == "__main__":
    main()
