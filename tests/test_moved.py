"""Module paths of earlier versions still import (factorgan.moved): stored configs'
``_target_`` paths, pickles and researchers' scripts name them."""
from __future__ import annotations

import importlib
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from factorgan.moved import MOVED
from factorgan.runs.rundir.compat import today_target

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_imports_the_objects_that_live_there_now(old):
    module = importlib.import_module(old)
    news = MOVED[old] if isinstance(MOVED[old], tuple) else (MOVED[old],)
    for new in map(importlib.import_module, news):
        public = [k for k in vars(new) if not k.startswith("_")]
        assert public and all(getattr(module, k) is getattr(new, k) for k in public if k in vars(module))
    if isinstance(MOVED[old], str):
        assert module is importlib.import_module(MOVED[old])
        assert module.__spec__.name == MOVED[old]  # the module keeps its own spec


def test_old_paths_work_in_every_import_form_and_in_pickles():
    from factorgan.data import mnist  # noqa: F401
    from factorgan.data.formats import mnist as today
    from factorgan.data.mnist import paired_mnist
    from factorgan.runs.directory import RunError, plan_run, read_config, run_path  # noqa: F401
    from factorgan.runs.metrics import read_metrics  # noqa: F401
    from factorgan.data.synthetic import random_parts  # today's package; its old function

    assert paired_mnist is today.paired_mnist and mnist is today
    assert pickle.loads(pickle.dumps(today.paired_mnist)) is paired_mnist
    assert random_parts.__module__ == "factorgan.data.synthetic.random_data"


def test_every_configured_target_resolves_and_names_todays_module():
    configs = [p for p in (ROOT / "factorgan" / "configs").rglob("*.yaml")]
    found = []
    for path in configs:
        found += [line.split(":", 1)[1].strip() for line in path.read_text().splitlines()
                  if line.strip().startswith("_target_:") and "factorgan." in line]
    assert found
    for target in found:
        module, _, attr = target.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), target
        assert today_target(target) == target, target  # configs name today's paths


def test_a_fresh_process_loads_an_old_path_first():
    """The finder is installed by ``import factorgan``, which any old path imports first."""
    code = "import factorgan.runs.metrics as m, sys; print(m.__name__, 'factorgan.runs.metrics' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["factorgan.runs.results.metrics_file", "True"]
