"""Training data, by role:

- the interface everything reads data through (:mod:`~factorgan.data.interface`:
  ``TrainingData``) and its general implementation, pools of each part's observations
  (:mod:`~factorgan.data.pools`: ``PooledData``), with the constructor for complete
  samples in memory (:mod:`~factorgan.data.in_memory`: ``InMemoryData``);
- :mod:`~factorgan.data.formats`: readers of data on disk (MNIST and the datasets made
  from it, pix2pix-aligned image pairs, Cityscapes, image folders, arrays, MUSDB18);
- :mod:`~factorgan.data.synthetic`: generated data (random parts of any shape; small
  synthetic Cityscapes and MUSDB18 files in the real formats, for tests and demos).

The readers' earlier paths (``factorgan.data.mnist``, ...) still import: :mod:`factorgan.moved`.
"""
