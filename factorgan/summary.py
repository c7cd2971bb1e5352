"""The table that ends a run and ``python -m factorgan.evaluate``: each headline metric,
which way is better, the baselines the evaluation scored beside it and the paper's value
for the same setting (:mod:`factorgan.results.reference`), then any warning (a generator
that covers fewer than half the classes: mode collapse).

    Result at step 10000 (metrics.json):
      metric                          value  better  baselines            paper (factorgan, 100 pairs, λ=0.9)
      FID (mean over parts)           158.2  lower   real test data: 0    4.45 (other classifier: not comparable)
      dependency metric               0.975  lower                        1.21
      classes covered (of 10)             1  higher  test split: 10
      class histogram distance (TV)   0.897  lower   test split: 0
      also: fid_top=160.1, fid_bottom=156.3 (classifier_accuracy=0.955: the scorer's, constant)
    warning: the generator covers 1 of 10 classes (mode collapse): ...
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

# Metrics that describe the scorer, not the generator (the same value at every evaluation
# of a run): shown apart from the generator's numbers, left out of curves' lines.
SCORER_METRICS = ("classifier_accuracy",)
NUM_CLASSES = 10  # digit classes (the class-coverage rows)
MAX_OTHERS = 8  # more non-headline metrics than this are only counted, not listed


@dataclass(frozen=True)
class Headline:
    """One row of the table: ``metric`` (its key in the evaluation's result), what it is,
    which way is better, and its baselines: ``scored`` are keys of the same result (the
    0.5 mask's SDR), ``known`` fixed values (the test split covers every class)."""

    metric: str
    label: str
    better: str  # "lower" or "higher"
    scored: tuple[tuple[str, str], ...] = ()  # (baseline's name, its metric key)
    known: tuple[tuple[str, str], ...] = ()  # (baseline's name, its value as text)
    reading: Callable[[float, Mapping[str, float]], str | None] | None = None  # a sentence on the value


def _energy_reading(value: float, metrics: Mapping[str, float]) -> str | None:
    shuffled = metrics.get("energy_shuffled")
    if shuffled is None:
        return None
    if value < 0.9 * shuffled:
        return (f"energy {value:.4g} is below the shuffled parts' {shuffled:.4g}: the generator has learnt "
                f"dependencies between the parts")
    return (f"energy {value:.4g} is not clearly below the shuffled parts' {shuffled:.4g}: the parts' "
            f"dependencies are not learnt (yet), at most each part's own distribution")


def _collapse_reading(value: float, metrics: Mapping[str, float]) -> str | None:
    return collapse_warning(metrics)


def _sdr_rows() -> tuple[Headline, ...]:
    rows = []
    for source in ("vocals", "accompaniment"):
        for stat, words in (("median", "median of 15-s windows"), ("mean", "mean of 15-s windows"),
                            ("sisec", "SiSEC, median of song medians")):
            key = f"sdr_{source}_{stat}"
            rows.append(Headline(key, f"{source} SDR, dB ({words})", "higher",
                                 scored=(("0.5 mask", f"{key}_mask0.5"), ("oracle mask", f"{key}_oracle"))))
    return tuple(rows)


HEADLINES: tuple[Headline, ...] = (
    Headline("fid", "FID (mean over parts)", "lower", known=(("real test data", "0"),)),
    Headline("dependency", "dependency metric", "lower"),
    Headline("dependency_joint", "joint dependency metric", "lower"),
    Headline("classes_covered", f"classes covered (of {NUM_CLASSES})", "higher",
             known=(("test split", str(NUM_CLASSES)),), reading=_collapse_reading),
    Headline("class_tv", "class histogram distance (TV)", "lower", known=(("test split", "0"),)),
    Headline("ls", "LS score (0.5: indistinguishable)", "higher", known=(("real data", "≈0.5"),)),
    Headline("pixel_accuracy", "pixel accuracy, %", "higher"),
    Headline("pixel_accuracy_official", "pixel accuracy, % (official code's)", "higher"),
    Headline("mse", "MSE of the colour maps", "lower"),
    Headline("energy", "energy distance to held-out samples", "lower",
             scored=(("parts shuffled", "energy_shuffled"),), known=(("same distribution", "0"),),
             reading=_energy_reading),
    *_sdr_rows(),
)


def collapse_warning(metrics: Mapping[str, float]) -> str | None:
    """A warning when the generated samples cover fewer than half the classes, or None."""
    covered = metrics.get("classes_covered")
    if covered is None or covered >= NUM_CLASSES / 2:
        return None
    tv = metrics.get("class_tv")
    distance = "" if tv is None else f"; its class histogram is {tv:.2f} from the test split's (TV: 0 the same, 1 disjoint)"
    return (f"warning: mode collapse: the generator covers {covered:.0f} of {NUM_CLASSES} classes{distance}. "
            f"FID and dependency mislead for a collapsed generator (one class over one class reads as a "
            f"strong dependency): look at samples/latest.png")


def paper_value(config: Mapping[str, Any], metric: str) -> tuple[str, str] | None:
    """The paper's value of ``metric`` for the run's setting (experiment, model, paired and
    λ) and the setting in words, or None where the paper has no such setting."""
    from factorgan.results.reference import read_table, reference_table  # pandas: only when asked

    experiment = str(config.get("experiment_name"))
    table = reference_table(experiment, metric)
    if table is None:
        return None
    model = str((config.get("model") or {}).get("name"))
    paired = config.get("paired")
    lam = (config.get("run_tags") or {}).get("lam")
    try:
        ref = read_table(table)
        rows = ref[(ref["model"] == model) & (ref["paired"] == float(paired))]  # type: ignore[arg-type]
        if lam is not None:
            rows = rows[rows["lam"].isna() | (rows["lam"] == float(lam))]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if len(rows) != 1:
        return None
    value = float(rows["value"].iloc[0])
    words = f"{model}, {paired} {'songs' if table.paired == 'Songs' else 'pairs'}" + (
        f", λ={lam}" if lam is not None else "")
    text = f"{value:.4g}" + ("" if table.comparable else " (other classifier: not comparable)")
    return text, words


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def _grid(rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


def summary(metrics: Mapping[str, float], config: Mapping[str, Any], step: int | None = None,
            where: str = "metrics.json") -> str:
    """The result table of ``metrics`` (an evaluation of the run of ``config``): headline
    rows, the other metrics in one line, readings and warnings (see the module docstring)."""
    heads = [h for h in HEADLINES if h.metric in metrics]
    at = "" if step is None else f" at step {step}"
    lines = [f"Result{at} ({where}):"]
    shown: set[str] = set()
    if heads:
        papers = {h.metric: paper_value(config, h.metric) for h in heads}
        settings = {p[1] for p in papers.values() if p is not None}
        paper_head = f"paper ({settings.pop()})" if len(settings) == 1 else "paper"
        table = [["metric", "value", "better", "baselines", paper_head]]
        for h in heads:
            base = [f"{name}: {_fmt(metrics[key])}" for name, key in h.scored if key in metrics]
            base += [f"{name}: {value}" for name, value in h.known]
            paper = papers[h.metric]
            table.append([h.label, _fmt(float(metrics[h.metric])), h.better, "; ".join(base),
                          "" if paper is None else paper[0]])
            shown |= {h.metric, *(key for _, key in h.scored)}
        if not any(papers.values()):
            table = [row[:4] for row in table]
        lines += ["  " + line for line in _grid(table, right={1})]
    others = [k for k in metrics if k not in shown and k not in SCORER_METRICS]
    scorer = [k for k in metrics if k in SCORER_METRICS]
    if others and len(others) <= MAX_OTHERS:
        lines.append("  " + ("also: " if heads else "") + ", ".join(f"{k}={_fmt(metrics[k])}" for k in others))
    elif others:
        lines.append(f"  and {len(others)} more metrics in {where}")
    if scorer:
        lines.append("  " + ", ".join(f"{k}={_fmt(metrics[k])}" for k in scorer)
                     + ": the scorer's, the same at every evaluation")
    for h in heads:
        said = h.reading(float(metrics[h.metric]), metrics) if h.reading is not None else None
        if said:
            lines.append(said if said.startswith("warning:") else f"  {said}")
    return "\n".join(lines)


def one_line(metrics: Mapping[str, float]) -> str:
    """An evaluation during training in one line: the generator's numbers (not the
    scorer's), and ``MODE COLLAPSE`` when fewer than half the classes are covered."""
    text = ", ".join(f"{k}={_fmt(v)}" for k, v in metrics.items() if k not in SCORER_METRICS)
    covered = metrics.get("classes_covered")
    if collapse_warning(metrics) is not None and covered is not None:
        text += f"  (mode collapse: {covered:.0f}/{NUM_CLASSES} classes)"
    return text


def describe_data(data: Any) -> str:
    """The training data in words for the run's header: name, sample shape, parts, the
    training pools (or samples and pairs) and the test split. Data that says itself in
    words already (MUSDB's songs), or does not answer the
    :class:`~factorgan.data.interface.TrainingData` questions, keeps its ``repr``."""
    from factorgan.data.interface import TEST, TRAIN

    if hasattr(data, "song_audio"):  # MusdbData: songs, snippets and paired songs, in words
        return repr(data)
    try:
        test = data.num_samples(TEST)
        parts = data.factorisation.num_parts
        shape = tuple(data.sample_shape)
        name, paired = data.name, int(data.paired)
        if hasattr(data, "pool_sizes"):  # PooledData: what each pool holds
            train = "training pools " + ", ".join(f"{k} {v:,}" for k, v in data.pool_sizes().items())
        else:
            train = f"{data.num_samples(TRAIN):,} training ({paired:,} paired)"
    except Exception:  # noqa: BLE001  (any data: the header must not fail)
        return repr(data)
    return f"{name}; samples {shape} in {parts} parts; {train}; {test:,} test"


def tensorboard_layout(metrics: Mapping[str, float]) -> dict[str, dict[str, list[Any]]]:
    """TensorBoard's Custom Scalars layout for a run whose evaluation reports ``metrics``:
    first ``eval``, one chart per headline metric with its baselines as lines of the same
    chart (FID with FID per part; an SDR with the 0.5 and oracle masks' SDR; energy with
    the shuffled parts'), then the discriminators' losses per term and the generator's."""
    charts: dict[str, list[Any]] = {}
    for h in HEADLINES:
        if h.metric not in metrics:
            continue
        tags = [h.metric, *(key for _, key in h.scored if key in metrics)]
        if h.metric == "fid":  # FID per part beside the mean (fid_top, fid_bottom; fid_1, ...)
            tags += [k for k in metrics if k.startswith("fid_")]
        charts[f"{h.label} ({h.better} is better)"] = ["Multiline", [f"^eval/{_escape(t)}$" for t in tags]]
    shown = {t for _, tags in charts.values() for t in tags}
    for name in metrics:
        if name not in SCORER_METRICS and f"^eval/{_escape(name)}$" not in shown and len(charts) < 12:
            charts[name] = ["Multiline", [f"^eval/{_escape(name)}$"]]
    return {
        "eval": charts,
        "training": {
            "discriminator loss per term": ["Multiline", [r"^loss/d_"]],
            "generator loss": ["Multiline", [r"^loss/g"]],
            "σ(d_C) on generated samples": ["Multiline", [r"^prob/"]],
        },
    }


def _escape(tag: str) -> str:
    import re

    return re.escape(tag)
