"""Results figures tell every run setting apart, and never draw the paper's FID (another
classifier, another scale) on the axes of ours."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd

from factorgan.results.figures import metric_figure, tag_columns
from factorgan.results.reference import reference_for

IDS = ["experiment", "model", "paired", "lam", "seed", "name", "steps"]


def runs_table(rows: list[dict], tags: tuple[str, ...] = ("lam",)) -> pd.DataFrame:
    """A table laid out as :func:`collect` makes it: ids with run tags after ``paired``."""
    ids = ["experiment", "model", "paired", *tags, "seed", "name", "steps"]
    metrics = sorted({k for r in rows for k in r} - set(ids))
    table = pd.DataFrame(rows, columns=[*ids, *metrics, "run_dir"])
    table.attrs["id_columns"] = ids
    return table


def mnist_runs(names: tuple[str | None, ...], lams=(0.9,), metric="fid") -> pd.DataFrame:
    rows = []
    for n_index, name in enumerate(names):
        for lam in lams:
            for paired in (10, 100):
                for seed in range(2):
                    value = 100.0 / paired + 10 * n_index + seed
                    rows.append({"experiment": "paired_mnist", "model": "factorgan", "paired": paired, "lam": lam,
                                 "seed": seed, "name": name, "steps": 20, metric: value, "run_dir": f"r{len(rows)}"})
    return runs_table(rows)


def our_lines(ax):
    return [line for line in ax.get_lines() if "(paper)" not in line.get_label()]


def test_runs_differing_only_by_name_get_distinct_lines():
    fig = metric_figure(mnist_runs((None, "wide"), metric="dependency"), "paired_mnist", "dependency")
    lines = {line.get_label(): line for line in our_lines(fig.axes[0])}
    assert set(lines) == {"factorgan", "factorgan wide"}
    plain, wide = lines["factorgan"], lines["factorgan wide"]
    assert (plain.get_marker(), plain.get_linestyle()) != (wide.get_marker(), wide.get_linestyle())
    assert plain.get_color() == wide.get_color()  # one colour per model, as the paper's line
    np.testing.assert_allclose(plain.get_ydata(), [100 / 10 + 0.5, 100 / 100 + 0.5])  # mean of seeds 0, 1
    np.testing.assert_allclose(wide.get_ydata(), [100 / 10 + 10.5, 100 / 100 + 10.5])
    paper = [line for line in fig.axes[0].get_lines() if line.get_label() == "factorgan (paper)"]
    assert len(paper) == 1 and paper[0].get_linestyle() == "--"  # dependency: on our scale, our axes
    styles = {(line.get_marker(), line.get_linestyle()) for line in fig.axes[0].get_lines()}
    assert len(styles) == 3  # ours twice and the paper's: no two alike


def test_every_run_tag_value_is_a_line_of_its_own_also_from_the_csv(tmp_path):
    rows = [{"experiment": "mnist_pools", "model": "factorgan", "paired": p, "lam": 0.9, "top": top,
             "bottom": 1000.0, "seed": 0, "name": None, "steps": 20, "fid": float(p + top), "run_dir": "x"}
            for p in (10, 50) for top in (500.0, 2000.0)]
    rows.append({**rows[0], "top": None, "fid": 7.0})  # a run without the tag (an older config)
    table = runs_table(rows, tags=("lam", "top", "bottom"))
    fig = metric_figure(table, "mnist_pools", "fid")
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    # bottom is the same for every run: not in the labels; top differs: one line each
    assert set(lines) == {"factorgan", "factorgan top=500", "factorgan top=2000"}
    np.testing.assert_allclose(lines["factorgan top=2000"], [2010, 2050])
    np.testing.assert_allclose(lines["factorgan"], [7.0])
    # results.csv read back (no attrs): the tags are the columns between paired and seed
    back = pd.read_csv(io.StringIO(table.to_csv(index=False)))
    assert tag_columns(back) == ["lam", "top", "bottom"]
    again = metric_figure(back, "mnist_pools", "fid")
    assert {line.get_label() for line in again.axes[0].get_lines()} == set(lines)


def test_the_papers_fid_is_on_axes_of_its_own():
    fig = metric_figure(mnist_runs((None,), lams=(0.1, 0.9, 0.5)), "paired_mnist", "fid")
    assert len(fig.axes) == 6  # ours for three λ, then the paper's for the same three
    ours, paper = fig.axes[:3], fig.axes[3:]
    for ax in ours:
        assert [line.get_label() for line in ax.get_lines()] == ["factorgan"]
    for ax in paper:
        assert all(line.get_label() == "factorgan (paper)" for line in ax.get_lines())
        assert not ax.get_shared_y_axes().joined(ax, ours[0])  # its own scale
        assert ax.get_shared_x_axes().joined(ax, ours[paper.index(ax)])  # the same paired counts
    assert ["0.1" in ax.get_title() for ax in ours] == [True, False, False]  # panels 0.1, 0.5, 0.9
    ref = reference_for("paired_mnist", "fid")
    for ax, lam in ((paper[0], 0.1), (paper[2], 0.9)):
        x, y = ax.get_lines()[0].get_data()
        want = ref[(ref["model"] == "factorgan") & np.isclose(ref["lam"], lam)].sort_values("paired")
        np.testing.assert_allclose(x, want["paired"], rtol=0, atol=0)
        np.testing.assert_allclose(y, want["value"], rtol=1e-12, atol=0)
    assert not paper[1].get_lines()  # the paper has no λ = 0.5
    assert "not comparable" in paper[0].get_title()
    # comparable metrics keep the paper beside ours: one row of panels
    assert len(metric_figure(mnist_runs((None,), metric="dependency"), "paired_mnist", "dependency").axes) == 1


def test_equal_lines_are_dodged_apart_and_constants_get_no_figure():
    """Two models with the same values stay visible (shifted along the log axis, a few
    per cent); a metric equal in every run (the classifier's accuracy) gets no figure; a
    line of one point shows its seeds' interval as an error bar."""
    rows = []
    for model in ("gan", "factorgan"):
        for paired in (10, 100):
            for seed in range(2):
                rows.append({"experiment": "paired_mnist", "model": model, "paired": paired, "lam": 0.9, "seed": seed,
                             "name": None, "steps": 20, "dependency": 0.5 + seed, "classifier_accuracy": 0.955,
                             "constant": 3.0, "run_dir": f"r{len(rows)}"})
    table = runs_table(rows)
    fig = metric_figure(table, "paired_mnist", "dependency")
    gan, factorgan = sorted(our_lines(fig.axes[0]), key=lambda line: line.get_label())[::-1]
    assert np.array_equal(gan.get_ydata(), factorgan.get_ydata())  # the same values ...
    gx, fx = np.asarray(gan.get_xdata()), np.asarray(factorgan.get_xdata())
    assert np.all(gx != fx) and np.allclose(gx / fx, 10 ** 0.025)  # ... drawn side by side
    assert np.allclose(np.sqrt(gx * fx), [10, 100])  # around the true pair counts
    assert metric_figure(table, "paired_mnist", "classifier_accuracy") is None
    assert metric_figure(table, "paired_mnist", "constant") is None
    one = metric_figure(runs_table([r for r in rows if r["paired"] == 10]), "paired_mnist", "dependency")
    assert len(one.axes[0].containers) == 2  # an error bar per line of one point
