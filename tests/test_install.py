"""Install paths (docs/install.md): pyproject allows a tested range of torch, so pip keeps
the torch a machine has; CI installs the tested version through .ci/constraints.txt."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")  # Python 3.11+ (the project runs on 3.10 too)
ROOT = Path(__file__).resolve().parents[1]
TESTED = {"torch": ["2.13.0", "2.14.1"], "torchvision": ["0.28.0", "0.29.1"]}  # docs/install.md


def requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {r.name: r for r in map(Requirement, project["dependencies"])}


def constraints() -> dict[str, Requirement]:
    lines = (ROOT / ".ci" / "constraints.txt").read_text().splitlines()
    return {r.name: r for r in (Requirement(line) for line in lines if line.strip() and not line.startswith("#"))}


def test_torch_is_a_range_holding_every_tested_version_and_this_one():
    reqs = requirements()
    for name, versions in TESTED.items():
        spec = reqs[name].specifier
        assert not any(s.operator == "==" for s in spec), f"{name} is pinned to one version: {spec}"
        assert all(spec.contains(v) for v in versions), (name, spec)
        assert not spec.contains("99.0"), f"{name}: an upper bound keeps untested majors out"
    # local version labels (+cpu, +cu130) are builds of the same release
    assert reqs["torch"].specifier.contains(Version(torch.__version__).base_version)
    assert reqs["torchvision"].specifier.contains(Version(torchvision.__version__).base_version)


def test_ci_installs_the_tested_version_inside_the_range():
    reqs, pinned = requirements(), constraints()
    assert set(pinned) == {"torch", "torchvision"}
    for name, req in pinned.items():
        (spec,) = req.specifier
        assert spec.operator == "==" and reqs[name].specifier.contains(spec.version)
    assert pinned["torch"].specifier.contains("2.14.1")
    run = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -q -e ".[dev]" -c .ci/constraints.txt' in run
