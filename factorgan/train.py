"""``python -m factorgan.train [experiment=...] [key=value ...]``: see :mod:`factorgan.cli.train`."""
from factorgan.cli.train import main

if __name__ == "__main__":
    main()
