"""factorgan: training GANs from incomplete observations with factorised discriminators."""

__version__ = "0.1.0"
