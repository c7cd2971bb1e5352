"""``experiment=arrays``: users' own incomplete data as an .npz with x and observed."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY, compose_config
from factorgan.cli import sample
from factorgan.cli.train import train
from factorgan.data.formats.arrays import arrays
from factorgan.data.interface import TEST, DatasetError, PairedCountError

SMALL = ["generator.hidden=16", "discriminator.hidden=16"]


def write(path, n: int = 60, seed: int = 0, **extra) -> tuple[np.ndarray, np.ndarray]:
    """Three parts of 4 values; rows 20..39 lack part 1, rows 40.. lack part 0 (NaN there)."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(n, 12)) * 5 + 2).astype(np.float32)
    observed = np.ones((n, 3), dtype=bool)
    observed[20:40, 1] = False
    observed[40:, 0] = False
    x[20:40, 4:8] = np.nan
    x[40:, 0:4] = np.nan
    np.savez(path, x=x, observed=observed, **extra)
    return x, observed


def test_pools_follow_observed_and_values_map_to_unit_range(tmp_path):
    x, observed = write(tmp_path / "d.npz", x_test=np.zeros((5, 12), np.float32))
    data = arrays(str(tmp_path / "d.npz"), sizes=[4, 4, 4])
    assert data.pool_sizes() == {"complete": 20, "paired": 20, "part_0": 40, "part_1": 40, "part_2": 60}
    assert data.num_samples(TEST) == 5
    # low/high are the observed entries' range; mapping back gives the file's values.
    torch.testing.assert_close(data.low[:4], torch.from_numpy(np.nanmin(x[:40, :4], axis=0)))
    torch.testing.assert_close(data.high[4:8], torch.from_numpy(np.nanmax(x[:, 4:8], axis=0)))
    part0 = data.sample_part(0, 500, torch.Generator().manual_seed(0))
    assert not part0.isnan().any() and 0 <= part0.min() and part0.max() <= 1
    back = data.low[:4] + (data.high[:4] - data.low[:4]) * part0
    rows = {tuple(np.round(r, 4)) for r in x[:40, :4].tolist()}
    assert {tuple(np.round(r, 4)) for r in back.tolist()} <= rows


def test_paired_is_a_count_or_all(tmp_path):
    write(tmp_path / "d.npz")
    assert arrays(str(tmp_path / "d.npz"), sizes=[4, 4, 4], paired=5).paired == 5
    assert arrays(str(tmp_path / "d.npz"), sizes=[4, 4, 4], paired="all").paired == 20
    with pytest.raises(PairedCountError, match="maximum is paired=20"):
        arrays(str(tmp_path / "d.npz"), sizes=[4, 4, 4], paired=21)
    with pytest.raises(DatasetError, match="whole number"):
        arrays(str(tmp_path / "d.npz"), sizes=[4, 4, 4], paired="abc")


def test_bad_files_get_clear_messages(tmp_path):
    with pytest.raises(DatasetError, match="(?s)does not exist.*observed"):
        arrays(str(tmp_path / "none.npz"), sizes=[4, 8])
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(DatasetError, match="junk.npz is not an .npz archive .*starts with b'not a zi'") as err:
        arrays(str(tmp_path / "junk.npz"), sizes=[4, 8])
    assert "pickled" not in str(err.value)
    np.savez(tmp_path / "nox.npz", observed=np.ones((3, 2), bool))
    with pytest.raises(DatasetError, match="no array 'x'"):
        arrays(str(tmp_path / "nox.npz"), sizes=[4, 8])
    write(tmp_path / "d.npz")
    with pytest.raises(DatasetError, match=r"'observed' must be \(N, K\) = \(60, 2\)"):
        arrays(str(tmp_path / "d.npz"), sizes=[4, 8])
    with pytest.raises(DatasetError, match="dataset.sizes"):
        arrays(str(tmp_path / "d.npz"), sizes=[4, 4, 5])
    x, observed = write(tmp_path / "e.npz")
    observed[3] = False
    np.savez(tmp_path / "e.npz", x=x, observed=observed)
    with pytest.raises(DatasetError, match="sample 3 has no part observed"):
        arrays(str(tmp_path / "e.npz"), sizes=[4, 4, 4])
    x, observed = write(tmp_path / "f.npz")
    x[7, 9] = np.nan  # part 2 of sample 7 is marked observed
    np.savez(tmp_path / "f.npz", x=x, observed=observed)
    with pytest.raises(DatasetError, match="sample 7 holds NaN or inf in part 2"):
        arrays(str(tmp_path / "f.npz"), sizes=[4, 4, 4])
    with pytest.raises(DatasetError, match="dataset.normalise=true"):
        arrays(str(tmp_path / "d.npz"), sizes=[4, 4, 4], normalise=False)


