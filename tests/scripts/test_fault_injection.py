"""scripts/fault_injection.py with tiny settings: a run killed twice (SIGKILL or SIGTERM,
at random moments or during a checkpoint write) and resumed ends with the weights of an
uninterrupted run. The joblib and submitit checks take minutes: run the script by hand."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_run_killed_twice_recovers_exactly(tmp_path):
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "fault_injection.py"), "--n", "2", "--seed", "1",
         "--checks", "kill", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert out.startswith("N=2 ") and out.count("  kill ") == 2
    assert "PASS kill: resumed run equals the uninterrupted run" in out and "0 differ" in out
    assert "0 steps logged more than once" in out and "FAIL" not in out
    assert out.rstrip().endswith("PASS: 5 of 5 checks passed")


def test_unknown_checks_are_refused():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "fault_injection.py"), "--checks", "nope"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "unknown checks ['nope']" in done.stderr
