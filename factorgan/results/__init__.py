"""Results of many runs: a tidy table (:func:`collect`) and paper-style figures
(:func:`metric_figure`); ``python -m factorgan.results <dir>`` writes both."""
from factorgan.results.collect import collect, find_runs
from factorgan.results.figures import metric_figure, summarise
from factorgan.results.reference import reference_for

__all__ = ["collect", "find_runs", "metric_figure", "summarise", "reference_for"]
