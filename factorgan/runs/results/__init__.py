"""A run's results file, ``metrics.json``, and how a run is evaluated."""
