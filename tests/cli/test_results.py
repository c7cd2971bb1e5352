"""``python -m factorgan.results``: the CSV equals the runs' metrics.json, figures are
written, and the paper's numbers are drawn beside ours where the experiment matches."""
from __future__ import annotations

import csv
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from factorgan.runs import checkpoint

from factorgan.runs.rundir.folder import run_path
from factorgan.runs.results import metrics_file as run_metrics
from factorgan.cli.results import main
from factorgan.results.collect import ID_COLUMNS, collect
from factorgan.results.figures import DODGE, mean_interval, metric_figure
from factorgan.results.reference import reference_for

MNIST_METRICS = ("fid_top", "fid_bottom", "fid", "dependency", "classifier_accuracy")
CITY_METRICS = ("mse", "pixel_accuracy", "pixel_accuracy_official", "class_accuracy/road")


def make_run(root: Path, experiment: str, model: str, paired: int, lam: float | None, seed: int,
             metrics: dict[str, float] | None, step: int = 20) -> Path:
    """A run directory as training leaves it: config.yaml, checkpoint, metrics.json."""
    run_dir = root / run_path(experiment, model, paired, {"lam": lam}, seed, None)
    run_dir.mkdir(parents=True)
    tags = {} if lam is None else {"lam": lam}  # PairedMNIST names its lam in the run path
    config = {"experiment_name": experiment, "model": {"name": model}, "paired": paired, "run_tags": tags,
              "seed": seed, "name": None, "trainer": {"max_steps": step}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    checkpoint.save_atomic({"step": step, "config": config, "generator": {"w": torch.zeros(3)}},
                           checkpoint.checkpoint_dir(run_dir) / checkpoint.LAST)
    run_metrics.write_metrics_placeholder(run_dir)
    if metrics is not None:
        run_metrics.write_metrics(run_dir, metrics, step, checkpoint.LAST)
    return run_dir


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PairedMNIST: 2 models x 2 lambdas x 2 paired counts x 3 seeds, one run not yet
    evaluated; Cityscapes: 2 models x 2 paired counts x 2 seeds; an experiment the paper
    has no numbers for."""
    root = tmp_path_factory.mktemp("sweep") / "multirun" / "2026-01-01" / "12-00-00"
    rng = np.random.default_rng(0)
    for model in ("gan", "factorgan"):
        for lam in (0.1, 0.9):
            for paired in (10, 100):
                for seed in range(3):
                    values = {m: float(rng.uniform(0.1, 50)) for m in MNIST_METRICS}
                    make_run(root, "paired_mnist", model, paired, lam, seed, values)
        for paired in (25, 100):
            for seed in range(2):
                values = {"mse": float(rng.uniform(0.01, 0.05)), "pixel_accuracy": float(rng.uniform(50, 80)),
                          "pixel_accuracy_official": float(rng.uniform(50, 80)),
                          "class_accuracy/road": float(rng.uniform(0, 1))}
                make_run(root, "cityscapes_seg", model, paired, None, seed, values)
    make_run(root, "paired_mnist", "factorgan_no_cp", 10, 0.9, 0, None, step=7)  # still training
    toy = make_run(root, "toy", "gan", 10, None, 0, {"fid": 1.0})
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(toy / "tb")) as writer:  # training logs, for --scalars
        for step, value in ((10, 3.0), (20, 2.5)):
            writer.add_scalar("loss/g", value, step)
    (root / ".submitit" / "123").mkdir(parents=True)  # launcher logs are not runs
    return root


@pytest.fixture(scope="module")
def written(sweep: Path) -> Path:
    """The CLI's output folder for the synthetic sweep (its default: <dir>/results)."""
    assert main([str(sweep)]) == 0
    return sweep / "results"


def test_csv_has_one_row_per_run_with_the_metrics_json_values(sweep, written):
    table = pd.read_csv(written / "results.csv")
    # the ids, with the experiments' run tags (PairedMNIST's lam) after paired
    ids = [*ID_COLUMNS[:3], "lam", *ID_COLUMNS[3:]]
    assert list(table.columns[: len(ids)]) == ids and table.columns[-1] == "run_dir"
    assert set(MNIST_METRICS) | set(CITY_METRICS) <= set(table.columns)
    assert len(table) == 2 * 2 * 2 * 3 + 2 * 2 * 2 + 1 + 1
    for row in table.to_dict("records"):
        run_dir = sweep / row["run_dir"]
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
        assert (row["experiment"], row["model"], row["paired"], row["seed"]) == (
            config["experiment_name"], config["model"]["name"], config["paired"], config["seed"])
        lam = config["run_tags"].get("lam")
        assert (math.isnan(row["lam"]) if lam is None else row["lam"] == lam)
        written = run_metrics.read_metrics(run_dir)
        metrics = written.get("metrics", {})
        for column in set(table.columns) - {*ids, "run_dir"}:
            if column in metrics:
                assert row[column] == pytest.approx(metrics[column], rel=1e-12, abs=0)
            else:
                assert math.isnan(row[column]), (row["run_dir"], column)
        assert row["steps"] == (written["step"] if metrics else 7)


def test_figures_are_written_for_every_metric_with_values(written):
    out = written
    stems = [f"paired_mnist_{m}" for m in MNIST_METRICS if m != "classifier_accuracy"] + [
        "cityscapes_seg_mse", "cityscapes_seg_pixel_accuracy", "cityscapes_seg_pixel_accuracy_official",
        "cityscapes_seg_class_accuracy_road", "toy_fid"]
    for stem in stems:
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", stem
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-", stem
    assert not (out / "toy_mse.png").exists()  # no toy run has an mse
    assert not (out / "paired_mnist_classifier_accuracy.png").exists()  # the scorer's number, not the runs'


def paper_rows(file: str, sep: str) -> list[dict[str, str]]:
    with resources.files("factorgan").joinpath("reference", file).open() as f:
        return list(csv.DictReader(f, delimiter=sep))


def lines_by_label(ax) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {line.get_label(): (np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float))
            for line in ax.get_lines()}


