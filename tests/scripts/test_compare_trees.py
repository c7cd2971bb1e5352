"""scripts/compare_trees.py: trees against flat FactorGAN, trained and reported at equal steps."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY_ARMS = ["trainer.log_every=2", "trainer.sample_every=0", "trainer.ckpt_every=2", "device=cpu",
             "generator.hidden=16", "discriminator.hidden=16", "evaluation.num_samples=100", "evaluation.every=2",
             "evaluation.during.num_samples=100"]


def _script():
    if "compare_trees" in sys.modules:
        return sys.modules["compare_trees"]
    spec = importlib.util.spec_from_file_location("compare_trees", REPO / "scripts" / "compare_trees.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_each_arm_trains_at_equal_steps_and_the_report_reads_the_runs(tmp_path, capsys):
    script = _script()
    out = tmp_path / "trees"
    assert script.main(["autoregressive", "--steps", "4", "--out", str(out), *TINY_ARMS]) == 0
    printed = capsys.readouterr().out
    for arm in ("chain", "flat"):
        run = out / "autoregressive" / f"{arm}_seed0"
        assert script.finished(run, 4) and f"{run}: trained in" in printed
    rows = script.arm_rows("autoregressive", out, [0])
    assert set(rows) == {"chain", "flat"} and all(r[0]["step"] == 4 and r[0]["wall_s"] > 0 for r in rows.values())
    assert rows["chain"][0]["during"].keys() == {2}  # FID during training, at evaluation.every
    # The arms differ in their tree only: the chain has a pair for the prefix x1 x2.
    chain_cfg = (out / "autoregressive" / "chain_seed0" / "config.yaml").read_text()
    assert "tree: chain" in chain_cfg and "tree: flat" in (out / "autoregressive" / "flat_seed0" / "config.yaml").read_text()
    assert (out / "autoregressive" / "autoregressive.png").stat().st_size > 10_000
    table = (out / "autoregressive" / "results.md").read_text().splitlines()
    assert table[0].startswith("| arm | seeds | steps | fid_1") and table[2].startswith("| chain | 0 | 4 |")
    # Finished runs are kept; --report-only trains nothing.
    script.main(["autoregressive", "--steps", "4", "--out", str(out), *TINY_ARMS, "--arms", "flat"])
    assert "finished at step 4, kept" in capsys.readouterr().out
    script.main(["autoregressive", "--report-only", "--out", str(out), "--seeds", "0", "7"])


def test_the_table_gives_mean_and_sd_over_seeds():
    script = _script()
    runs = [{"fid_top": 60.0, "fid_bottom": 80.0, "fid": 70.0, "dependency": 0.8, "step": 10, "seed": 0,
             "wall_s": 60.0, "during": {}},
            {"fid_top": 70.0, "fid_bottom": 90.0, "fid": 80.0, "dependency": 0.9, "step": 10, "seed": 1,
             "wall_s": 180.0, "during": {}}]
    row = script.table("hierarchical", {"hierarchical": runs}).splitlines()[2]
    assert row == "| hierarchical | 0,1 | 10 | 65.0 ± 7.1 | 85.0 ± 7.1 | 75.0 ± 7.1 | 0.850 ± 0.071 | 2.0 min |"
    with pytest.raises(SystemExit):
        script.main(["hierarchical", "--arms", "chain", "--report-only"])
