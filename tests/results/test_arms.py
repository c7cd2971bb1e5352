"""factorgan.results names a sweep's arms that never trained (their failed start left no
run directory), from the sweep's multirun.yaml."""
from __future__ import annotations

from factorgan.results.arms import note_untrained_arms, sweep_size

MULTIRUN = """hydra:
  sweeper:
    params:
      model: gan,factorgan
      paired: 10,100,1000
  overrides:
    task:
    - +sweep=paired_mnist_cpu
    - paired=10,100
    - seed=0
"""


def test_the_sweeps_grid_is_counted_with_the_command_line_over_the_sweep_config(tmp_path):
    (tmp_path / "multirun.yaml").write_text(MULTIRUN)
    assert sweep_size(tmp_path) == 4  # 2 models x paired 10, 100 (the command line's)
    assert sweep_size(tmp_path / "missing") is None


def test_runs_that_never_trained_are_named_with_how_to_retry(tmp_path, capsys):
    (tmp_path / "multirun.yaml").write_text(MULTIRUN)
    note = note_untrained_arms(tmp_path, found=3)
    assert note == (f"note: the sweep in {tmp_path} launched 4 runs and 3 are here: 1 never trained (a start "
                    "that failed removes its run directory; the sweep's console output says why). Run the same "
                    "sweep again to retry them (finished runs are skipped).")
    assert note in capsys.readouterr().err
    assert note_untrained_arms(tmp_path, found=4) is None


def test_results_on_a_sweep_with_a_failed_arm_says_so(tmp_path, capsys):
    from factorgan.results.collect import collect

    (tmp_path / "multirun.yaml").write_text(MULTIRUN)
    try:
        collect(tmp_path)
    except Exception:  # no run at all: the table may be refused; the note comes first
        pass
    assert "launched 4 runs and 0 are here: 4 never trained" in capsys.readouterr().err
