"""Hydra configs shipped with the package (``configs/`` at the repository root links here)."""
