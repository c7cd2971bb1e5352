"""Generated data: random parts of any shape (:func:`random_parts`), and small synthetic
Cityscapes (:mod:`~factorgan.data.synthetic.cityscapes`) and MUSDB18
(:mod:`~factorgan.data.synthetic.musdb`) files in the real formats, for tests and demos."""
from factorgan.data.synthetic.random_data import random_parts

__all__ = ["random_parts"]
