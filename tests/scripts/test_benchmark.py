import importlib.util
import json
from pathlib import Path

import pytest
import torch

from conftest import needs_ffmpeg
from factorgan.data.synthetic import random_parts

REPO = Path(__file__).resolve().parents[2]


def _benchmark_module():
    spec = importlib.util.spec_from_file_location("benchmark", REPO / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_data_has_the_asked_shape_and_factorisation():
    data = random_parts((1, 112, 28), dim=1, sizes=[28] * 4, paired=10, n_train=50, n_test=5)
    assert data.sample_shape == (1, 112, 28) and data.factorisation.num_parts == 4
    assert 0 <= data.train.min() and data.train.max() <= 1
    torch.testing.assert_close(data.train, random_parts((1, 112, 28), 1, [28] * 4, 10, 50, 5).train)


def test_benchmark_case_reports_rate_memory_and_split():
    bench = _benchmark_module()
    assert {"paired_mnist", "k_scaling"} <= set(bench.cases())
    overrides = bench.cases()["k_scaling"]["k_scaling/K=4"] + ["generator.hidden=16", "discriminator.hidden=16"]
    r = bench.run_case(overrides, "cpu", quick=True)
    assert r["steps_per_s"] > 0 and r["peak_memory_mb"] > 0
    assert set(r["split_ms"]) == {"gen", "data", "disc", "g_step"}
    assert all(v >= 0 for v in r["split_ms"].values())


@pytest.mark.parametrize("bad", ["nope"])
def test_benchmark_rejects_unknown_cases(bad, capsys):
    with pytest.raises(SystemExit):
        _benchmark_module().main(["--cases", bad])
    assert "unknown cases" in capsys.readouterr().err


def test_versus_times_both_variants_alternately():
    bench = _benchmark_module()
    overrides = bench.cases()["k_scaling"]["k_scaling/K=4"] + ["generator.hidden=16", "discriminator.hidden=16"]
    r = bench.run_versus(overrides, ["model.combined.stack_same_shape=false"], "cpu", quick=True)
    assert len(r["a_blocks_ms"]) == len(r["b_blocks_ms"]) == 4 and r["steps_per_block"] >= 1
    assert min(r["a_blocks_ms"]) > 0 and min(r["b_blocks_ms"]) > 0
    assert min(r["a_blocks_ms"]) <= r["a_ms"] <= max(r["a_blocks_ms"])
    assert abs(r["b_over_a"] - r["b_ms"] / r["a_ms"]) < 1e-9


def test_machine_calibration_measures_positive_rates():
    bench = _benchmark_module()
    m = bench.calibrate("cpu", quick=True)
    assert m["device"] == "cpu" and m["threads"] == torch.get_num_threads()
    for key in ("gemm_gflops", "mlp_gemm_gflops", "tiny_op_us"):
        assert 0 < m[key] < float("inf"), key
    assert f"{m['gemm_gflops']:.0f} GFLOP/s" in bench.describe_machine(m)


def test_benchmark_run_writes_the_machine_and_each_case(tmp_path, capsys):
    """The driver end to end: the calibration and the case each in a fresh process."""
    out = tmp_path / "bench.json"
    tiny = ["generator.hidden=16", "discriminator.hidden=16"]
    assert _benchmark_module().main(["--quick", "--threads", "1", "--cases", "k_scaling/K=2", "--set", *tiny,
                                     "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert set(results) == {"machine", "k_scaling/K=2"}
    assert results["machine"]["threads"] == 1 and results["k_scaling/K=2"]["threads"] == 1
    assert results["k_scaling/K=2"]["steps_per_s"] > 0 and results["k_scaling/K=2"]["overrides"][-2:] == tiny
    printed = capsys.readouterr().out
    assert printed.startswith("machine now (cpu, 1 threads)") and "k_scaling/K=2" in printed


def test_k_scaling_fit_recovers_a_line_and_draws_it(tmp_path):
    bench = _benchmark_module()
    ms = {2: 26.0, 4: 38.0, 8: 62.0}  # 14 + 6·K exactly
    results = {f"k_scaling/K={k}": {"steps_per_s": 1000 / v} for k, v in ms.items()}
    results["paired_mnist/gan"] = {"steps_per_s": 50.0}  # not a K case: ignored
    fit = bench.k_scaling_fit(results)
    assert fit["k"] == [2, 4, 8]
    torch.testing.assert_close(torch.tensor([fit["per_part_ms"], fit["intercept_ms"], fit["r2"]]),
                               torch.tensor([6.0, 14.0, 1.0]), rtol=0, atol=1e-6)
    bent = dict(results, **{"k_scaling/K=4": {"steps_per_s": 1000 / 90.0}})  # far from a line
    assert bench.k_scaling_fit(bent)["r2"] < 0.5
    assert bench.k_scaling_fit({"k_scaling/K=2": {"steps_per_s": 40.0}}) is None  # one point: no line
    fig = bench.k_scaling_figure(fit)
    measured, line = fig.axes[0].lines
    assert list(measured.get_xdata()) == [2, 4, 8] and list(measured.get_ydata()) == [26.0, 38.0, 62.0]
    torch.testing.assert_close(torch.tensor(line.get_ydata()), torch.tensor([26.0, 62.0], dtype=torch.float64))
    fig.savefig(tmp_path / "k.png")
    assert (tmp_path / "k.png").stat().st_size > 0


@needs_ffmpeg
def test_the_musdb_case_reads_songs_through_the_real_loader(tmp_path, monkeypatch):
    from factorgan.data.synthetic.musdb import make_synthetic_musdb

    bench = _benchmark_module()
    monkeypatch.setattr(bench, "MUSDB_BENCH", tmp_path)
    make_synthetic_musdb(tmp_path / "songs", n_train=2, n_test=1, seconds=3.0)  # instead of 10 x 60 s
    overrides = bench.cases()["musdb"]["musdb/factorgan"] + [
        "paired=1", "dataset.snippet=32", "dataset.snippet_hop=16", "dataset.workers=1", "generator.width=4",
        "discriminator.filters=4", "trainer.batch_size=4"]
    r = bench.run_case(overrides, "cpu", quick=True)
    assert r["steps_per_s"] > 0 and r["split_ms"]["data"] > 0  # snippets read from the memory-mapped cache
    assert any((tmp_path / "cache").rglob("*.npy"))


def test_data_benchmark_times_every_draw(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_data", REPO / "scripts" / "benchmark_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    try:
        assert module.main(["--samples", "40", "--draws", "20", "--batch", "4"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets one thread; later tests keep theirs
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cpu 1 thread(s), batch 4")
    figures = {line[:20].strip(): float(line.split()[-4]) for line in lines[1:]}
    assert set(figures) == {"paired_mnist pair", "paired_mnist part", "segmentation pair", "segmentation part",
                            "segmentation input"}
    assert all(0 < us < 1e6 for us in figures.values())