@pytest.mark.parametrize("model", ["factorgan", "gan", "factorgan_no_cp"])
def test_experiment_trains_and_samples_in_the_data_units(tmp_path, model):
    x, _ = write(tmp_path / "d.npz")
    run_dir = tmp_path / "run"
    cfg = compose_config("experiment=arrays", f"model={model}", f"dataset.path={tmp_path / 'd.npz'}",
                         "dataset.sizes=[4,4,4]", *TINY, *SMALL)
    assert cfg.run_path == f"arrays/{model}/pairedall_seed0"
    trainer = train(cfg, run_dir)
    assert trainer.step == 4 and (run_dir / "samples" / "latest.png").exists()
    out = sample.main([f"run={run_dir}", "n=9", f"out={tmp_path / 's.npz'}"])
    with np.load(out) as f:
        unit, data, low, high = f["samples"], f["samples_data"], f["low"], f["high"]
    assert unit.shape == (9, 12) and data.shape == (9, 12)
    preview = np.asarray(Image.open(out.with_suffix(".png")))
    assert preview.ndim == 3 and min(preview.shape[:2]) >= 300  # the heat maps, real | generated, not a strip
    np.testing.assert_allclose(data, low + (high - low) * unit, rtol=1e-6, atol=1e-5)
    assert (np.nanmin(x, axis=0) <= data + 1e-4).all() and (data <= np.nanmax(x, axis=0) + 1e-4).all()


def test_no_complete_samples_refuses_models_that_need_them_up_front(tmp_path):
    x, observed = write(tmp_path / "d.npz")
    observed[:20, 2] = False  # now no sample holds all three parts
    np.savez(tmp_path / "d.npz", x=x, observed=observed)
    common = ["experiment=arrays", f"dataset.path={tmp_path / 'd.npz'}", "dataset.sizes=[4,4,4]", *TINY, *SMALL]
    for model in ("factorgan", "gan"):
        with pytest.raises(DatasetError, match=f"model={model} needs complete samples.*factorgan_no_cp"):
            train(compose_config(*common, f"model={model}"), tmp_path / model)
        assert not (tmp_path / model / "checkpoints").exists()
    trainer = train(compose_config(*common, "model=factorgan_no_cp"), tmp_path / "no_cp")
    assert trainer.step == 4


def test_energy_evaluator_scores_against_the_held_out_samples(tmp_path):
    from factorgan.evaluators.arrays import EnergyEvaluator

    rng = np.random.default_rng(1)
    write(tmp_path / "d.npz", x_test=(rng.normal(size=(80, 12)) * 5 + 2).astype(np.float32))
    cfg = compose_config("experiment=arrays", f"dataset.path={tmp_path / 'd.npz'}", "dataset.sizes=[4,4,4]",
                         *TINY, *SMALL)
    trainer = train(cfg, tmp_path / "run")
    metrics = EnergyEvaluator(num_samples=100)(trainer.G, trainer.data)
    assert set(metrics) == {"energy", "energy_shuffled", "energy_part_0", "energy_part_1", "energy_part_2"}
    assert all(v >= 0 and np.isfinite(v) for v in metrics.values())
    write(tmp_path / "e.npz")  # no x_test: nothing to score, and it says so
    trainer.data = arrays(str(tmp_path / "e.npz"), sizes=[4, 4, 4])
    assert EnergyEvaluator()(trainer.G, trainer.data) == {}


def test_a_single_npy_array_is_named_as_such(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 12), np.float32))
    (tmp_path / "x.npy").rename(tmp_path / "x.npz")
    with pytest.raises(DatasetError, match="x.npz is a single .npy array, not an .npz archive"):
        arrays(str(tmp_path / "x.npz"), sizes=[4, 4, 4])


@pytest.mark.parametrize("sizes, says", [
    (8, "dataset.sizes=8 must be a list of the parts' lengths"),
    ("8", "dataset.sizes='8' must be a list"),
    ([4, 0, 8], r"dataset.sizes=\[4, 0, 8\] holds a part of length 0 or less"),
    ([12], r"dataset.sizes=\[12\] names fewer than 2 parts"),
])
def test_sizes_that_are_not_part_lengths_name_the_key(tmp_path, sizes, says):
    write(tmp_path / "d.npz")
    with pytest.raises(DatasetError, match=says):
        arrays(str(tmp_path / "d.npz"), sizes=sizes)


def test_empty_text_and_complex_x_are_refused_with_what_to_do(tmp_path):
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 12), np.float32), observed=np.zeros((0, 3), bool))
    with pytest.raises(DatasetError, match="x has 0 rows: there are no samples to train on"):
        arrays(str(tmp_path / "empty.npz"), sizes=[4, 4, 4])
    np.savez(tmp_path / "text.npz", x=np.full((5, 12), "a"), observed=np.ones((5, 3), bool))
    with pytest.raises(DatasetError, match=r"x must hold numbers, but its values are <U1 \(text\)"):
        arrays(str(tmp_path / "text.npz"), sizes=[4, 4, 4])
    x, observed = write(tmp_path / "c.npz")
    np.savez(tmp_path / "c.npz", x=x + 1j, observed=observed)
    with pytest.raises(DatasetError, match=r"x holds complex numbers \(complex64\).*x.real, x.imag"):
        arrays(str(tmp_path / "c.npz"), sizes=[4, 4, 4])
