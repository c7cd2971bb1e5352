"""Readers of datasets on disk, each returning a ``TrainingData`` (docs/extending.md)."""
