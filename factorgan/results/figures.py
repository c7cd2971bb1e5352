"""Paper-style figures: a metric against the number of paired samples (log axis), one
line per run setting (model, ``name`` and the experiment's run tags), mean and 95 %
interval over seeds, one panel per λ, and the paper's numbers dashed: beside ours where
they are on our scale, in panels of their own below ours where they are not (FID).

Lines of one panel are shifted apart along the paired-samples axis by a few per cent
(:data:`DODGE`), so two settings with the same value do not hide each other; a line of
one point shows its seeds' interval as an error bar. A metric that is the same in every
run (the classifier's accuracy: the scorer's, not the runs') gets no figure."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from factorgan.results.collect import ID_COLUMNS
from factorgan.summary import SCORER_METRICS
from factorgan.results.reference import read_table, reference_table

# One colour per model in every figure (matplotlib's tab10 order).
MODEL_COLOURS = {"gan": "tab:blue", "factorgan": "tab:orange", "factorgan_no_cp": "tab:green",
                 "gan_big": "tab:red"}
OTHER_COLOURS = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]
GROUP = ["model", "name"]  # one line per model and name tag (and run tag: line_settings); panels split λ
PANEL = "lam"  # PairedMNIST's run tag: one panel per value
# Variants of one model (other name or run tags) share its colour, told apart by marker
# and line style; the paper's lines are "x" markers, dashed.
VARIANT_STYLES = [("o", "-"), ("s", "-."), ("^", ":"), ("D", (0, (5, 1))), ("v", (0, (3, 1, 1, 1))),
                  ("P", (0, (1, 1))), ("*", (0, (5, 2, 1, 2, 1, 2)))]
PAPER_STYLE = ("x", "--")
DODGE = 0.025  # decades between neighbouring lines of a panel on the log paired-samples axis


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two ends of its Student-t ``level`` interval (both ends equal the
    mean for a single value: no interval from one seed)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * stats.sem(values))
    return mean, mean - half, mean + half


def tag_columns(table: pd.DataFrame) -> list[str]:
    """The experiments' run tags among ``table``'s columns (``lam``, ``top`` ...): from
    :func:`~factorgan.results.collect.collect`'s record, else (a table read back from
    results.csv) the columns between ``paired`` and ``seed``, where collect puts them."""
    ids = table.attrs.get("id_columns")
    if ids is None and {"paired", "seed"} <= set(table.columns):
        columns = list(table.columns)
        ids = columns[columns.index("paired") + 1 : columns.index("seed")]
    return [c for c in (ids or []) if c not in ID_COLUMNS and c in table.columns]


def line_settings(table: pd.DataFrame) -> list[str]:
    """The columns whose every distinct combination is a line of its own: model, name
    and every run tag but the panels' λ."""
    return [*GROUP, *(c for c in tag_columns(table) if c != PANEL)]


def is_constant(table: pd.DataFrame, metric: str) -> bool:
    """Whether ``metric`` says nothing about the runs: the scorer's own number
    (:data:`~factorgan.summary.SCORER_METRICS`) or one value in every one of several runs."""
    values = pd.to_numeric(table[metric], errors="coerce").dropna() if metric in table else pd.Series(dtype=float)
    return metric in SCORER_METRICS or (len(values) > 1 and bool(np.isclose(values, values.iloc[0]).all()))


def dodged(paired: pd.Series, index: int, count: int) -> np.ndarray:
    """``paired`` shifted for line ``index`` of ``count`` on a log axis: the lines spread
    symmetrically around the true values, :data:`DODGE` decades apart."""
    return paired.to_numpy(dtype=float) * 10 ** (DODGE * (index - (count - 1) / 2))


def summarise(table: pd.DataFrame, metric: str, by: list[str] | None = None) -> pd.DataFrame:
    """Per (``by``, lam, paired): ``mean, low, high, n`` of ``metric`` over seeds
    (``by``: :func:`line_settings`, model, name and the run tags but λ)."""
    by = line_settings(table) if by is None else list(by)
    data = table.dropna(subset=[metric]).copy()
    data["name"] = data["name"].astype(object).where(data["name"].notna(), "")  # no name: ""
    # λ panels where the experiment tags runs with PairedMNIST's lam, one panel otherwise.
    data[PANEL] = data[PANEL].astype(float) if PANEL in data else float("nan")
    keys = [*by, PANEL, "paired"]
    rows = []
    for key, group in data.groupby(keys, dropna=False, sort=True):
        mean, low, high = mean_interval(group[metric].to_numpy())
        rows.append(dict(zip(keys, key), mean=mean, low=low, high=high, n=len(group)))
    return pd.DataFrame(rows, columns=[*keys, "mean", "low", "high", "n"])


def _same_lam(values: pd.Series, lam: float) -> np.ndarray:
    if math.isnan(lam):
        return values.isna().to_numpy()
    return np.isclose(values.astype(float).to_numpy(), lam)


def _colour(model: str, others: dict[str, str]) -> str:
    if model in MODEL_COLOURS:
        return MODEL_COLOURS[model]
    return others.setdefault(model, OTHER_COLOURS[len(others) % len(OTHER_COLOURS)])


def _label(key: dict[str, object], varying: list[str]) -> str:
    """``<model>[ <name>][ <tag>=<value> ...]``: the run tags that differ between lines."""
    parts = [str(key["model"]), str(key.get("name") or "")]
    for tag in varying:
        value = key[tag]
        if not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{tag}={value:g}" if isinstance(value, float) else f"{tag}={value}")
    return " ".join(p for p in parts if p)


