"""Paper-style figures: a metric against the number of paired samples (log axis), one
line per model, mean and 95 % interval over seeds, one panel per λ, and the paper's
numbers dashed beside ours."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from factorgan.results.reference import reference_for

# One colour per model in every figure (matplotlib's tab10 order).
MODEL_COLOURS = {"gan": "tab:blue", "factorgan": "tab:orange", "factorgan_no_cp": "tab:green",
                 "gan_big": "tab:red"}
OTHER_COLOURS = ["tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray"]
GROUP = ["model", "name"]  # one line per model (and per name tag); panels split λ


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two ends of its Student-t ``level`` interval (both ends equal the
    mean for a single value: no interval from one seed)."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * stats.sem(values))
    return mean, mean - half, mean + half


def summarise(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (model, name, lam, paired): ``mean, low, high, n`` of ``metric`` over seeds."""
    data = table.dropna(subset=[metric]).copy()
    data["name"] = data["name"].fillna("")
    # λ panels where the experiment tags runs with PairedMNIST's lam, one panel otherwise.
    data["lam"] = data["lam"].astype(float) if "lam" in data else float("nan")
    rows = []
    for key, group in data.groupby([*GROUP, "lam", "paired"], dropna=False, sort=True):
        mean, low, high = mean_interval(group[metric].to_numpy())
        rows.append(dict(zip([*GROUP, "lam", "paired"], key), mean=mean, low=low, high=high, n=len(group)))
    return pd.DataFrame(rows, columns=[*GROUP, "lam", "paired", "mean", "low", "high", "n"])


def _same_lam(values: pd.Series, lam: float) -> np.ndarray:
    if math.isnan(lam):
        return values.isna().to_numpy()
    return np.isclose(values.astype(float).to_numpy(), lam)


def _colour(model: str, others: dict[str, str]) -> str:
    if model in MODEL_COLOURS:
        return MODEL_COLOURS[model]
    return others.setdefault(model, OTHER_COLOURS[len(others) % len(OTHER_COLOURS)])


def metric_figure(table: pd.DataFrame, experiment: str, metric: str) -> Figure | None:
    """The figure of ``metric`` for one experiment's runs, or None if no run has it.

    Lines are labelled ``<model>[ <name>]`` (ours, solid, shaded 95 % interval) and
    ``<model> (paper)`` (dashed) so they can be told apart in the legend and in tests.
    """
    # paired=all (users' own data) is no point on a paired-count axis.
    runs = table[(table["experiment"] == experiment) & (pd.to_numeric(table["paired"], errors="coerce") > 0)]
    runs = runs.assign(paired=pd.to_numeric(runs["paired"]))
    summary = summarise(runs, metric) if metric in runs else pd.DataFrame()
    if summary.empty:
        return None
    reference = reference_for(experiment, metric)
    lams = sorted(summary["lam"].unique(), key=lambda v: (math.isnan(v), v))
    fig = Figure(figsize=(4.5 * len(lams), 3.6), layout="constrained")
    axes = fig.subplots(1, len(lams), squeeze=False, sharey=True)[0]
    others: dict[str, str] = {}
    for ax, lam in zip(axes, lams):
        panel = summary[_same_lam(summary["lam"], lam)]
        for (model, name), line in panel.groupby(GROUP, sort=True):
            line = line.sort_values("paired")
            colour = _colour(model, others)
            label = f"{model} {name}".strip()
            ax.plot(line["paired"], line["mean"], "o-", color=colour, label=label)
            if (line["n"] > 1).any():
                ax.fill_between(line["paired"], line["low"], line["high"], color=colour, alpha=0.2, linewidth=0)
        if reference is not None:
            ref = reference[_same_lam(reference["lam"], lam)]
            for model in sorted(set(panel["model"]) & set(ref["model"])):
                points = ref[ref["model"] == model].sort_values("paired")
                ax.plot(points["paired"], points["value"], "x--", color=_colour(model, others),
                        alpha=0.8, label=f"{model} (paper)")
        ax.set_xscale("log")
        ax.set_xlabel("paired samples")
        ax.set_title(experiment if math.isnan(lam) else f"{experiment}, λ = {lam:g}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel(metric)
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
