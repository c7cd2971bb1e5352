"""Console scripts and the guard against a folder named ``factorgan`` shadowing the
package under ``python -m``."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pathlib import Path

import pytest
from hydra.utils import get_object

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_every_console_script_names_a_callable() -> None:
    assert set(SCRIPTS) == {"factorgan-train", "factorgan-evaluate", "factorgan-sample", "factorgan-results"}
    for target in SCRIPTS.values():
        assert callable(get_object(target.replace(":", ".")))


@pytest.mark.parametrize("script, says", [("factorgan-evaluate", "python -m factorgan.evaluate run="),
                                          ("factorgan-sample", "python -m factorgan.sample run="),
                                          ("factorgan-results", "usage:")])
def test_console_scripts_print_their_help(script: str, says: str) -> None:
    exe = shutil.which(script, path=str(Path(sys.executable).parent)) or shutil.which(script)
    if exe is None:
        pytest.skip(f"{script} not installed (pip install -e . installs it)")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert says in out.stdout


def shadow_dir(tmp_path: Path) -> Path:
    """A working directory holding run folders named like the package."""
    (tmp_path / "factorgan" / "samples").mkdir(parents=True)
    (tmp_path / "factorgan" / "paired100_seed0").mkdir()
    return tmp_path


def test_python_m_names_a_shadowing_folder(tmp_path: Path) -> None:
    cwd = shadow_dir(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-m", "factorgan.train", "--help"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=120)
    if out.returncode == 0:
        pytest.skip("this install is not shadowed by a namespace folder (a non-editable install)")
    assert f"{cwd / 'factorgan'}" in out.stderr
    assert "factorgan-train" in out.stderr and "Traceback" not in out.stderr


def test_console_script_is_not_shadowed(tmp_path: Path) -> None:
    exe = shutil.which("factorgan-train", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("factorgan-train not installed")
    out = subprocess.run([exe, "--help"], cwd=shadow_dir(tmp_path), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "experiment" in out.stdout
