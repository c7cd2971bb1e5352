"""Module paths of earlier versions, which still import.

A run's ``config.yaml`` names its objects by module path (``_target_``), and researchers'
own scripts import the modules they used; when a module moves, its old path stays in
:data:`MOVED`. ``import factorgan`` installs :class:`MovedModules`, which answers an
import of an old path with the module that lives there now (the same module object, so
``factorgan.data.mnist.paired_mnist is factorgan.data.formats.mnist.paired_mnist``).
It is asked first, and only about the paths in :data:`MOVED` (so a submodule of a renamed
package is the module that lives there now, never a second copy of it). (Stored configs are also
rewritten to today's paths when read: :mod:`factorgan.runs.rundir.compat`.)

An old module whose contents now live in several modules maps to a tuple of them: the
old path then imports a module holding every public name of those.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Sequence

_FOLDER = "factorgan.runs.rundir.folder"
_POLICY = "factorgan.runs.resume.policy"
_CONFIG_FILE = "factorgan.runs.rundir.config_file"

# old module path -> today's module (or the modules its names went to)
MOVED: dict[str, str | tuple[str, ...]] = {
    # runs/ split by job (0.2.0)
    "factorgan.runs.directory": (_FOLDER, _POLICY, _CONFIG_FILE),
    "factorgan.runs.run_config": _CONFIG_FILE,
    "factorgan.runs.compat": "factorgan.runs.rundir.compat",
    "factorgan.runs.init": "factorgan.runs.resume.init_from",
    "factorgan.runs.metrics": "factorgan.runs.results.metrics_file",
    "factorgan.runs.evaluation": "factorgan.runs.results.evaluation",
    "factorgan.runs.lock": "factorgan.runs.process.lock",
    "factorgan.runs.signals": "factorgan.runs.process.signals",
    "factorgan.runs.threads": "factorgan.runs.process.threads",
    "factorgan.runs.console_log": "factorgan.runs.process.console_log",
    "factorgan.runs.events": "factorgan.runs.tensorboard.events",
    "factorgan.runs.scalars": "factorgan.runs.tensorboard.scalars",
    # data/ split by role (0.2.0)
    **{f"factorgan.data.{name}": f"factorgan.data.formats.{name}" for name in (
        "aligned", "arrays", "cityscapes", "cityscapes_labels", "image_folders", "image_pairs",
        "mnist", "mnist_pools", "musdb", "musdb_cache", "musdb_songs", "stacked_mnist")},
    "factorgan.data.synthetic_cityscapes": "factorgan.data.synthetic.cityscapes",
    "factorgan.data.synthetic_musdb": "factorgan.data.synthetic.musdb",
    # factorgan.data.synthetic (random_parts) is today's package of the same name
    # experiments/ renamed evaluators/ (0.2.0): it holds each experiment's evaluator
    "factorgan.experiments": "factorgan.evaluators",
    **{f"factorgan.experiments.{name}": f"factorgan.evaluators.{name}" for name in (
        "arrays", "image_pairs", "musdb", "paired_mnist", "segmentation", "stacked_mnist")},
}


def _merged(name: str, sources: Sequence[str]) -> types.ModuleType:
    module = types.ModuleType(name, f"Earlier home of the names now in {', '.join(sources)}.")
    for source in sources:
        found = importlib.import_module(source)
        module.__dict__.update({k: v for k, v in vars(found).items() if not k.startswith("_")})
    return module


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path (:data:`MOVED`) as the module that lives there now."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        new = MOVED[spec.name]
        if isinstance(new, tuple):
            return _merged(spec.name, new)
        module = importlib.import_module(new)
        spec.loader_state = module.__spec__  # the import machinery sets __spec__ to ours
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        own = module.__spec__.loader_state if module.__spec__ is not None else None
        if own is not None:
            module.__spec__ = own  # the module keeps its own name and spec


def install() -> None:
    """Answer imports of old module paths (before the other finders, which would load a
    renamed package's submodules a second time); once per process."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.insert(0, MovedModules())
