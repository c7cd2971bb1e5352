"""Users' own incomplete data as arrays: one ``.npz`` file.

Keys::

    x         (N, ...)   samples; entries of unobserved parts may hold anything (NaN too)
    observed  (N, K)     booleans: which of the K parts each sample holds
    x_test    (T, ...)   optional complete held-out samples (evaluation, sample grids)

The K parts are cut from a sample along ``dim`` with lengths ``sizes``, the keys the
synthetic dataset uses (``dataset.dim=0 'dataset.sizes=[16,16,16]'``). Samples holding
every part are complete; ``paired=N`` makes the first N of them available as pairs
(the rest feed the part pools), ``paired=all`` every one.

The generators end in a sigmoid, so values are mapped to [0, 1] per feature with the
minimum and maximum over the observed training entries (``normalise=true``, the
default); the dataset's ``low`` and ``high`` ``(*sample_shape)`` map generated samples
back (``x = low + (high - low) * sample``; ``python -m factorgan.sample`` writes both
beside the samples).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from factorgan.data.interface import DatasetError, parse_paired
from factorgan.data.pools import PooledData, from_observed
from factorgan.method.factorisation import Factorisation

LAYOUT = (
    "Expected an .npz file with\n"
    "  x         (N, ...)  samples (unobserved entries may hold anything, NaN too)\n"
    "  observed  (N, K)    booleans: which of the K parts each sample holds\n"
    "  x_test    (T, ...)  optional: complete held-out samples\n"
    "Write one with numpy.savez(path, x=x, observed=observed); docs/your_own_data.md shows how."
)


def _load(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"dataset.path={path} does not exist.\n{LAYOUT}")
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x93NUMPY"):
        raise DatasetError(f"{path} is a single .npy array, not an .npz archive of named arrays.\n{LAYOUT}")
    if not head.startswith(b"PK"):  # an .npz is a zip archive
        raise DatasetError(f"{path} is not an .npz archive (an .npz is a zip file; this one starts with "
                           f"{head!r}: text or another format).\n{LAYOUT}")
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as err:  # a corrupt zip, a pickled array, not an npz at all
        raise DatasetError(f"cannot read {path} as an .npz file ({err}).\n{LAYOUT}") from None


def _check_finite(part: np.ndarray, which: np.ndarray, i: int, path: Path) -> None:
    bad = ~np.isfinite(part.reshape(len(part), -1)).all(axis=1)
    if bad.any():
        sample = int(which[np.flatnonzero(bad)[0]])
        raise DatasetError(
            f"{path}: sample {sample} holds NaN or inf in part {i}, which 'observed' marks as observed "
            f"({int(bad.sum())} such samples); fix the values or mark the part unobserved"
        )


def _factorisation(dim: int, sizes: object) -> Factorisation:
    """``dataset.dim`` / ``dataset.sizes`` as a factorisation, or a message naming them."""
    if isinstance(sizes, (int, float, str)) or not all(isinstance(s, int) and not isinstance(s, bool) for s in sizes):
        raise DatasetError(f"dataset.sizes={sizes!r} must be a list of the parts' lengths along dataset.dim, "
                           "one per part, e.g. 'dataset.sizes=[8,8,8]' (K = 3 parts)")
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        why = "names fewer than 2 parts" if len(sizes) < 2 else "holds a part of length 0 or less"
        raise DatasetError(f"dataset.sizes={sizes} {why}: give each part's length along dataset.dim, at least "
                           "1 each, for at least 2 parts, e.g. 'dataset.sizes=[8,8,8]'")
    return Factorisation(dim, sizes)


def arrays(
    path: str,
    sizes: Sequence[int],
    dim: int = 0,
    paired: int | str | None = None,
    input_parts: int = 0,
    normalise: bool = True,
) -> PooledData:
    """Pools from ``path`` (see the module docstring): samples ``x.shape[1:]`` float32.

    Args:
        sizes: the parts' lengths along ``dim`` (K = ``len(sizes)``; they must add up to
            ``x.shape[1 + dim]``).
        dim: the sample dimension the parts are cut along (0 for vectors).
        paired: complete samples used as pairs (a count, or ``all``).
        input_parts: leading parts given to the generator (conditional models).
        normalise: map each feature to [0, 1] (min-max over observed training entries);
            false: the values must already lie in [0, 1].
    """
    file = Path(path).expanduser()
    arrays_ = _load(file)
    for key in ("x", "observed"):
        if key not in arrays_:
            raise DatasetError(f"{file} has no array {key!r} (it holds {sorted(arrays_)}).\n{LAYOUT}")
    x, observed = arrays_["x"], arrays_["observed"]
    f = _factorisation(dim, sizes)
    if np.iscomplexobj(x):
        raise DatasetError(f"{file}: x holds complex numbers ({x.dtype}); the generators make real values: store "
                           "the real and imaginary parts as two real features (or parts), e.g. "
                           "numpy.stack([x.real, x.imag], axis=1)")
    if x.dtype.kind not in "biuf":
        raise DatasetError(f"{file}: x must hold numbers, but its values are {x.dtype} "
                           f"({'text' if x.dtype.kind in 'SU' else 'not numeric'}); convert them to numbers "
                           "(x.astype(numpy.float32)) before saving")
    if x.ndim >= 1 and len(x) == 0:
        raise DatasetError(f"{file}: x has 0 rows: there are no samples to train on (x must be (N, ...), N ≥ 1)")
    if x.ndim < 2:
        raise DatasetError(f"{file}: x must be (N, ...) with one row per sample, got shape {x.shape}")
    try:
        f.check_shape(x.shape[1:])
    except ValueError as err:
        raise DatasetError(f"{file}: {err}; set dataset.dim and dataset.sizes to cut x's samples") from None
    if observed.shape != (len(x), f.num_parts):
        raise DatasetError(
            f"{file}: 'observed' must be (N, K) = ({len(x)}, {f.num_parts}) booleans, one column per part "
            f"of dataset.sizes={f.sizes}; it is {observed.shape}"
        )
    if observed.dtype != np.bool_ and not np.isin(observed, (0, 1)).all():
        raise DatasetError(f"{file}: 'observed' must hold booleans (or 0/1), found other values")
    observed = observed.astype(bool)
    x = x.astype(np.float32)
    x_test = arrays_.get("x_test", np.zeros((0, *x.shape[1:]), np.float32)).astype(np.float32)
    if x_test.shape[1:] != x.shape[1:]:
        raise DatasetError(f"{file}: x_test samples have shape {x_test.shape[1:]}, x's {x.shape[1:]}")
    if len(x_test) and not np.isfinite(x_test).all():
        raise DatasetError(f"{file}: x_test must be complete samples without NaN or inf")

    # Per-feature range over the observed entries only (missing ones are never read).
    parts = np.split(x, np.cumsum(f.sizes)[:-1], axis=1 + dim)
    low_parts, high_parts = [], []
    for i, part in enumerate(parts):
        which = np.flatnonzero(observed[:, i])
        _check_finite(part[which], which, i, file)
        seen = part[which]
        low_parts.append(seen.min(axis=0) if len(seen) else np.zeros(part.shape[1:], np.float32))
        high_parts.append(seen.max(axis=0) if len(seen) else np.ones(part.shape[1:], np.float32))
    low, high = np.concatenate(low_parts, axis=dim), np.concatenate(high_parts, axis=dim)
    if normalise:
        span = np.where(high > low, high - low, 1.0).astype(np.float32)  # constant features map to 0
        x = (x - low) / span
        x_test = np.clip((x_test - low) / span, 0.0, 1.0)  # held-out values may leave the training range
    else:
        for i, part in enumerate(parts):
            seen = part[observed[:, i]]
            if len(seen) and (seen.min() < 0 or seen.max() > 1):
                raise DatasetError(
                    f"{file}: part {i} holds values in [{seen.min():.3g}, {seen.max():.3g}], but the generators "
                    "produce [0, 1]: keep dataset.normalise=true or rescale the data"
                )
    data = from_observed(
        torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(observed), f,
        test=torch.from_numpy(np.ascontiguousarray(x_test)), paired=parse_paired(paired),
        input_parts=input_parts, name=f"arrays({file.name})",
    )
    data.low, data.high = torch.from_numpy(low), torch.from_numpy(high)  # type: ignore[attr-defined]
    return data
