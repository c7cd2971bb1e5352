"""``metrics.json``: the run's own result, evaluations beside it, old layouts; HParams values."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from factorgan.runs import checkpoint
from factorgan.runs.results import metrics_file as run_metrics
from factorgan.runs.resume.policy import is_finished
from factorgan.runs.results.evaluation import settings_key

OWN = {"_target_": "x.Evaluator", "num_samples": None, "seed": 1234, "progress": True}
FEWER = {**OWN, "num_samples": 200}


def write_json(run_dir: Path, data: dict) -> None:
    (run_dir / run_metrics.METRICS).write_text(json.dumps(data))


def test_other_settings_and_checkpoints_never_replace_the_runs_own_result(tmp_path):
    assert run_metrics.write_metrics(tmp_path, {"fid": 10.0}, 100, checkpoint.LAST, OWN, own=True)
    assert not run_metrics.write_metrics(tmp_path, {"fid": 12.0}, 100, checkpoint.LAST, FEWER, own=False)
    assert not run_metrics.write_metrics(tmp_path, {"fid": 30.0}, 50, "step_0000050.pt", OWN, own=False)
    data = run_metrics.read_metrics(tmp_path)
    assert (data["metrics"], data["step"], data["checkpoint"]) == ({"fid": 10.0}, 100, "last.pt")
    assert data["settings"] == {"_target_": "x.Evaluator", "num_samples": None, "seed": 1234}  # no progress
    assert data["settings_key"] == settings_key(OWN)
    last = data["by_checkpoint"]["last.pt"]
    assert last[settings_key(FEWER)] == {"step": 100, "metrics": {"fid": 12.0},
                                          "settings": {"_target_": "x.Evaluator", "num_samples": 200, "seed": 1234}}
    assert last[settings_key(OWN)]["metrics"] == {"fid": 10.0}
    assert data["by_checkpoint"]["step_0000050.pt"][settings_key(OWN)]["metrics"] == {"fid": 30.0}
    assert run_metrics.own_result(tmp_path)["metrics"] == {"fid": 10.0}


def test_the_own_result_is_new_once_per_step(tmp_path):
    """TensorBoard gets eval/<metric> and HParams only when this is True."""
    assert run_metrics.write_metrics(tmp_path, {"fid": 10.0}, 100, checkpoint.LAST, OWN, own=True)
    assert not run_metrics.write_metrics(tmp_path, {"fid": 10.0}, 100, checkpoint.LAST, OWN, own=True)
    assert run_metrics.write_metrics(tmp_path, {"fid": 8.0}, 200, checkpoint.LAST, OWN, own=True)  # extended run
    assert run_metrics.read_metrics(tmp_path)["metrics"] == {"fid": 8.0}


def test_evaluations_during_training_are_kept_apart_from_the_result(tmp_path):
    run_metrics.write_metrics_placeholder(tmp_path)
    run_metrics.write_during_training(tmp_path, {"fid": 50.0}, 500, {**OWN, "num_samples": 1000})
    run_metrics.write_during_training(tmp_path, {"fid": 40.0}, 1000, {**OWN, "num_samples": 1000})
    data = run_metrics.read_metrics(tmp_path)
    assert not data.get("metrics") and not is_finished(tmp_path, 1000, 1000, needs_metrics=True)
    assert data["during_training"]["500"] == {"step": 500, "metrics": {"fid": 50.0},
                                              "settings": {"_target_": "x.Evaluator", "num_samples": 1000, "seed": 1234}}
    run_metrics.write_metrics(tmp_path, {"fid": 35.0}, 1000, checkpoint.LAST, OWN, own=True)
    data = run_metrics.read_metrics(tmp_path)
    assert data["metrics"] == {"fid": 35.0} and set(data["during_training"]) == {"500", "1000"}


@pytest.mark.parametrize("old", [
    {"step": 4, "checkpoint": "last.pt", "metrics": {"fid": 3.0}},  # the first layout
    {"step": 4, "checkpoint": "last.pt", "metrics": {"fid": 3.0},  # with other checkpoints' results
     "by_checkpoint": {"last.pt": {"step": 4, "metrics": {"fid": 3.0}},
                       "step_0000002.pt": {"step": 2, "metrics": {"fid": 9.0}}}},
])
def test_old_layouts_read_and_keep_their_results(tmp_path, old):
    write_json(tmp_path, old)
    data = run_metrics.read_metrics(tmp_path)
    assert (data["metrics"], data["step"], data["checkpoint"]) == ({"fid": 3.0}, 4, "last.pt")
    assert data["by_checkpoint"]["last.pt"][run_metrics.UNKNOWN] == {"step": 4, "metrics": {"fid": 3.0}, "settings": None}
    assert is_finished(tmp_path, 4, 4, needs_metrics=True)
    # a re-evaluation with other settings goes beside; the old result stays the run's
    run_metrics.write_metrics(tmp_path, {"fid": 5.0}, 4, checkpoint.LAST, FEWER, own=False)
    data = run_metrics.read_metrics(tmp_path)
    assert data["metrics"] == {"fid": 3.0} and data["format"] == run_metrics.FORMAT
    assert set(data["by_checkpoint"]["last.pt"]) == {run_metrics.UNKNOWN, settings_key(FEWER)}
    if "by_checkpoint" in old:
        assert data["by_checkpoint"]["step_0000002.pt"][run_metrics.UNKNOWN]["metrics"] == {"fid": 9.0}


def test_an_empty_placeholder_reads_as_no_result(tmp_path):
    run_metrics.write_metrics_placeholder(tmp_path)
    assert run_metrics.read_metrics(tmp_path) == {} and run_metrics.own_result(tmp_path) is None


def test_the_positional_call_of_earlier_versions_records_the_runs_result(tmp_path):
    run_metrics.write_metrics(tmp_path, {"fid": 3.0}, 4, checkpoint.LAST)
    data = run_metrics.read_metrics(tmp_path)
    assert data["metrics"] == {"fid": 3.0} and data["settings_key"] == run_metrics.UNKNOWN


def test_hparams_leave_unset_values_out_and_keep_name_a_string():
    config = {"experiment_name": "paired_mnist", "model": {"name": "gan"}, "paired": 10, "seed": 0,
              "name": None, "run_tags": {"lam": 0.9, "top": None}}
    values = run_metrics.hparams(config)
    assert values == {"experiment_name": "paired_mnist", "model.name": "gan", "paired": "10", "seed": "0",
                      "name": "", "lam": 0.9}  # integers as their digits (the view prints numbers as 10.000)
    assert run_metrics.hparams({**config, "paired": "all"})["paired"] == "all"  # one type per column
    assert "None" not in values.values()
    # seed last, past the five columns the view ticks at first
    assert list(values) == ["experiment_name", "model.name", "paired", "lam", "name", "seed"]
    assert run_metrics.hparams({**config, "name": 5})["name"] == "5"  # one type per column


def test_the_hparams_view_lists_runs_with_and_without_a_name(tmp_path):
    from tensorboard import default, program
    from tensorboard.backend import application
    from torch.utils.tensorboard import SummaryWriter
    from werkzeug.test import Client

    base = {"experiment_name": "e", "model": {"name": "gan"}, "paired": 10, "seed": 0, "run_tags": {}}
    for name, fid in ((None, 1.0), ("wide", 2.0)):
        with SummaryWriter(str(tmp_path / str(name))) as writer:
            writer.add_hparams(run_metrics.hparams({**base, "name": name}), {"hparam/fid": fid}, run_name="hparams")
    tb = program.TensorBoard(plugins=default.get_plugins())
    tb.configure(argv=[None, "--logdir", str(tmp_path), "--load_fast=false", "--reload_interval=0",
                       "--reload_task=blocking"])
    provider, multiplexer = tb._make_data_provider()
    app = application.TensorBoardWSGIApp(tb.flags, tb.plugin_loaders, provider, tb.assets_zip_provider, multiplexer)
    request = {"experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
               "colParams": [],
               "startIndex": 0, "sliceSize": 100}
    groups = Client(app).post("/data/plugin/hparams/session_groups", json=request).get_json()["sessionGroups"]
    assert {g["hparams"]["name"]: g["metricValues"][0]["value"] for g in groups} == {"": 1.0, "wide": 2.0}


def test_results_record_what_scored_them_and_only_their_own(tmp_path):
    """An evaluator's :class:`EvaluationResult` names its classifier; results without one
    (other evaluators, earlier versions) keep the layout they had."""
    v2 = {"classifier": {"version": 2, "sha256": "c9ff", "source": "shipped"}}
    result = run_metrics.EvaluationResult({"fid": 10.0}, provenance=v2)
    assert result == {"fid": 10.0} and json.loads(json.dumps(result)) == {"fid": 10.0}  # a plain dict elsewhere
    run_metrics.write_metrics(tmp_path, result, 100, checkpoint.LAST, OWN, own=True)
    run_metrics.write_metrics(tmp_path, {"fid": 12.0}, 100, checkpoint.LAST, FEWER, own=False)
    run_metrics.write_during_training(tmp_path, run_metrics.EvaluationResult({"fid": 50.0}, v2), 50, OWN)
    data = run_metrics.read_metrics(tmp_path)
    assert data["provenance"] == v2 == data["by_checkpoint"]["last.pt"][settings_key(OWN)]["provenance"]
    assert "provenance" not in data["by_checkpoint"]["last.pt"][settings_key(FEWER)]
    assert data["during_training"]["50"]["provenance"] == v2
    # An explicit provenance wins; a later own result without one leaves no stale name behind.
    v1 = {"classifier": {"version": 1, "sha256": "abcd", "source": "cached"}}
    run_metrics.write_metrics(tmp_path, result, 200, checkpoint.LAST, OWN, own=True, provenance=v1)
    assert run_metrics.read_metrics(tmp_path)["provenance"] == v1
    run_metrics.write_metrics(tmp_path, {"fid": 8.0}, 300, checkpoint.LAST, OWN, own=True)
    data = run_metrics.read_metrics(tmp_path)
    assert data["metrics"] == {"fid": 8.0} and "provenance" not in data


def test_steps_in_numeric_order_each_provenance_once_and_the_curve_as_csv(tmp_path):
    """metrics.json (format 3) keeps ``during_training`` in step order ("500" before
    "4500"), the classifier's provenance once under ``provenances`` (the entries name it
    by id), and ``during_training.csv`` beside it holds the curve."""
    v2 = {"classifier": {"version": 2, "sha256": "c9ff", "source": "shipped", "test_accuracy": 0.99}}
    for step in (4500, 500, 5000, 1000):
        result = run_metrics.EvaluationResult({"fid": step / 100, "dependency": 0.5}, v2)
        run_metrics.write_during_training(tmp_path, result, step, OWN)
    run_metrics.write_metrics(tmp_path, run_metrics.EvaluationResult({"fid": 1.0, "dependency": 0.4}, v2),
                              5000, checkpoint.LAST, OWN, own=True)
    raw = json.loads((tmp_path / run_metrics.METRICS).read_text())
    assert raw["format"] == 3 and list(raw["during_training"]) == ["500", "1000", "4500", "5000"]
    ref = run_metrics.provenance_id(v2)
    assert raw["provenances"] == {ref: v2} and (tmp_path / run_metrics.METRICS).read_text().count('"c9ff"') == 1
    assert raw["provenance"] == ref and {e["provenance"] for e in raw["during_training"].values()} == {ref}
    data = run_metrics.read_metrics(tmp_path)  # readers see each provenance in full, as before
    assert list(data["during_training"]) == ["500", "1000", "4500", "5000"] and "provenances" not in data
    assert data["provenance"] == v2 == data["during_training"]["500"]["provenance"]
    assert (tmp_path / run_metrics.CURVE).read_text().splitlines() == [
        "step,fid,dependency", "500,5.0,0.5", "1000,10.0,0.5", "4500,45.0,0.5", "5000,50.0,0.5"]
    assert not list(tmp_path.glob(f".{run_metrics.CURVE}.*"))  # written atomically: no temporary left


def test_format_2_files_with_text_ordered_steps_and_repeated_provenance_still_read(tmp_path):
    """Researchers' runs written before format 3 read unchanged (steps put in order) and
    are rewritten in format 3 by the next evaluation, nothing lost."""
    v2 = {"classifier": {"version": 2, "sha256": "c9ff"}}
    entry = lambda step: {"step": step, "settings": {"seed": 1}, "metrics": {"fid": float(step)}, "provenance": v2}  # noqa: E731
    old = {"format": 2, "step": 5000, "checkpoint": "last.pt", "settings": {"seed": 1}, "settings_key": "k",
           "metrics": {"fid": 1.0}, "provenance": v2,
           "by_checkpoint": {"last.pt": {"k": {**entry(5000), "metrics": {"fid": 1.0}}}},
           "during_training": {str(s): entry(s) for s in sorted((500, 1000, 4500), key=str)}}
    assert list(old["during_training"]) == ["1000", "4500", "500"]  # text order, as format 2 wrote them
    write_json(tmp_path, old)
    data = run_metrics.read_metrics(tmp_path)
    assert list(data["during_training"]) == ["500", "1000", "4500"]
    assert data["during_training"]["500"]["provenance"] == v2 == data["provenance"]
    assert run_metrics.own_result(tmp_path)["metrics"] == {"fid": 1.0}
    run_metrics.write_during_training(tmp_path, run_metrics.EvaluationResult({"fid": 2.0}, v2), 2000, {"seed": 1})
    raw = json.loads((tmp_path / run_metrics.METRICS).read_text())
    assert raw["format"] == 3 and list(raw["during_training"]) == ["500", "1000", "2000", "4500"]
    assert list(raw["provenances"].values()) == [v2]
    again = run_metrics.read_metrics(tmp_path)
    assert {k: v for k, v in again.items() if k != "during_training"} == \
        {k: v for k, v in data.items() if k != "during_training"}
    assert again["during_training"]["4500"] == data["during_training"]["4500"]
