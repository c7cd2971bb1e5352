"""The paper's published numbers (``factorgan/reference/*.csv``), mapped onto our
experiment and metric names so figures can draw them beside our runs."""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import pandas as pd

# The paper's model names -> our `model.name`.
PAPER_MODELS = {
    "GAN": "gan",
    "GAN_big": "gan_big",
    "GAN (big)": "gan_big",
    "FactorGAN": "factorgan",
    "FactorGAN-no-cp": "factorgan_no_cp",
}


@dataclass(frozen=True)
class ReferenceTable:
    """Which rows and columns of a reference CSV give one of our (experiment, metric)."""

    experiment: str  # our experiment_name
    metric: str  # our metric name (metrics.json)
    file: str  # in factorgan/reference/
    value: str  # the column holding the metric
    sep: str = ","
    where: tuple[tuple[str, str], ...] = ()  # (column, value) filters
    paired: str = "Paired samples"  # the column holding our `paired`
    # False where the paper's values are on another scale than ours (FID: the paper's own
    # classifier's features): figures then draw them in a panel of their own.
    comparable: bool = True


REFERENCES = (
    ReferenceTable("paired_mnist", "fid", "paired_mnist_fid.csv", value="FID", sep=";", comparable=False),
    ReferenceTable("paired_mnist", "dependency", "paired_mnist_dependency.csv", value="Diff", sep=";"),
    ReferenceTable("cityscapes_seg", "mse", "cityscapes_segmentation.csv", value="Perf", where=(("Metric", "MSE"),)),
    # The paper's accuracy is the official code's per-image one (metrics/segmentation.py).
    ReferenceTable(
        "cityscapes_seg", "pixel_accuracy_official", "cityscapes_segmentation.csv", value="Perf",
        where=(("Metric", "Accuracy"),),
    ),
    # One row per evaluation run (10 per setting): read_table averages them.
    ReferenceTable("cityscapes_pairs", "ls", "image_pairs_ls.csv", value="LS", where=(("Dataset", "cityscapes"),)),
    ReferenceTable("edges2shoes", "ls", "image_pairs_ls.csv", value="LS", where=(("Dataset", "edges2shoes"),)),
    # Figure 6: 15-s windows of every test song pooled per source (the official aggregation).
    *(ReferenceTable("musdb_sep", f"sdr_{source.lower()}_{stat.lower()}", "musdb_sdr.csv", value=f"{stat} SDR",
                     where=(("Source", source),), paired="Songs")
      for source in ("Vocals", "Accompaniment") for stat in ("Mean", "Median")),
)


def read_table(table: ReferenceTable) -> pd.DataFrame:
    """One reference as a tidy frame: ``model, paired, lam, value`` (lam NaN if the
    experiment has no λ), one row per setting (the mean where the paper lists runs)."""
    with resources.files("factorgan").joinpath("reference", table.file).open() as f:
        raw = pd.read_csv(f, sep=table.sep)
    for column, value in table.where:
        raw = raw[raw[column] == value]
    unknown = sorted(set(raw["Model"]) - set(PAPER_MODELS))
    if unknown:
        raise ValueError(f"{table.file}: models {unknown} have no name in PAPER_MODELS")
    tidy = pd.DataFrame({
        "model": raw["Model"].map(PAPER_MODELS).to_numpy(),
        "paired": raw[table.paired].astype(float).to_numpy(),
        "lam": raw["Lambda"].astype(float).to_numpy() if "Lambda" in raw else float("nan"),
        "value": raw[table.value].astype(float).to_numpy(),
    })
    settings = ["model", "paired", "lam"]
    return tidy.groupby(settings, dropna=False, sort=False, as_index=False)["value"].mean()


def reference_table(experiment: str, metric: str) -> ReferenceTable | None:
    """Where the paper's numbers for ``metric`` of ``experiment`` are, or None."""
    for table in REFERENCES:
        if table.experiment == experiment and table.metric == metric:
            return table
    return None


def reference_for(experiment: str, metric: str) -> pd.DataFrame | None:
    """The paper's numbers for ``metric`` of ``experiment``, or None if it has none."""
    table = reference_table(experiment, metric)
    return None if table is None else read_table(table)
