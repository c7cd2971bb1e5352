"""Few pairs: FactorGAN's dependency discriminator against memorising them, remedy by
remedy, beside the GAN with and without the same remedy (docs/experiments/pairing.md).

    python scripts/pairing_study.py --tasks cond --paired 100 --seeds 0 1 2          # train, then report
    python scripts/pairing_study.py --tasks cond uncond --paired 100 25 --report-only

Every arm is ``python -m factorgan.train`` on PairedMNIST (embedded digits, λ = 0.9) with
the same steps and seeds; only the model and the remedy differ, no setting tuned per arm.
Tasks: ``cond`` (the top digit is the generator's input) and ``uncond``. Runs go to
``<out>/<task>_p<paired>/<arm>/seed<s>``; a finished run is kept, an unfinished one
resumed, so a study cut off goes on where it stopped when the same command runs again.
Jobs are trained in the order seeds × arms of each (task, paired), so the first seed of
every arm comes first.

The report prints, per (task, paired), a markdown table (mean ± sd over seeds of the
final FID per digit, the dependency metric, the last held-out gap drop of the
discriminator that reads the pairs, training wall time) and draws
``<out>/<task>_p<paired>.png``: the dependency metric and the pair discriminator's logit
gap on training and held-out pairs during training.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from compare_trees import finished, mean_sd, train_wall_time  # noqa: E402  (scripts/ is on sys.path)

from factorgan.runs.results.metrics_file import read_metrics

TASKS = {"cond": ["dataset.conditional=true"], "uncond": []}
ARMS: dict[str, list[str]] = {
    "factorgan": ["model=factorgan"],
    "factorgan_translation": ["model=factorgan", "augment=translation"],
    "factorgan_ada": ["model=factorgan", "augment=ada"],
    "factorgan_ada_all": ["model=factorgan", "augment=ada", "augment.terms=all"],
    "factorgan_ada_shared": ["model=factorgan", "augment=ada", "augment.per_part=false"],
    "factorgan_ada_dep_p": ["model=factorgan", "augment=ada", "augment.terms=[dep_p]"],
    "factorgan_aug_dep_q": ["model=factorgan", "augment=ada", "augment.terms=[dep_q]", "augment.adaptive=null",
                            "augment.p=0.25"],
    "factorgan_r1": ["model=factorgan", "penalty=r1"],
    "factorgan_r1_dep_p": ["model=factorgan", "penalty=r1", "penalty.terms=[dep_p]"],
    "factorgan_r1_dep_q": ["model=factorgan", "penalty=r1", "penalty.terms=[dep_q]"],
    "factorgan_ada_r1": ["model=factorgan", "augment=ada", "penalty=r1"],
    "gan": ["model=gan"],
    "gan_ada": ["model=gan", "augment=ada"],
    "gan_r1": ["model=gan", "penalty=r1"],
}
# The term that reads the pairs, per model: its held-out gap measures memorisation.
PAIR_TERM = {"factorgan": "dep_p", "gan": "joint"}


def run_dir(out: Path, task: str, paired: int, arm: str, seed: int) -> Path:
    return out / f"{task}_p{paired}" / arm / f"seed{seed}"


def train_one(task: str, paired: int, arm: str, seed: int, steps: int, out: Path, threads: int,
              extra: list[str]) -> str:
    """Train one run to ``steps`` (resumed if cut off, kept if finished)."""
    path = run_dir(out, task, paired, arm, seed)
    if finished(path, steps):
        return f"{path}: finished at step {steps}, kept"
    command = [sys.executable, "-m", "factorgan.train", *TASKS[task], *ARMS[arm], f"paired={paired}", "lam=0.9",
               f"seed={seed}", f"trainer.max_steps={steps}", f"threads={threads}", "trainer.progress=false",
               f"hydra.run.dir={path}", *(["resume=true"] if (path / "checkpoints").exists() else []), *extra]
    path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    console = path.parent / f"{path.name}.console.txt"
    with open(console, "a") as log:
        rc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if rc:
        return f"{path}: FAILED (exit {rc}), see {console}"
    return f"{path}: trained in {time.perf_counter() - start:.0f} s"


def scalars(path: Path, prefix: str) -> dict[str, dict[int, float]]:
    """TensorBoard scalars of a run whose tag starts with ``prefix``: tag -> step -> value."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, dict[int, float]] = {}
    for events in sorted((path / "tb").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags().get("scalars", []):
            if tag.startswith(prefix):
                out.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
    return out


def collect(out: Path, task: str, paired: int, arms: list[str], seeds: list[int]) -> dict[str, list[dict[str, Any]]]:
    """Per arm, one dict per evaluated seed: final metrics, ``wall_s``, ``dependency_during``
    and the pair term's ``gap_train`` / ``gap_heldout`` curves (step -> value)."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for arm in arms:
        term = PAIR_TERM[ARMS[arm][0].split("=")[1]]
        for seed in seeds:
            path = run_dir(out, task, paired, arm, seed)
            data = read_metrics(path)
            if not data.get("metrics"):
                continue
            probe = scalars(path, f"overfit/{term}/")
            during = {int(s): r["metrics"]["dependency"] for s, r in data.get("during_training", {}).items()}
            gap_train = probe.get(f"overfit/{term}/gap_train", {})
            gap_heldout = probe.get(f"overfit/{term}/gap_heldout", {})
            last = max(gap_train) if gap_train else None
            rows.setdefault(arm, []).append({
                **data["metrics"], "seed": seed, "step": data["step"], "wall_s": train_wall_time(path),
                "dependency_during": during, "gap_train": gap_train, "gap_heldout": gap_heldout,
                "gap_drop": None if last is None else gap_train[last] - gap_heldout[last],
            })
    return rows


COLUMNS = ("fid_top", "fid_bottom", "dependency", "gap_drop")


def table(rows: dict[str, list[dict[str, Any]]]) -> str:
    """Markdown table, mean ± sd over seeds; a column that is 0 in every run (the given
    top digit's FID on the conditional task) is left out."""
    columns = [c for c in COLUMNS if any(abs(r.get(c) or 0.0) > 1e-6 for runs in rows.values() for r in runs)]
    lines = ["| arm | seeds | steps | " + " | ".join(columns) + " | training wall time |",
             "|---|---|---|" + "---|" * len(columns) + "---|"]
    for arm, runs in rows.items():
        walls = [r["wall_s"] for r in runs if r["wall_s"] is not None]
        wall = f"{statistics.mean(walls) / 60:.1f} min" if walls else "n/a"
        cells = [mean_sd([r[c] for r in runs]) if all(r.get(c) is not None for r in runs) else "n/a" for c in columns]
        lines.append(f"| {arm} | {','.join(str(r['seed']) for r in runs)} | "
                     f"{','.join(map(str, sorted({r['step'] for r in runs})))} | " + " | ".join(cells) + f" | {wall} |")
    return "\n".join(lines)


def mean_curve(runs: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    steps = sorted(set.intersection(*(set(r[key]) for r in runs))) if runs else []
    return steps, [statistics.mean(r[key][s] for r in runs) for s in steps]


def figure(title: str, rows: dict[str, list[dict[str, Any]]], path: Path) -> None:
    """Dependency during training, and the pair term's logit gap on training (solid) and
    held-out (dashed) pairs, mean over seeds per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (dep, gap) = plt.subplots(1, 2, figsize=(12, 4.2))
    for a, (arm, runs) in enumerate(rows.items()):
        steps, values = mean_curve(runs, "dependency_during")
        dep.plot(steps, values, color=f"C{a}", label=arm)
        for key, style in (("gap_train", "-"), ("gap_heldout", "--")):
            steps, values = mean_curve(runs, key)
            gap.plot(steps, values, style, color=f"C{a}", label=f"{arm} ({key[4:]})")
    dep.set_xlabel("generator step")
    dep.set_ylabel("dependency metric (lower is better)")
    dep.set_title("dependency during training (1,000 samples; mean over seeds)")
    dep.legend(fontsize=7)
    gap.set_xlabel("generator step")
    gap.set_ylabel("mean logit, real pairs − their fakes")
    gap.set_title("pair discriminator: training (solid) vs held-out (dashed) pairs")
    gap.legend(fontsize=6, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["cond"], choices=sorted(TASKS))
    parser.add_argument("--paired", type=int, nargs="+", default=[100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--steps", type=int, default=30000)
    parser.add_argument("--out", type=Path, default=Path("outputs/pairing"))
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    parser.add_argument("--report-only", action="store_true", help="no training: tables and figures of the runs")
    parser.add_argument("extra", nargs="*", help="further overrides for every run")
    args = parser.parse_intermixed_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    groups = [(task, paired) for task in args.tasks for paired in args.paired]
    if not args.report_only:
        for task, paired in groups:
            for seed in args.seeds:
                for arm in args.arms:
                    print(train_one(task, paired, arm, seed, args.steps, args.out, args.threads, args.extra), flush=True)
    for task, paired in groups:
        rows = collect(args.out, task, paired, args.arms, args.seeds)
        if not rows:
            print(f"{task}, {paired} pairs: no evaluated run yet under {args.out}")
            continue
        text = table(rows)
        print(f"\n{task}, {paired} pairs, λ = 0.9\n\n{text}")
        (args.out / f"{task}_p{paired}.md").write_text(text + "\n")
        figure(f"PairedMNIST {task}, {paired} pairs, λ = 0.9", rows, args.out / f"{task}_p{paired}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
