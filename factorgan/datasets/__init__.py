"""Datasets: in-memory joint samples with the paired / unpaired split FactorGAN needs."""
from factorgan.datasets.base import DatasetError, PairedDataset

__all__ = ["DatasetError", "PairedDataset"]