def test_paired_mnist_figure_draws_our_means_and_the_paper_per_lambda(sweep):
    table = collect(sweep)
    fig = metric_figure(table, "paired_mnist", "fid")
    # one panel per lambda; the paper's FID (its own classifier's scale) in a row of its own below
    assert len(fig.axes) == 4
    rows = paper_rows("paired_mnist_fid.csv", ";")
    for ax, paper_ax, lam in zip(fig.axes[:2], fig.axes[2:], ("0.1", "0.9")):
        assert lam in ax.get_title() and ax.get_xscale() == "log"
        lines, paper = lines_by_label(ax), lines_by_label(paper_ax)
        assert set(lines) == {"gan", "factorgan"} and set(paper) == {"gan (paper)", "factorgan (paper)"}
        for model, paper_name in (("gan", "GAN"), ("factorgan", "FactorGAN")):
            expect = [(float(r["Paired samples"]), float(r["FID"])) for r in rows
                      if r["Model"] == paper_name and r["Lambda"] == lam]
            x, y = paper[f"{model} (paper)"]
            np.testing.assert_allclose(x, [p for p, _ in expect], rtol=0, atol=0)
            np.testing.assert_allclose(y, [v for _, v in expect], rtol=1e-12, atol=0)
            ours = table[(table["model"] == model) & np.isclose(table["lam"], float(lam))]
            means = ours.groupby("paired")["fid"].mean()
            x, y = lines[model]
            # our lines are dodged apart along the log axis (DODGE decades), the paper's not
            np.testing.assert_allclose(x, means.index.to_numpy(float), rtol=10 ** DODGE - 1, atol=0)
            np.testing.assert_allclose(y, means.to_numpy(), rtol=1e-12, atol=0)
        assert len(ax.collections) == 2  # a 95 % band per model (3 seeds)
    dep = metric_figure(table, "paired_mnist", "dependency")
    assert "factorgan (paper)" in lines_by_label(dep.axes[1])


def test_cityscapes_figure_maps_the_segmentation_table(sweep):
    table = collect(sweep)
    # the paper's accuracy is the official code's: drawn beside pixel_accuracy_official
    fig = metric_figure(table, "cityscapes_seg", "pixel_accuracy_official")
    assert len(fig.axes) == 1
    lines = lines_by_label(fig.axes[0])
    x, y = lines["gan (paper)"]
    np.testing.assert_allclose(x, [25, 100, 500, 1000, 3000], rtol=0, atol=0)
    np.testing.assert_allclose(y, [53.98, 64.41, 73.26, 79.24, 78.18], rtol=1e-12, atol=0)
    _, y = lines_by_label(metric_figure(table, "cityscapes_seg", "mse").axes[0])["factorgan (paper)"]
    np.testing.assert_allclose(y, [0.02665, 0.02688, 0.02116, 0.02038, 0.0196], rtol=1e-12, atol=0)
    # metrics and experiments the paper has no numbers for get ours only
    for experiment, metric in (("cityscapes_seg", "class_accuracy/road"), ("cityscapes_seg", "pixel_accuracy"),
                               ("paired_mnist", "fid_top"),
                               ("toy", "fid")):
        labels = [l.get_label() for ax in metric_figure(table, experiment, metric).axes for l in ax.get_lines()]
        assert labels and not any("(paper)" in label for label in labels)


def test_last_tensorboard_scalars_can_be_added_as_metrics(sweep):
    table = collect(sweep, scalars=["loss/g", "no/such_tag"])
    assert "no/such_tag" not in table.columns
    toy = table[table["experiment"] == "toy"]
    assert toy["loss/g"].tolist() == [2.5]  # the last logged value
    assert table[table["experiment"] != "toy"]["loss/g"].isna().all()
    assert metric_figure(table, "toy", "loss/g") is not None


