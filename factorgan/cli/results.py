"""One CSV of every run under ``dir`` and the paper-style figures of every metric (PNG and PDF).

    python -m factorgan.results dir=<dir> [out=<dir>] [scalars=[TAG,...]] [--cfg job] [--help]
    python -m factorgan.results <dir> [--out <dir>] [--scalars TAG ...]      (the same)

``dir``: a sweep folder (multirun/<date>/<time>), outputs/, or one run; ``out``: where to
write (default: <dir>/results); ``scalars``: also tabulate and plot the last value of
these TensorBoard scalars, e.g. loss/g.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from factorgan.cli.common import REQUIRED, Command
from factorgan.errors import CliError
from factorgan.results.collect import collect, id_columns
from factorgan.results.figures import figure_stem, metric_figure, save_figure

CSV = "results.csv"
COMMAND = Command(
    prog="python -m factorgan.results",
    usage="dir=<dir> [out=<dir>] [scalars=[TAG,...]]",
    doc=__doc__ or "",
    defaults={"dir": REQUIRED, "out": None, "scalars": []},
    paths=frozenset({"dir", "out"}),
    positional="dir",
    flags={"--out": "out", "--scalars": "scalars"},
    many=frozenset({"--scalars"}),
)


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
    try:
        args = COMMAND.parse(sys.argv[1:] if argv is None else argv)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    root = Path(args["dir"])
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    out = Path(args["out"]) if args["out"] is not None else root / "results"
    try:
        table, csv_path, figures = write_results(root, out, [str(tag) for tag in args["scalars"]])
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
