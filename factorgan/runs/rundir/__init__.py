"""The run directory: its path, ``config.yaml``, and runs of earlier versions read in today's form."""
