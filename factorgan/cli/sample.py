"""Write generated samples of a run to an ``.npz`` file.

    python -m factorgan.sample run=<run dir> [n=2000] [out=samples.npz] [seed=1234]
                               [checkpoint=last] [device=auto] [overwrite=false] [--cfg job]

Writes key ``samples``: float32 ``(n, C, H, W)`` in [0, 1] (for PairedMNIST ``(n, 1, 56, 28)``,
top digit above bottom digit), plus ``seed``, ``step`` and ``checkpoint``, and a preview grid
of the first 64 next to it (``<out>.png``). The noise is drawn from its own generator
seeded by ``seed`` (default 1234, the seed the evaluation uses), so the same call gives
the same samples, and ``n=<test size>`` gives exactly the samples the run was evaluated on.
Conditional models take their inputs from the test split in order (cycled if n is larger).
``out`` defaults to ``samples.npz`` in the current directory; an existing file is kept
unless ``overwrite=true``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from factorgan import atomic_files
from factorgan.runs import checkpoint
from factorgan.build import load_run
from factorgan.cli.common import REQUIRED, Command, main_guard
from factorgan.errors import CliError
from factorgan.samples.images import displayable, image_grid, save_png
from factorgan.samples.generate import DEFAULT_SEED, draw_samples

COMMAND = Command(
    prog="python -m factorgan.sample",
    usage="run=<run dir> [n=2000] [out=samples.npz] [seed=1234] [checkpoint=last] [device=<device>] [overwrite=false]",
    doc=__doc__ or "",
    defaults={"run": REQUIRED, "n": 2000, "out": "samples.npz", "seed": DEFAULT_SEED,
              "checkpoint": checkpoint.LAST, "device": None, "overwrite": False},
    paths=frozenset({"run", "out"}),
)


def write_npz(path: Path, samples: Tensor, groups: list[int] | None = None, preview: Tensor | None = None,
              **meta: object) -> Path:
    """``samples`` (N, C, H, W) -> ``path`` (key ``samples``) and a grid preview ``path.png``
    (``groups``: the parts' channel counts, shown side by side; see :func:`displayable`;
    ``preview``: that image instead, ``(1 | 3, H, W)``).

    Each file is written whole or not at all (:func:`~factorgan.atomic_files.write_atomic`):
    a full disk is a :class:`RunError` saying so, and leaves no partial file."""
    again = "run the same command again (add overwrite=true)"
    array = samples.numpy().astype(np.float32)
    atomic_files.write_atomic(path, lambda f: np.savez_compressed(f, samples=array, **meta), again)
    grid = preview if preview is not None else image_grid(displayable(samples[:64], groups), nrow=8, padding=2,
                                                          pad_value=0.5)
    atomic_files.write_atomic(path.with_suffix(".png"), lambda f: save_png(grid, f),
                              f"write the preview again: {again}",
                              intact=f"The samples are in {path}; no partial preview was left.")
    return path


def vector_preview(data, samples: Tensor, n: int = 32) -> Tensor:  # noqa: ANN001 - TrainingData
    """Vector samples' preview: the first ``n`` as a heat map beside ``n`` real ones, parts
    bounded and named, as the run's sample writer draws them."""
    from factorgan.samples.arrays import heatmap_image

    return heatmap_image(data, data.examples(n).float(), samples[:n])


def main(argv: list[str]) -> Path:
    args = COMMAND.parse(argv)
    out = Path(args["out"])
    if out.suffix != ".npz":
        raise CliError(f"out={out} must end in .npz")
    if out.exists() and not args["overwrite"]:
        raise CliError(f"{out} exists; pass overwrite=true to replace it, or another out=")
    n, seed = int(args["n"]), int(args["seed"])
    device = None if args["device"] is None else str(args["device"])
    trainer, ckpt = load_run(args["run"], str(args["checkpoint"]), device)
    if n < 1:
        raise CliError(f"n={n} must be ≥ 1")
    samples = draw_samples(trainer.G, trainer.data, n, seed)
    f = trainer.data.factorisation
    scale: dict[str, object] = {}
    low, high = getattr(trainer.data, "low", None), getattr(trainer.data, "high", None)
    if low is not None and high is not None:  # arrays normalised to [0, 1]: also in the data's own units
        low, high = low.cpu(), high.cpu()
        scale = {"low": low.numpy(), "high": high.numpy(),
                 "samples_data": (low + (high - low) * samples).numpy().astype(np.float32)}
    preview = vector_preview(trainer.data, samples) if samples.dim() == 2 else None
    write_npz(out, samples, f.display_groups(), preview, seed=seed, step=trainer.step, checkpoint=ckpt, **scale)
    print(f"Wrote {n} samples {tuple(samples.shape[1:])} of {args['run']} ({ckpt}, step "
          f"{trainer.step}, seed {seed}) to {out} (preview {out.with_suffix('.png')})")
    return out


if __name__ == "__main__":
    main_guard(main)
