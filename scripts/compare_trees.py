"""Factorisation trees against flat FactorGAN on real digits, at equal steps
(docs/experiments/trees.md).

    python scripts/compare_trees.py hierarchical --steps 10000 --seeds 0 1 --jobs 2
    python scripts/compare_trees.py autoregressive --steps 10000 --seeds 0 1 --jobs 2
    python scripts/compare_trees.py hierarchical --report-only      # table and figure from the runs

Studies (each arm is ``python -m factorgan.train`` with the same data, steps and seeds;
only the discriminator's tree differs, no setting tuned per arm):

- ``hierarchical``: ``experiment=mnist_halves`` (PairedMNIST cut into half-digits: 100
  pairs, 200 whole top and 200 whole bottom digits, 600 observations of each half alone).
  Arms: ``hierarchical`` (``[[0,1],[2,3]]``: half-digit marginals, a pair per digit fed by
  whole digits, the root pair by the pairs), ``flat_digits`` (``[{leaf:[0,1]},{leaf:[2,3]}]``:
  flat FactorGAN over whole digits, which cannot use a half seen alone) and ``flat_halves``
  (``flat``: flat FactorGAN over the four halves, which never sees a digit whole but in
  the pairs).
- ``autoregressive``: ``experiment=triple_mnist`` (three stacked digits, 100 triples).
  Arms: ``chain`` (``[[0,1],2]``: x1 x2 against x1 and x2, then x1 x2 x3 against x1 x2 and
  x3) and ``flat`` (one pair over all three digits).
- ``autoregressive_prefixes``: the same arms when 1,000 further triples are seen without
  their last digit (``dataset.prefix_only=1000``): prefixes the chain's pair for (x1, x2)
  reads, which flat FactorGAN can use only as isolated digits.

Runs go to ``<out>/<study>/<arm>_seed<s>``; a finished run (its ``metrics.json`` at the
asked step) is kept, not trained again. The report prints a markdown table (mean ± sd over
seeds of the run's metrics, its steps and its training wall time, read from its TensorBoard
events) and draws ``<out>/<study>/<study>.png``: final FID per digit for each arm, and FID
during training. ``--jobs`` runs arms side by side (each with ``cores // jobs`` threads).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from factorgan.runs.results.metrics_file import read_metrics

STUDIES: dict[str, dict[str, Any]] = {
    "hierarchical": {
        "experiment": ["experiment=mnist_halves"],
        "arms": {
            "hierarchical": ["model.combined.tree=[[0,1],[2,3]]"],
            "flat_digits": ["model.combined.tree=[{leaf:[0,1]},{leaf:[2,3]}]"],
            "flat_halves": ["model.combined.tree=flat"],
        },
        "digits": ("fid_top", "fid_bottom"),
        "columns": ("fid_top", "fid_bottom", "fid", "dependency"),
    },
    "autoregressive": {
        "experiment": ["experiment=triple_mnist", "model=factorgan_tree"],
        "arms": {
            "chain": ["model.combined.tree=chain"],
            "flat": ["model.combined.tree=flat"],
        },
        "digits": ("fid_1", "fid_2", "fid_3"),
        "columns": ("fid_1", "fid_2", "fid_3", "fid", "dependency", "dependency_joint"),
    },
}
# The same two arms when 1,000 further stacks are seen without their last digit: prefixes
# that the chain's inner pair reads and flat FactorGAN cannot use together.
STUDIES["autoregressive_prefixes"] = {**STUDIES["autoregressive"],
                                      "experiment": [*STUDIES["autoregressive"]["experiment"], "dataset.prefix_only=1000"]}


def run_dir(out: Path, study: str, arm: str, seed: int) -> Path:
    return out / study / f"{arm}_seed{seed}"


def finished(path: Path, steps: int) -> bool:
    """Whether ``path`` holds a run evaluated at ``steps``."""
    data = read_metrics(path)
    return bool(data.get("metrics")) and data.get("step") == steps


def train_arm(study: str, arm: str, seed: int, steps: int, out: Path, threads: int, extra: list[str]) -> str:
    """Train one arm (unless finished); returns a line for the console."""
    path = run_dir(out, study, arm, seed)
    if finished(path, steps):
        return f"{path}: finished at step {steps}, kept"
    spec = STUDIES[study]
    command = [sys.executable, "-m", "factorgan.train", *spec["experiment"], *spec["arms"][arm], f"seed={seed}",
               f"trainer.max_steps={steps}", f"threads={threads}", "trainer.progress=false",
               f"hydra.run.dir={path}", *(["resume=true"] if (path / "checkpoints").exists() else []), *extra]
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(path.parent / f"{path.name}.console.txt", "w") as log:
        rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if rc:
        raise SystemExit(f"{' '.join(command)} failed (exit {rc}); its output: {path.parent / (path.name + '.console.txt')}")
    return f"{path}: trained in {time.perf_counter() - start:.0f} s"


def train_wall_time(path: Path) -> float | None:
    """Seconds between the first and last scalar event of the run's TensorBoard log (the
    training, without start-up and the final evaluation); None without events."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    times: list[float] = []
    for events in sorted((path / "tb").rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            times += [e.wall_time for e in acc.Scalars(tag)]
    return max(times) - min(times) if times else None


def arm_rows(study: str, out: Path, seeds: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Per arm, one dict per evaluated seed: its metrics, ``step``, ``wall_s`` and
    ``during`` (step -> FID during training)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for arm in STUDIES[study]["arms"]:
        for seed in seeds:
            path = run_dir(out, study, arm, seed)
            data = read_metrics(path)
            if not data.get("metrics"):
                continue
            during = {int(s): r["metrics"]["fid"] for s, r in data.get("during_training", {}).items()}
            rows.setdefault(arm, []).append({**data["metrics"], "step": data["step"], "seed": seed,
                                             "wall_s": train_wall_time(path), "during": during})
    return rows


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3g}" if abs(values[0]) < 10 else f"{values[0]:.1f}"
    m, s = statistics.mean(values), statistics.stdev(values)
    return f"{m:.3f} ± {s:.3f}" if abs(m) < 10 else f"{m:.1f} ± {s:.1f}"


def table(study: str, rows: dict[str, list[dict[str, Any]]]) -> str:
    """A markdown table: one row per arm, mean ± sd over its seeds."""
    columns = STUDIES[study]["columns"]
    lines = ["| arm | seeds | steps | " + " | ".join(columns) + " | training wall time |",
             "|---|---|---|" + "---|" * len(columns) + "---|"]
    for arm, runs in rows.items():
        walls = [r["wall_s"] for r in runs if r["wall_s"] is not None]
        wall = f"{statistics.mean(walls) / 60:.1f} min" if walls else "n/a"
        steps = sorted({r["step"] for r in runs})
        cells = [mean_sd([r[c] for r in runs]) if all(c in r for r in runs) else "n/a" for c in columns]
        lines.append(f"| {arm} | {','.join(str(r['seed']) for r in runs)} | {','.join(map(str, steps))} | "
                     + " | ".join(cells) + f" | {wall} |")
    return "\n".join(lines)


def figure(study: str, rows: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Final FID per digit for each arm (bars: mean over seeds, dots: each seed) and the
    mean FID during training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    digits = STUDIES[study]["digits"]
    fig, (bars, curves) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(rows), 1)
    for a, (arm, runs) in enumerate(rows.items()):
        xs = [d + (a - (len(rows) - 1) / 2) * width for d in range(len(digits))]
        means = [statistics.mean(r[k] for r in runs) for k in digits]
        bars.bar(xs, means, width, label=arm, color=f"C{a}")
        for r in runs:
            bars.plot(xs, [r[k] for k in digits], "k.", markersize=4)
        steps = sorted(set.intersection(*(set(r["during"]) for r in runs))) if runs else []
        if steps:
            curves.plot(steps, [statistics.mean(r["during"][s] for r in runs) for s in steps], label=arm, color=f"C{a}")
    bars.set_xticks(range(len(digits)), [d.replace("fid_", "") for d in digits])
    bars.set_ylabel("FID (lower is better)")
    bars.set_title("final FID per digit (dots: seeds)")
    bars.legend()
    curves.set_xlabel("generator step")
    curves.set_ylabel("FID during training (1,000 samples)")
    curves.set_yscale("log")
    curves.set_title("FID during training (mean over seeds)")
    curves.legend()
    fig.suptitle(f"{study}: trees against flat FactorGAN at equal steps")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--steps", type=int, default=10000, help="generator steps of every arm (default: trainer=cpu's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arms", nargs="+", default=None, help="a subset of the study's arms")
    parser.add_argument("--out", type=Path, default=Path("outputs/trees"))
    parser.add_argument("--jobs", type=int, default=1, help="arms trained side by side")
    parser.add_argument("--figure", type=Path, default=None, help="default: <out>/<study>/<study>.png")
    parser.add_argument("--report-only", action="store_true", help="no training: the table and figure of the runs")
    parser.add_argument("extra", nargs="*", help="further overrides for every arm (e.g. evaluation.every=1000)")
    args = parser.parse_intermixed_args(argv)  # overrides may follow the options
    arms = args.arms or list(STUDIES[args.study]["arms"])
    unknown = sorted(set(arms) - set(STUDIES[args.study]["arms"]))
    if unknown:
        parser.error(f"unknown arms {unknown} for {args.study}: choose from {list(STUDIES[args.study]['arms'])}")
    if not args.report_only:
        threads = max(1, (os.cpu_count() or 1) // args.jobs)  # parallel jobs split the cores: no oversubscription
        jobs = [(arm, seed) for seed in args.seeds for arm in arms]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            for line in pool.map(lambda j: train_arm(args.study, j[0], j[1], args.steps, args.out, threads, args.extra),
                                 jobs):
                print(line, flush=True)
    rows = arm_rows(args.study, args.out, args.seeds)
    rows = {arm: rows[arm] for arm in arms if arm in rows}
    if not rows:
        raise SystemExit(f"no evaluated run under {args.out / args.study}: train them first (without --report-only)")
    text = table(args.study, rows)
    print(text)
    (args.out / args.study / "results.md").write_text(text + "\n")
    path = args.figure or args.out / args.study / f"{args.study}.png"
    figure(args.study, rows, path)
    print(f"figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
