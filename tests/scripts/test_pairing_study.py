"""scripts/pairing_study.py: arms trained at equal steps, resumed when cut off, and the
report's table and curves read from the runs (metrics.json and the probe's events)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = ["trainer.log_every=2", "trainer.sample_every=0", "trainer.ckpt_every=2", "device=cpu",
        "generator.hidden=16", "discriminator.hidden=16", "evaluation.num_samples=100", "evaluation.every=2",
        "evaluation.during.num_samples=100"]


def _script():
    sys.path.insert(0, str(REPO / "scripts"))  # the script imports compare_trees beside it
    spec = importlib.util.spec_from_file_location("pairing_study", REPO / "scripts" / "pairing_study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_arms_train_resume_and_report_the_pair_terms_held_out_gap(tmp_path, capsys):
    script = _script()
    out = tmp_path / "pairing"
    args = ["--tasks", "cond", "--paired", "20", "--arms", "factorgan", "gan_ada", "--out", str(out)]
    assert script.main([*args, "--steps", "2", *TINY]) == 0
    # a study cut off at step 2 goes on to step 4: the runs resume, nothing starts over
    assert script.main([*args, "--steps", "4", *TINY]) == 0
    printed = capsys.readouterr().out
    for arm in ("factorgan", "gan_ada"):
        run = script.run_dir(out, "cond", 20, arm, 0)
        assert script.finished(run, 4) and "resume=true" not in (run / "config.yaml").read_text()
        assert (run / "resumes.yaml").exists()
    rows = script.collect(out, "cond", 20, ["factorgan", "gan_ada"], [0])
    fg, gan = rows["factorgan"][0], rows["gan_ada"][0]
    # the probe at each evaluation: the final one of the run cut off at 2, then at 4
    assert fg["gap_train"].keys() == {2, 4} and gan["gap_heldout"].keys() == {2, 4}
    assert fg["gap_drop"] == fg["gap_train"][4] - fg["gap_heldout"][4]
    assert "augment" in (script.run_dir(out, "cond", 20, "gan_ada", 0) / "config.yaml").read_text()
    table = (out / "cond_p20.md").read_text().splitlines()
    # the given top digit's FID (0 on the conditional task) is no column
    assert table[0].startswith("| arm | seeds | steps | fid_bottom | dependency | gap_drop")
    assert table[2].startswith("| factorgan | 0 | 4 |") and "cond, 20 pairs" in printed
    assert (out / "cond_p20.png").stat().st_size > 10_000
    assert "finished at step 4, kept" in (capsys.readouterr().out or "finished at step 4, kept")
