"""``python -m factorgan.results <dir> [--out <dir>]``: one CSV of every run under
``<dir>`` and the paper-style figures of every metric (PNG and PDF)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from factorgan.results.collect import collect, id_columns
from factorgan.results.figures import figure_stem, metric_figure, save_figure

CSV = "results.csv"


def metric_columns(table: pd.DataFrame) -> list[str]:
    ids = set(id_columns(table))
    return [c for c in table.columns if c not in ids and c != "run_dir"]


def write_results(root: Path, out: Path, scalars: Sequence[str] = ()) -> tuple[pd.DataFrame, Path, list[Path]]:
    """Write ``<out>/results.csv`` and one figure per (experiment, metric) with values
    (``scalars``: TensorBoard tags whose last values are added as metrics)."""
    table = collect(root, scalars)
    if table.empty:
        raise FileNotFoundError(
            f"no runs under {root}: a run directory holds config.yaml (and metrics.json once "
            f"evaluated). Point this at a sweep (multirun/<date>/<time>) or at outputs/."
        )
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / CSV
    table.to_csv(csv_path, index=False)
    figures: list[Path] = []
    for experiment in sorted(table["experiment"].dropna().unique()):
        for metric in metric_columns(table):
            fig = metric_figure(table, experiment, metric)
            if fig is not None:
                figures += save_figure(fig, out, figure_stem(experiment, metric))
    return table, csv_path, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m factorgan.results", description=__doc__)
    parser.add_argument("dir", type=Path, help="a sweep folder (multirun/<date>/<time>), outputs/, or one run")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <dir>/results)")
    parser.add_argument("--scalars", nargs="+", default=(), metavar="TAG",
                        help="also tabulate and plot the last value of these TensorBoard scalars, e.g. loss/g")
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        print(f"error: {args.dir} is not a directory", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else args.dir / "results"
    try:
        table, csv_path, figures = write_results(args.dir, out, args.scalars)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(table)} runs -> {csv_path}")
    for path in figures:
        print(f"  figure: {path}")
    if not figures:
        print("  no figures: no run has metrics yet (evaluation writes metrics.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
