"""Mode coverage of generator objectives on PairedMNIST: class histograms of generated digits.

    python scripts/objectives_histogram.py /tmp/objectives/standard /tmp/objectives/reverse_kl \\
        /tmp/objectives/forward_kl /tmp/objectives/alpha --out docs/objectives_histogram.png

For each run directory (a PairedMNIST run of ``python -m factorgan.train``) it draws
``--num-samples`` generated pairs from the run's final checkpoint (``checkpoints/last.pt``,
noise seed ``--seed``, as the evaluator does), classifies the top and bottom digits with the
run's evaluation classifier (the PairedMNIST evaluator's; version 2, shipped for the
embedded digits, unless the run's config names another) and plots one panel per run: the
class frequencies of the generated top and bottom digits against the test split's. Each
panel's title names the objective (``loss`` of the run's config) with the FID and
dependency the run recorded in ``metrics.json`` (``n/a`` before it was evaluated), the
classes covered and the histogram distance (total variation, 0 = the test split's).
``--json`` also writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from factorgan.build import load_run
from factorgan.cli.common import main_guard
from factorgan.errors import CliError
from factorgan.data.interface import TEST
from factorgan.evaluators.paired_mnist import PairedMNISTEvaluator, check_paired_mnist, digits
from factorgan.method.losses import canonical_objective_name
from factorgan.metrics.coverage import MIN_SHARE, class_counts, total_variation  # noqa: F401  (MIN_SHARE: the threshold, here as before)
from factorgan.metrics.coverage import covered as classes_covered
from factorgan.runs.results.metrics_file import own_result
from factorgan.samples.generate import DEFAULT_SEED, draw_samples

NUM_CLASSES = 10
POSITIONS = ("top", "bottom")
# The evaluator settings that pick its classifier (the rest: FID sample counts, progress).
CLASSIFIER_KEYS = ("cache_dir", "protocol", "classifier_version", "classifier_epochs", "classifier_batch_size",
                   "classifier_lr", "classifier_seed")
DEFAULT_CLASSIFIER_VERSION = 2  # runs trained with evaluation=null: today's default classifier


@dataclass
class RunHistogram:
    """One run's class counts (``generated[position][class]``) and recorded metrics."""

    run: str
    objective: str
    num_samples: int
    generated: dict[str, list[int]]
    test: dict[str, list[int]]
    metrics: dict[str, float]
    covered: dict[str, int]          # classes with >= MIN_SHARE of the generated digits
    distance: dict[str, float]       # total variation to the test split's frequencies, in [0, 1]


def objective_label(loss_cfg: Any) -> str:
    """The objective's explicit name from a run's ``loss`` config (``kl`` -> ``reverse_kl``;
    ``alpha`` with its α)."""
    if not isinstance(loss_cfg, dict) or "name" not in loss_cfg:
        return "unknown"
    name = canonical_objective_name(str(loss_cfg["name"]))
    return f"alpha (α={loss_cfg.get('alpha', 0.5)})" if name == "alpha" else name


def run_classifier(config: dict[str, Any]) -> PairedMNISTEvaluator:
    """An evaluator with the run's classifier settings (version 2 when it configures none)."""
    evaluation = config.get("evaluation") or {}
    settings = {k: evaluation[k] for k in CLASSIFIER_KEYS if evaluation.get(k) is not None}
    settings.setdefault("classifier_version", DEFAULT_CLASSIFIER_VERSION)
    return PairedMNISTEvaluator(progress=False, **settings)


@torch.no_grad()
def run_histogram(run_dir: str | Path, num_samples: int, seed: int = DEFAULT_SEED,
                  device: str | None = "cpu") -> RunHistogram:
    """Class counts of ``num_samples`` generated pairs of the run's final checkpoint."""
    trainer, _ = load_run(run_dir, device=device)
    check_paired_mnist(trainer.data)
    model = run_classifier(trainer.config).classifier(trainer.data)
    classifier_device = next(model.parameters()).device
    fake = draw_samples(trainer.G, trainer.data, num_samples, seed).to(classifier_device)
    test_labels = trainer.data.labels(TEST).cpu()
    generated, test, covered, distance = {}, {}, {}, {}
    for i, (position, part) in enumerate(zip(POSITIONS, digits(trainer.data, fake))):
        counts = class_counts(model.predict(part), NUM_CLASSES)
        reference = class_counts(test_labels[:, i], NUM_CLASSES)
        generated[position] = counts.long().tolist()
        test[position] = reference.long().tolist()
        covered[position] = classes_covered(counts)
        distance[position] = total_variation(counts, reference)
    recorded = own_result(Path(run_dir))
    return RunHistogram(
        run=str(run_dir), objective=objective_label(trainer.config.get("loss")), num_samples=num_samples,
        generated=generated, test=test, metrics=dict(recorded["metrics"]) if recorded else {},
        covered=covered, distance=distance,
    )


def panel_title(h: RunHistogram) -> str:
    fid, dep = h.metrics.get("fid"), h.metrics.get("dependency")
    scores = f"FID {fid:.2f}" if fid is not None else "FID n/a"
    scores += f", dependency {dep:.3f}" if dep is not None else ""
    coverage = ", ".join(f"{p} {h.covered[p]}/10 classes, TV {h.distance[p]:.3f}" for p in POSITIONS)
    return f"{h.objective}: {scores}\n{coverage}"


def plot(histograms: list[RunHistogram], out: Path, dpi: int = 90) -> Path:
    """One panel per run: generated top/bottom class frequencies (bars) against the test
    split's (markers)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    cols = min(2, len(histograms))
    rows = -(-len(histograms) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.3 * rows), squeeze=False, sharey=True)
    classes = torch.arange(NUM_CLASSES).numpy()
    for ax, h in zip(axes.flat, histograms):
        for offset, position, colour in ((-0.2, "top", "tab:blue"), (0.2, "bottom", "tab:orange")):
            share = torch.tensor(h.generated[position], dtype=torch.float) / h.num_samples
            ref = torch.tensor(h.test[position], dtype=torch.float)
            ax.bar(classes + offset, share.numpy(), width=0.4, color=colour, label=f"generated {position}")
            ax.plot(classes + offset, (ref / ref.sum()).numpy(), "k_", markersize=9,
                    label="test split" if position == "top" else None)
        ax.set_title(panel_title(h), fontsize=8)
        ax.set_xticks(classes)
        ax.set_xlabel("digit class (classifier)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("share of digits", fontsize=8)
    for ax in list(axes.flat)[len(histograms):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def main(argv: list[str]) -> list[RunHistogram]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="PairedMNIST run directories, one panel each")
    parser.add_argument("--out", type=Path, default=Path("objectives_histogram.png"), help="figure file (.png)")
    parser.add_argument("--num-samples", type=int, default=1000, help="generated pairs per run (default 1000)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="noise seed (the evaluator's default)")
    parser.add_argument("--device", default="cpu", help="device to load the runs on (default cpu)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="also write the counts and metrics here")
    args = parser.parse_args(argv)
    if args.num_samples < 1:
        raise CliError(f"--num-samples={args.num_samples} must be at least 1")
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        histograms = [run_histogram(run, args.num_samples, args.seed, args.device) for run in args.runs]
    finally:
        torch.set_num_threads(before)  # a caller in the same process keeps its own setting
    print(f"wrote {plot(histograms, args.out)}")
    for h in histograms:
        print(f"  {h.run}: {panel_title(h).replace(chr(10), '; ')}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(h) for h in histograms], indent=2) + "\n")
        print(f"wrote {args.json}")
    return histograms


if __name__ == "__main__":
    main_guard(main, sys.argv[1:])