def _key(values: tuple) -> tuple:
    # NaN != NaN: a tag a run lacks would never find its line's style again.
    return tuple(None if isinstance(v, float) and math.isnan(v) else v for v in values)


def line_styles(summary: pd.DataFrame, by: list[str]) -> dict[tuple, dict[str, object]]:
    """Per line (a tuple of ``by`` values): ``label, color, marker, linestyle``. Colour
    per model (the paper's lines of that model share it); a model's variants, in sorted
    order, get :data:`VARIANT_STYLES` in turn."""
    varying = [c for c in by[2:] if summary[c].nunique(dropna=False) > 1]
    others: dict[str, str] = {}
    styles: dict[tuple, dict[str, object]] = {}
    count: dict[str, int] = {}
    for key, _ in summary.groupby(by, dropna=False, sort=True):
        setting = dict(zip(by, key))
        model = str(setting["model"])
        i = count[model] = count.get(model, -1) + 1
        marker, linestyle = VARIANT_STYLES[i % len(VARIANT_STYLES)]
        styles[_key(key)] = {"label": _label(setting, varying), "color": _colour(model, others),
                             "marker": marker, "linestyle": linestyle}
    return styles


def metric_figure(table: pd.DataFrame, experiment: str, metric: str) -> Figure | None:
    """The figure of ``metric`` for one experiment's runs, or None if no run has it.

    Our lines (solid first, shaded 95 % interval) are labelled ``<model>[ <name>][ <tag>=<v>]``,
    one per distinct setting, and the paper's ``<model> (paper)`` (dashed): on our axes
    where the paper's values are on our scale, else on a row of axes of their own below
    ours (``fig.axes``: ours per λ, then the paper's per λ).
    """
    by = line_settings(table)
    # paired=all (users' own data) is no point on a paired-count axis.
    runs = table[(table["experiment"] == experiment) & (pd.to_numeric(table["paired"], errors="coerce") > 0)]
    runs = runs.assign(paired=pd.to_numeric(runs["paired"]))
    if metric not in runs or is_constant(runs, metric):
        return None
    summary = summarise(runs, metric, by)
    if summary.empty:
        return None
    source = reference_table(experiment, metric)
    reference = None if source is None else read_table(source)
    separate = reference is not None and not source.comparable
    lams = sorted(summary[PANEL].unique(), key=lambda v: (math.isnan(v), v))
    rows = 2 if separate else 1
    fig = Figure(figsize=(4.5 * len(lams), 3.6 * rows), layout="constrained")
    grid = fig.subplots(rows, len(lams), squeeze=False, sharex="col")
    for row in grid:  # λ panels of one row share their y axis; ours and the paper's do not
        for ax in row[1:]:
            ax.sharey(row[0])
    styles = line_styles(summary, by)
    colours = {key[0]: style["color"] for key, style in styles.items()}  # by[0] is the model
    for column, lam in enumerate(lams):
        ax = grid[0][column]
        panel = summary[_same_lam(summary[PANEL], lam)]
        lines = list(panel.groupby(by, dropna=False, sort=True))
        for index, (key, line) in enumerate(lines):
            line = line.sort_values("paired")
            style = styles[_key(key)]
            x = dodged(line["paired"], index, len(lines))
            ax.plot(x, line["mean"], **style)
            if (line["n"] > 1).any() and len(line) > 1:
                ax.fill_between(x, line["low"], line["high"], color=style["color"], alpha=0.2, linewidth=0)
            elif (line["n"] > 1).any():  # one point: its interval as an error bar
                ax.errorbar(x, line["mean"], yerr=[line["mean"] - line["low"], line["high"] - line["mean"]],
                            color=style["color"], capsize=3, linestyle="none")
        title = experiment if math.isnan(lam) else f"{experiment}, λ = {lam:g}"
        ax.set_title(title)
        if reference is not None:
            paper_ax = grid[1][column] if separate else ax
            ref = reference[_same_lam(reference[PANEL], lam)]
            for model in sorted(set(panel["model"]) & set(ref["model"])):
                points = ref[ref["model"] == model].sort_values("paired")
                marker, linestyle = PAPER_STYLE
                paper_ax.plot(points["paired"], points["value"], marker=marker, linestyle=linestyle,
                              color=colours[model], alpha=0.8, label=f"{model} (paper)")
            if separate:
                paper_ax.set_title(f"the paper's numbers{title[len(experiment):]}\n"
                                   f"(its own scale: not comparable with ours)", fontsize="medium")
                if not paper_ax.get_lines():
                    paper_ax.text(0.5, 0.5, "no paper numbers here", transform=paper_ax.transAxes,
                                  ha="center", va="center", color="gray")
    for row in grid:
        for ax in row:
            ax.set_xscale("log")
            ax.grid(True, which="both", alpha=0.3)
            if ax.get_lines():
                ax.legend(fontsize="small")
        row[0].set_ylabel(metric)
    for ax in grid[-1]:
        ax.set_xlabel("paired samples")
    if separate:
        grid[1][0].set_ylabel(f"{metric} (paper)")
    return fig


def figure_stem(experiment: str, metric: str) -> str:
    """A file name for the figure: metric names like ``class_accuracy/road`` are flattened."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{experiment}_{metric}")


def save_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf``; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150)
    return paths
