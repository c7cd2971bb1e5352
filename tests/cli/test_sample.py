"""``python -m factorgan.sample``: seeded samples of a tiny run in an ``.npz``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY, compose_config
from factorgan.cli import sample
from factorgan.samples.generate import draw_samples
from factorgan.build import load_run
from factorgan.cli.common import main_guard
from factorgan.errors import CliError
from factorgan.data.in_memory import as_float
from factorgan.cli.train import train

REPO = Path(__file__).resolve().parents[2]
SMALL = ["generator.hidden=16", "discriminator.hidden=16"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("sample") / "run"
    train(compose_config(*TINY, *SMALL), run_dir)
    return run_dir


def load(path: Path) -> np.ndarray:
    with np.load(path) as f:
        return f["samples"]


def test_samples_are_seeded_float32_in_unit_range(run, tmp_path):
    a = load(sample.main([f"run={run}", "n=7", f"out={tmp_path / 'a.npz'}"]))
    assert a.shape == (7, 1, 56, 28) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0
    assert (tmp_path / "a.png").exists()
    b = load(sample.main([f"run={run}", "n=7", f"out={tmp_path / 'b.npz'}", f"seed={sample.DEFAULT_SEED}"]))
    np.testing.assert_array_equal(a, b)  # the same call gives the same samples
    c = load(sample.main([f"run={run}", "n=7", f"out={tmp_path / 'c.npz'}", "seed=5"]))
    assert np.abs(a - c).max() > 1e-3


def test_samples_come_from_the_checkpoint_and_do_not_depend_on_batching(run, tmp_path):
    trainer, name = load_run(run, "last")
    assert name == "last.pt" and trainer.step == 4
    whole = draw_samples(trainer.G, trainer.data, 9)
    torch.testing.assert_close(draw_samples(trainer.G, trainer.data, 9, batch_size=4)[:4], whole[:4])
    # The generator's own output for the first noise batch, computed by hand.
    z = torch.rand(9, 50, generator=torch.Generator().manual_seed(sample.DEFAULT_SEED)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(trainer.G(z), whole)


def test_an_existing_file_is_kept_unless_overwrite(run, tmp_path):
    out = tmp_path / "s.npz"
    sample.main([f"run={run}", "n=2", f"out={out}"])
    with pytest.raises(CliError, match="overwrite=true"):
        sample.main([f"run={run}", "n=3", f"out={out}"])
    assert load(out).shape[0] == 2
    sample.main([f"run={run}", "n=3", f"out={out}", "overwrite=true"])
    assert load(out).shape[0] == 3
    with pytest.raises(CliError, match=r"\.npz"):
        sample.main([f"run={run}", f"out={tmp_path / 's.txt'}"])


def test_conditional_runs_keep_their_test_inputs(tmp_path):
    train(compose_config(*TINY, *SMALL, "dataset.conditional=true"), tmp_path / "r")
    trainer, _ = load_run(tmp_path / "r")
    x = draw_samples(trainer.G, trainer.data, 5)
    torch.testing.assert_close(x[:, :, :28], as_float(trainer.data.test[:5, :, :28]))


def test_command_line(run, tmp_path, capsys):
    out = tmp_path / "cli.npz"
    done = subprocess.run([sys.executable, "-m", "factorgan.sample", f"run={run}", "n=3", f"out={out}"],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert load(out).shape == (3, 1, 56, 28)
    with pytest.raises(SystemExit) as exit_:
        main_guard(sample.main, [f"run={run}", "checkpoint=nope"])
    assert exit_.value.code == 2 and "available: last.pt" in capsys.readouterr().err


def test_a_damaged_config_yaml_falls_back_to_the_checkpoints_config(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    (copy / "config.yaml").write_text("model: {name: factorgan\n  generator: [")  # cut off mid-write
    capsys.readouterr()
    a = load(sample.main([f"run={copy}", "n=4", f"out={tmp_path / 'a.npz'}"]))
    err = capsys.readouterr().err
    assert f"{copy / 'config.yaml'} is damaged" in err and "config saved in" in err and "last.pt instead" in err
    np.testing.assert_array_equal(a, load(sample.main([f"run={run}", "n=4", f"out={tmp_path / 'b.npz'}"])))
    # with the checkpoint damaged too there is nothing to fall back on: a clear error
    last = copy / "checkpoints" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(SystemExit) as exit_:
        main_guard(sample.main, [f"run={copy}", f"out={tmp_path / 'c.npz'}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"cannot read checkpoint {last}" in err and "Traceback" not in err


def test_a_cut_off_config_yaml_is_noticed(run, tmp_path, capsys):
    import shutil

    copy = Path(shutil.copytree(run, tmp_path / "run"))
    (copy / "config.yaml").write_text((copy / "config.yaml").read_text()[:300])  # valid YAML, keys missing
    capsys.readouterr()
    a = load(sample.main([f"run={copy}", "n=4", f"out={tmp_path / 'a.npz'}"]))
    err = capsys.readouterr().err
    assert f"{copy / 'config.yaml'} does not match the run's checkpoint (" in err and "keys missing" in err
    np.testing.assert_array_equal(a, load(sample.main([f"run={run}", "n=4", f"out={tmp_path / 'b.npz'}"])))


@pytest.mark.parametrize("which", ["npz", "png"])
def test_a_full_disk_leaves_no_partial_file_and_says_so(run, tmp_path, capsys, monkeypatch, which):
    import errno
    import os

    out = tmp_path / "s.npz"
    real_fsync, calls = os.fsync, []

    def disk_full_at(fd):  # the npz is the first file written, its preview the second
        calls.append(fd)
        if len(calls) == (1 if which == "npz" else 2):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", disk_full_at)
    with pytest.raises(SystemExit) as exit_:
        main_guard(sample.main, [f"run={run}", "n=8", f"out={out}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err
    target = out if which == "npz" else out.with_suffix(".png")
    assert f"error: could not write {target}: No space left on device; " in err and "MiB free on its disk" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if which == "npz" else ["s.npz"])
    if which == "png":
        assert "The samples are in" in err and load(out).shape == (8, 1, 56, 28)
