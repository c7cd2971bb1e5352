"""A run on disk and the process that trains it, by job:

- :mod:`~factorgan.runs.rundir`: the run directory: its path from the settings and a
  failed start's clean-up (``folder``), ``config.yaml`` (``config_file``), runs of earlier
  versions read in today's form (``compat``);
- :mod:`~factorgan.runs.resume`: what a start does with an existing run (``policy``:
  refuse, resume, skip; the changes a resume may make; ``resumes.yaml``), and starting a
  new run from another's weights (``init_from``);
- :mod:`~factorgan.runs.checkpoint`: the checkpoint files (atomic writes, reading, RNG state);
- :mod:`~factorgan.runs.results`: the results file ``metrics.json`` (``metrics_file``) and
  how a run is evaluated (``evaluation``);
- :mod:`~factorgan.runs.process`: the training process: its lock on the run directory,
  signals (clean stops), CPU threads, ``train.log``;
- :mod:`~factorgan.runs.tensorboard`: what goes to TensorBoard (the writer, scalar logging).

The modules' earlier paths (``factorgan.runs.directory``, ``factorgan.runs.metrics``, ...)
still import: :mod:`factorgan.moved`.
"""