def test_mean_interval_is_the_student_t_95_interval():
    mean, low, high = mean_interval(np.array([1.0, 2.0, 3.0]))
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, df=2) * sd / sqrt(n), sd = 1
    assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half), rel=1e-9)
    assert mean_interval(np.array([5.0])) == (5.0, 5.0, 5.0)


def test_a_folder_without_runs_is_a_clear_error(tmp_path, capsys):
    assert main([str(tmp_path), "--out", str(tmp_path / "elsewhere")]) == 2
    assert "no runs under" in capsys.readouterr().err and not (tmp_path / "elsewhere").exists()


DAMAGED_METRICS = {"empty": b"", "cut off": b'{"format": 2, "step": 20, "metr', "random": bytes(range(256)),
                   "a list": b"[1, 2]"}


def test_damaged_run_files_leave_out_that_run_only_and_change_nothing(tmp_path, capsys):
    good = make_run(tmp_path, "paired_mnist", "gan", 10, 0.9, 0, {"fid": 5.0})
    damaged = {}
    for seed, (what, content) in enumerate(DAMAGED_METRICS.items(), start=1):
        run_dir = make_run(tmp_path, "paired_mnist", "gan", 10, 0.9, seed, {"fid": 6.0})
        (run_dir / "metrics.json").write_bytes(content)
        damaged[run_dir] = content
    # config.yaml cut off: valid YAML without paired, seed, run_tags: the checkpoint's copy is used
    cut = make_run(tmp_path, "paired_mnist", "factorgan", 100, 0.1, 7, {"fid": 4.0})
    (cut / "config.yaml").write_text((cut / "config.yaml").read_text()[:40])
    # ... and one without a checkpoint to take it from: left out, not a row of blanks
    bare = make_run(tmp_path, "paired_mnist", "factorgan", 100, 0.1, 8, {"fid": 3.0})
    (bare / "config.yaml").write_text((bare / "config.yaml").read_text()[:40])
    (checkpoint.checkpoint_dir(bare) / checkpoint.LAST).unlink()
    assert main([str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "results" / "results.csv")
    rows = {r["run_dir"]: r for r in table.to_dict("records")}
    assert set(rows) == {str(good.relative_to(tmp_path)), str(cut.relative_to(tmp_path))}
    assert (rows[str(cut.relative_to(tmp_path))]["experiment"], rows[str(cut.relative_to(tmp_path))]["paired"],
            rows[str(cut.relative_to(tmp_path))]["lam"], rows[str(cut.relative_to(tmp_path))]["seed"],
            rows[str(cut.relative_to(tmp_path))]["fid"]) == ("paired_mnist", 100, 0.1, 7, 4.0)
    err = capsys.readouterr().err
    for run_dir, content in damaged.items():
        assert f"note: left out {run_dir}: {run_dir / 'metrics.json'} is damaged (" in err
        assert (run_dir / "metrics.json").read_bytes() == content  # reading renames nothing
    assert not list(tmp_path.rglob("metrics.json.damaged-*"))
    assert f"warning: {cut / 'config.yaml'} does not match the run's checkpoint (cut off mid-line; " in err
    assert "keys missing (" in err and f"using the config saved in {checkpoint.checkpoint_dir(cut) / 'last.pt'}" in err
    assert f"note: left out {bare}: its config.yaml lacks" in err


@pytest.mark.parametrize("experiment,dataset", [("cityscapes_pairs", "cityscapes"), ("edges2shoes", "edges2shoes")])
def test_image_pair_ls_reference_is_the_mean_of_the_papers_runs(experiment, dataset):
    from factorgan.results.reference import reference_for

    rows = [r for r in paper_rows("image_pairs_ls.csv", ",") if r["Dataset"] == dataset]
    ref = reference_for(experiment, "ls")
    names = {"GAN": "gan", "GAN (big)": "gan_big", "FactorGAN": "factorgan"}
    settings = {(names[r["Model"]], float(r["Paired samples"])) for r in rows}
    assert len(ref) == len(settings) and set(zip(ref["model"], ref["paired"])) == settings
    assert ref["lam"].isna().all()
    for model, paired, value in zip(ref["model"], ref["paired"], ref["value"]):
        runs_ = [float(r["LS"]) for r in rows if names[r["Model"]] == model and float(r["Paired samples"]) == paired]
        assert len(runs_) == 10
        assert value == pytest.approx(sum(runs_) / 10, rel=1e-12)


def test_musdb_reference_is_the_papers_pooled_sdr_per_source():
    vocals = reference_for("musdb_sep", "sdr_vocals_mean")
    row = vocals[(vocals["model"] == "factorgan") & (vocals["paired"] == 50)]
    assert row["value"].tolist() == pytest.approx([2.0191757])  # Figure 6: mean of pooled 15-s windows
    median = reference_for("musdb_sep", "sdr_accompaniment_median")
    assert sorted(median["paired"].unique()) == [10, 20, 50] and set(median["model"]) == {"gan", "factorgan"}
