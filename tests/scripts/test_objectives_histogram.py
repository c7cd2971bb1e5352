"""scripts/objectives_histogram.py: class histograms of a tiny PairedMNIST run's samples."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from conftest import TINY, compose_config
from factorgan.errors import CliError
from factorgan.cli.train import train
from factorgan.runs.results.metrics_file import write_metrics

REPO = Path(__file__).resolve().parents[2]
SMALL = ["generator.hidden=16", "discriminator.hidden=16", "trainer.max_steps=2", "threads=1"]


def _script():
    if "objectives_histogram" in sys.modules:
        return sys.modules["objectives_histogram"]
    spec = importlib.util.spec_from_file_location("objectives_histogram", REPO / "scripts" / "objectives_histogram.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("objectives")
    out = {}
    for loss in ("kl", "forward_kl"):  # kl: an old run's name of reverse KL
        out[loss] = root / loss
        train(compose_config(*TINY, *SMALL, f"loss={loss}"), out[loss])
    # A recorded result, as the evaluator writes it, for the panel title.
    write_metrics(out["kl"], {"fid": 123.25, "dependency": 0.5}, step=2)
    return out


def test_figure_and_counts_of_n_samples(runs, tmp_path):
    script = _script()
    out, numbers = tmp_path / "fig.png", tmp_path / "counts.json"
    hists = script.main([str(runs["kl"]), str(runs["forward_kl"]), "--num-samples", "60",
                         "--out", str(out), "--json", str(numbers)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size < 200_000
    assert [h.objective for h in hists] == ["reverse_kl", "forward_kl"]
    for h in hists:
        for position in ("top", "bottom"):
            assert len(h.generated[position]) == 10 and sum(h.generated[position]) == 60
            assert sum(h.test[position]) == 1000  # the embedded test split's pairs
            assert 1 <= h.covered[position] <= 10 and 0.0 <= h.distance[position] <= 1.0
            share = [c / 60 for c in h.generated[position]]
            assert h.covered[position] == sum(s >= script.MIN_SHARE for s in share)
    assert hists[0].metrics == {"fid": 123.25, "dependency": 0.5} and hists[1].metrics == {}
    assert "FID 123.25" in script.panel_title(hists[0]) and "FID n/a" in script.panel_title(hists[1])
    saved = json.loads(numbers.read_text())
    assert [sum(r["generated"]["top"]) for r in saved] == [60, 60]
    # The same seed draws the same samples.
    again = script.run_histogram(runs["kl"], 60)
    assert again.generated == hists[0].generated


def test_total_variation_bounds():
    import torch

    tv = _script().total_variation
    assert tv(torch.tensor([5.0, 5.0]), torch.tensor([1.0, 1.0])) == pytest.approx(0.0)
    assert tv(torch.tensor([3.0, 0.0]), torch.tensor([0.0, 7.0])) == pytest.approx(1.0)
    assert tv(torch.tensor([3.0, 1.0]), torch.tensor([1.0, 1.0])) == pytest.approx(0.25)


def test_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(CliError, match="no run directory"):
        _script().main([str(tmp_path / "missing"), "--out", str(tmp_path / "f.png")])
