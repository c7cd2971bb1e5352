"""One command-line grammar: evaluate, sample and results take ``key=value`` in Hydra's
override syntax, ``--help`` and ``--cfg job``, as train does; earlier spellings still work."""
from __future__ import annotations

import pytest
import yaml

from factorgan.cli import evaluate, results, sample
from factorgan.errors import CliError

COMMANDS = {"evaluate": evaluate.main, "sample": sample.main}


def printed_config(main, argv: list[str], capsys: pytest.CaptureFixture) -> dict:
    """What ``<command> <argv> --cfg job`` prints, read back; it exits 0 without working."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--cfg", "job"])
    assert exit_.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("main", [evaluate.main, sample.main, results.main])
def test_every_command_prints_its_help_with_the_shared_grammar(main, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("usage: python -m factorgan.")
    assert "--cfg job" in out and "key=value" in out and "Defaults:" in out


def test_values_are_read_as_train_reads_them(tmp_path, capsys):
    run = str(tmp_path / "a run=1")  # paths are taken as written
    got = printed_config(sample.main, [f"run={run}", "n=5", "overwrite=true", "device=cuda:1"], capsys)
    assert got == {"run": run, "n": 5, "out": "samples.npz", "seed": 1234, "checkpoint": "last.pt",
                   "device": "cuda:1", "overwrite": True}
    got = printed_config(evaluate.main, ["run=r", "evaluation.num_samples=60", "+evaluation.batch=8",
                                         "evaluation.during={num_samples: 500}"], capsys)
    assert got["evaluation"] == {"num_samples": 60, "batch": 8, "during": {"num_samples": 500}}


@pytest.mark.parametrize("argv, says", [
    (["run=r", "n=abc"], "n=abc must be a whole number"),
    (["run=r", "overwrite=maybe"], "overwrite=maybe must be true or false"),
    (["run=r", "n=1,2"], "one value per key"),
    (["n=3"], "missing run="),
    (["run=r", "sed=1"], "unknown argument 'sed'"),
    (["run=r", "--cfg", "hydra"], "--cfg hydra"),
])
def test_bad_arguments_are_refused_with_a_message(argv, says):
    with pytest.raises(CliError, match=says):
        sample.main(argv)


def test_results_old_and_new_spellings_compose_the_same(tmp_path, capsys):
    old = printed_config(results.main, [str(tmp_path), "--out", "elsewhere", "--scalars", "loss/g", "prob/x"], capsys)
    new = printed_config(results.main, [f"dir={tmp_path}", "out=elsewhere", "scalars=[loss/g,prob/x]"], capsys)
    assert old == new == {"dir": str(tmp_path), "out": "elsewhere", "scalars": ["loss/g", "prob/x"]}
    assert printed_config(results.main, ["--out=x", str(tmp_path)], capsys)["out"] == "x"
    assert results.main(["--outt", "x", str(tmp_path)]) == 2
    assert "unknown option --outt" in capsys.readouterr().err
