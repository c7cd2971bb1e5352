"""The table that ends a run and ``factorgan.evaluate``: headline metrics, their
direction, the baselines, the paper's value; the mode-collapse warning."""
from __future__ import annotations

from factorgan.summary import collapse_warning, describe_data, one_line, summary

PAIRED_MNIST = {"experiment_name": "paired_mnist", "model": {"name": "factorgan"}, "paired": 100,
                "run_tags": {"lam": 0.9}}
COLLAPSED = {"fid_top": 714.7, "fid_bottom": 722.7, "fid": 718.66, "dependency": 0.8989,
             "classes_covered": 1.0, "class_tv": 0.8975, "classifier_accuracy": 0.955}


def rows(text: str) -> dict[str, str]:
    """Table rows by their metric label (the text before two spaces)."""
    return {line.strip().split("  ")[0]: line for line in text.splitlines()[2:] if line.startswith("  ")}


def test_paired_mnist_rows_say_the_direction_baselines_and_the_papers_value():
    text = summary(COLLAPSED, PAIRED_MNIST, step=10000)
    lines = text.splitlines()
    assert lines[0] == "Result at step 10000 (metrics.json):"
    assert lines[1].split() == ["metric", "value", "better", "baselines", "paper", "(factorgan,", "100", "pairs,",
                                "λ=0.9)"]
    table = rows(text)
    assert table["FID (mean over parts)"].split()[4:7] == ["718.7", "lower", "real"]
    assert "4.449 (other classifier: not comparable)" in table["FID (mean over parts)"]
    assert table["dependency metric"].split()[2:] == ["0.8989", "lower", "1.208"]  # the paper's FactorGAN, 100 pairs, λ 0.9
    assert table["classes covered (of 10)"].split()[4:] == ["1", "higher", "test", "split:", "10"]
    assert "also: fid_top=714.7, fid_bottom=722.7" in text  # the rest on one line
    assert "classifier_accuracy=0.955: the scorer's" in text and "classifier_accuracy" not in text.split("also:")[1].split("\n")[0]
    assert lines[-1].startswith("warning: mode collapse: the generator covers 1 of 10 classes")


def test_no_warning_when_half_the_classes_or_more_are_covered_and_no_paper_column_without_a_setting():
    healthy = {**COLLAPSED, "classes_covered": 10.0, "class_tv": 0.03}
    assert collapse_warning(healthy) is None and collapse_warning({**healthy, "classes_covered": 5.0}) is None
    assert collapse_warning({**healthy, "classes_covered": 4.0}) is not None
    text = summary(healthy, {**PAIRED_MNIST, "paired": 7})  # no paper run with 7 pairs
    assert "warning" not in text and "paper" not in text.splitlines()[1]


def test_separation_rows_put_each_sdr_beside_the_masks_and_count_the_rest():
    metrics = {}
    for source in ("vocals", "accompaniment"):
        for stat in ("median", "mad", "mean", "std", "sisec"):
            metrics[f"sdr_{source}_{stat}"] = 1.5
            for other in ("sir", "sar", "isr"):
                metrics[f"{other}_{source}_{stat}"] = 2.0
        for stat in ("median", "mean", "sisec"):
            metrics[f"sdr_{source}_{stat}_mask0.5"] = 0.25
            metrics[f"sdr_{source}_{stat}_oracle"] = 9.0
    config = {"experiment_name": "musdb_sep", "model": {"name": "factorgan"}, "paired": 10, "run_tags": {}}
    text = summary(metrics, config)
    table = rows(text)
    vocals = table["vocals SDR, dB (median of 15-s windows)"]
    assert "higher" in vocals and "0.5 mask: 0.25; oracle mask: 9" in vocals
    assert vocals.rstrip().endswith("3.009")  # the paper's FactorGAN, 10 songs
    assert "paper (factorgan, 10 songs)" in text.splitlines()[1]
    assert sum("higher" in r for r in table.values()) == 6 and "and 34 more metrics in metrics.json" in text  # not ~60 pairs
    synthetic = summary(metrics, {**config, "experiment_name": "musdb_sep_synthetic", "paired": 2})
    assert "paper" not in synthetic.splitlines()[1]


def test_arrays_energy_is_read_against_the_shuffled_parts():
    config = {"experiment_name": "arrays", "model": {"name": "factorgan"}, "paired": 100}
    same = summary({"energy": 0.679, "energy_shuffled": 0.676, "energy_part_0": 0.1}, config)
    assert "parts shuffled: 0.676" in rows(same)["energy distance to held-out samples"]
    assert "not clearly below the shuffled parts'" in same and "also: energy_part_0=0.1" in same
    learnt = summary({"energy": 0.2, "energy_shuffled": 0.676}, config)
    assert "the generator has learnt dependencies between the parts" in learnt


def test_the_line_during_training_leaves_the_scorer_out_and_says_a_collapse():
    assert one_line({"score": 1.5}) == "score=1.5"
    line = one_line(COLLAPSED)
    assert "classifier_accuracy" not in line and line.endswith("(mode collapse: 1/10 classes)")


def test_the_data_in_words():
    class Data:  # anything without the TrainingData answers: its repr
        def __repr__(self):
            return "Data()"
    assert describe_data(Data()) == "Data()"


def test_pooled_data_is_described_with_its_pools():
    import torch

    from factorgan.data.pools import from_observed
    from factorgan.method.factorisation import Factorisation

    x = torch.rand(10, 4)
    observed = torch.tensor([[1, 1]] * 4 + [[1, 0]] * 3 + [[0, 1]] * 3, dtype=torch.bool)
    data = from_observed(x, observed, Factorisation(0, [2, 2]), test=torch.rand(5, 4), name="toy")
    text = describe_data(data)
    assert text.startswith("toy; samples (4,) in 2 parts; training pools ") and text.endswith("; 5 test")
    assert "complete 4" in text


def test_the_custom_scalars_layout_draws_each_headline_with_its_baselines():
    from factorgan.summary import tensorboard_layout

    metrics = {"sdr_vocals_median": 1.0, "sdr_vocals_median_mask0.5": 0.2, "sdr_vocals_median_oracle": 9.0,
               "sir_vocals_median": 3.0}
    layout = tensorboard_layout(metrics)
    assert list(layout) == ["eval", "training"]
    (title, chart), (other, rest) = layout["eval"].items()
    assert title == "vocals SDR, dB (median of 15-s windows) (higher is better)"
    assert chart == ["Multiline", [r"^eval/sdr_vocals_median$", r"^eval/sdr_vocals_median_mask0\.5$",
                                   r"^eval/sdr_vocals_median_oracle$"]]
    assert other == "sir_vocals_median"  # the rest, one chart each
    assert "classifier_accuracy" not in tensorboard_layout({**COLLAPSED})["eval"]
