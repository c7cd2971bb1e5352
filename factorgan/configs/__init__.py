"""Hydra configs shipped with the package (``configs/`` at the repository root links here).

Importing this package registers the configs' resolver (``${run_path:...}`` in
``train.yaml``): Hydra imports it to compose these configs (``initialize_config_module``),
and the command line imports it before ``@hydra.main`` reads them from their folder.
"""
from omegaconf import OmegaConf

from factorgan.runs.rundir.folder import run_path

OmegaConf.register_new_resolver("run_path", run_path, replace=True)
