"""Incomplete data as pools: complete samples, partly observed samples and isolated parts.

FactorGAN exists for data where a few samples are complete and many are only partly
observed (50 photo–map pairs, 10,000 photos and 3,000 maps from other sources). A
:class:`PooledData` stores each part's observations on their own and a table of which
observations belong to one sample:

- ``parts[i]``: ``(M_i, *part_shape_i)`` every observation of part i (complete samples',
  partly observed samples' and isolated ones), uint8 pixel codes or float in [0, 1];
- ``rows``: ``(S, K)`` long, one row per sample: the index of its part i in ``parts[i]``,
  or −1 where the sample lacks part i. Every observation belongs to exactly one row.

Who draws from where (docs/your_own_data.md):

| consumer                               | draws from                                         |
|----------------------------------------|----------------------------------------------------|
| marginal D_i                           | every observation of part i (``parts[i]``)          |
| D_P, the GAN baseline                  | the first ``paired`` complete samples               |
| D_P of an inner tree split on parts S  | every partly observed sample holding all of S, and  |
|                                        | the first ``paired`` complete samples               |
| conditional generator inputs           | every sample holding all input parts               |
| same, ``paired_only`` (GAN baseline)   | the first ``paired`` complete samples               |
| CycleGAN's domain B                    | every sample holding all output parts              |

The paper's experiments (the first ``paired`` samples complete, every sample's parts in
the part pools) are the special case where every row is complete:
:class:`~factorgan.data.in_memory.InMemoryData` is the constructor for it (from one
tensor of whole samples), and such data can be cut into other parts
(:meth:`PooledData.with_factorisation`).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from factorgan.data.interface import TEST, TRAIN, DatasetError, PairedCountError, TrainingData, as_float
from factorgan.data.interface import parse_paired  # noqa: F401 (here as before)
from factorgan.method.factorisation import Factorisation, BaseFactorisation

# Models that train without any complete sample, named in the error when one is needed.
NO_PAIRS_MODELS = "model=factorgan_no_cp (no D_P), and model=cyclegan for conditional data"


def _part_name(names: Sequence[str] | None, i: int) -> str:
    return f"part {i}" + (f" ({names[i]})" if names else "")


def _rows(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` in ``x``'s layout: ``index_select`` (a fraction of indexing's per-call
    cost) for contiguous storage, indexing for channels-last images (keeps their layout)."""
    return x.index_select(0, index) if x.is_contiguous() else x[index]


class PooledData(TrainingData):
    """Training pools plus complete held-out samples.

    Args:
        parts: per part ``i``, ``(M_i, *part_shape_i)`` observations (uint8 codes or float).
        rows: ``(S, K)`` long: per sample, the row of each part in ``parts`` or −1.
        test: ``(T, *sample_shape)`` complete held-out samples (may be empty).
        factorisation: how a joint sample splits into the K parts.
        paired: complete samples usable as pairs (the first ``paired`` complete rows, in
            row order); None: all of them.
        input_parts: leading parts that are generator inputs (0: unconditional).
        name: a readable name for messages.
        part_names: what each part is ("photo", "map"), for messages.
        train_reference / train_labels: the training split as evaluation reads it (e.g.
            the digits a classifier trains on) and its labels; default: the complete
            samples, no labels.
        test_labels: per-sample labels of ``test`` ``(T, K)``.
        sample_shape: the joint sample's shape; default: the parts' shapes joined along a
            slice factorisation's dimension (a grid factorisation needs it given).
    """

    def __init__(
        self,
        parts: Sequence[Tensor],
        rows: Tensor,
        test: Tensor,
        factorisation: BaseFactorisation,
        paired: int | None = None,
        input_parts: int = 0,
        name: str = "dataset",
        part_names: Sequence[str] | None = None,
        train_reference: Tensor | None = None,
        train_labels: Tensor | None = None,
        test_labels: Tensor | None = None,
        sample_shape: Sequence[int] | None = None,
    ) -> None:
        k = factorisation.num_parts
        if len(parts) != k:
            raise DatasetError(f"{name}: {len(parts)} part pools for a factorisation into {k} parts")
        if rows.dim() != 2 or rows.shape[1] != k:
            raise DatasetError(f"{name}: the sample table must be (S, {k}), got {tuple(rows.shape)}")
        if not 0 <= input_parts < k:
            raise DatasetError(
                f"input_parts={input_parts} must leave at least one part to generate (the factorisation has {k} parts)"
            )
        self.factorisation = factorisation
        self.name = name
        self.part_names = list(part_names) if part_names else None
        self._sample_shape = self._check_parts(parts, test, sample_shape)
        rows = rows.long().to(parts[0].device)  # indexed by indices drawn on the parts' device
        self._check_rows(parts, rows)
        self.parts = list(parts)
        self.rows = rows
        self.test = test
        self.input_parts = int(input_parts)
        self.complete = rows[(rows >= 0).all(dim=1)]  # (C, K) in row order
        # Row-aligned storage (sample r is row r of every part, as complete_pools builds
        # it): every table's row r is (r, ..., r), so draws skip the table lookup.
        self.aligned = bool((rows == torch.arange(rows.shape[0], device=rows.device).unsqueeze(1)).all())
        n_complete = self.complete.shape[0]
        if paired is None:
            paired = n_complete
        if paired < 0:
            raise DatasetError(f"paired={paired} must be ≥ 0")
        if paired > n_complete:
            raise PairedCountError(
                f"paired={paired} is larger than the {n_complete} complete samples of {name}; "
                f"the maximum is paired={n_complete}"
            )
        self.paired = int(paired)
        self.inputs_rows = self._holding(range(self.input_parts)) if self.input_parts else None
        self.outputs_rows = self._holding(range(self.input_parts, k))
        self.train_reference = train_reference
        self.train_labels = train_labels
        self.test_labels = test_labels
        self._observed_tables: dict[tuple[int, ...], Tensor] = {}  # group -> (R, K) rows, built on first use

    # ---- construction checks ------------------------------------------------------
    def _check_parts(self, parts: Sequence[Tensor], test: Tensor, given: Sequence[int] | None) -> tuple[int, ...]:
        f = self.factorisation
        ranks = {p.dim() for p in parts}
        if len(ranks) != 1:
            raise DatasetError(f"{self.name}: the part pools have different ranks {[p.dim() for p in parts]}")
        if given is not None:
            sample_shape = tuple(int(s) for s in given)
        elif isinstance(f, Factorisation):
            # The joint shape: part 0's shape with the factorised dimension made whole.
            shape = list(parts[0].shape[1:])
            if f.dim >= len(shape):
                raise DatasetError(f"{self.name}: parts of shape {tuple(shape)} have no sample dim {f.dim} to join along")
            shape[f.dim] = sum(f.sizes)
            sample_shape = tuple(shape)
        else:
            raise DatasetError(f"{self.name}: give sample_shape, the joint shape {f} cuts")
        try:
            f.check_shape(sample_shape)
        except ValueError as err:
            raise DatasetError(f"{self.name}: {err}") from None
        for i, p in enumerate(parts):
            want = f.part_shape(sample_shape, i)
            if tuple(p.shape[1:]) != want:
                raise DatasetError(
                    f"{self.name}: {_part_name(self.part_names, i)} observations have shape "
                    f"{tuple(p.shape[1:])}, expected {want} (sample shape {sample_shape} cut {f})"
                )
        if test.shape[0] and tuple(test.shape[1:]) != sample_shape:
            raise DatasetError(f"{self.name}: test samples have shape {tuple(test.shape[1:])}, expected {sample_shape}")
        return sample_shape

    def _check_rows(self, parts: Sequence[Tensor], rows: Tensor) -> None:
        empty = (rows < 0).all(dim=1)
        if empty.any():
            first = int(empty.nonzero()[0])
            raise DatasetError(f"{self.name}: sample {first} has no part observed ({int(empty.sum())} such samples)")
        for i, p in enumerate(parts):
            col = rows[:, i]
            col = col[col >= 0]
            if col.numel() and int(col.max()) >= p.shape[0]:
                raise DatasetError(f"{self.name}: the sample table points past the {p.shape[0]} observations of part {i}")
            if col.numel() != p.shape[0] or col.unique().numel() != col.numel():
                raise DatasetError(
                    f"{self.name}: every observation of part {i} must belong to exactly one sample "
                    f"({p.shape[0]} observations, {col.numel()} references)"
                )

    def _holding(self, which: Sequence[int]) -> Tensor:
        """Rows ``(R, len(which))`` of the samples that hold every part in ``which``."""
        cols = self.rows[:, list(which)]
        return cols[(cols >= 0).all(dim=1)]

    # ---- shapes and placement -----------------------------------------------------
    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self._sample_shape

    @property
    def device(self) -> torch.device:
        return self.parts[0].device

    @property
    def all_complete(self) -> bool:
        """Whether every sample holds every part (the paper's data)."""
        return self.complete.shape[0] == self.rows.shape[0]

    def pool_sizes(self) -> dict[str, int]:
        """How many samples feed what: complete, paired, and each part's observations
        (data whose every sample is complete: its pairs and samples)."""
        if self.all_complete:
            return {"paired": self.paired, "samples": int(self.rows.shape[0])}
        parts = {f"part_{i}": int(p.shape[0]) for i, p in enumerate(self.parts)}
        return {"complete": int(self.complete.shape[0]), "paired": self.paired, **parts}

    def to(self, device: torch.device | str, memory_format: torch.memory_format = torch.preserve_format) -> "PooledData":
        def move(x: Tensor | None) -> Tensor | None:
            if x is None:
                return None
            return x.to(device, memory_format=memory_format) if x.dim() == 4 else x.to(device)

        self.parts = [move(p) for p in self.parts]  # type: ignore[misc]
        self.test = move(self.test)  # type: ignore[assignment]
        self.train_reference = move(self.train_reference)
        self._observed_tables = {}  # rebuilt on the new device
        for attr in ("rows", "complete", "inputs_rows", "outputs_rows", "train_labels", "test_labels"):
            value = getattr(self, attr)
            if value is not None:
                setattr(self, attr, value.to(device))
        return self

    # ---- training batches (indices drawn on the device: no host sync) -------------
    def _gather(self, table: Tensor, which: Sequence[int], n: int, high: int, rng: torch.Generator) -> Tensor:
        """``n`` samples drawn with replacement from the first ``high`` rows of ``table``
        (columns = the parts ``which``), their parts joined, as float."""
        pick = torch.randint(high, (n,), generator=rng, device=self.device)
        return as_float(self._joined(self._lookup(table, pick), which))

    def _lookup(self, table: Tensor, pick: Tensor) -> list[Tensor]:
        """Rows ``pick`` ``(n,)`` of ``table`` ``(R, K)``, per part (aligned: ``pick`` itself)."""
        return [pick] * table.shape[1] if self.aligned else list(table.index_select(0, pick).unbind(1))

    def _joined(self, rows: Sequence[Tensor], which: Sequence[int]) -> Tensor:
        """The parts ``which`` at ``rows`` (per part, its rows ``(n,)``), joined, as stored."""
        which = list(which)
        pieces = [_rows(self.parts[p], rows[j]) for j, p in enumerate(which)]
        return pieces[0] if len(which) == 1 else self.factorisation.join_some(pieces, which)

    def _whole(self, rows: Tensor) -> Tensor:
        """Whole samples at the table rows ``rows`` ``(n, K)``, as stored."""
        return self._joined(rows.unbind(1), range(self.factorisation.num_parts))

    def sample_paired(self, n: int, rng: torch.Generator) -> Tensor:
        if self.paired == 0:
            raise DatasetError(
                f"this model needs complete samples but {self.name} has paired=0 "
                f"({self.complete.shape[0]} complete). Models that train without them: {NO_PAIRS_MODELS}"
            )
        return self._gather(self.complete, range(self.factorisation.num_parts), n, self.paired, rng)

    def sample_part(self, i: int, n: int, rng: torch.Generator) -> Tensor:
        m = self.parts[i].shape[0]
        if m == 0:
            raise DatasetError(f"{self.name} has no observation of {_part_name(self.part_names, i)}")
        return as_float(_rows(self.parts[i], torch.randint(m, (n,), generator=rng, device=self.device)))

    def observed_rows(self, which: Sequence[int]) -> Tensor:
        """The rows ``(R, K)`` a group of parts is drawn from: the first ``paired``
        complete samples, then every partly observed sample holding all of ``which`` (a
        complete sample beyond ``paired`` counts as isolated parts only, as for D_P)."""
        key = tuple(int(i) for i in which)
        if key not in self._observed_tables:  # one host sync, on the first draw only
            held = (self.rows[:, list(key)] >= 0).all(dim=1) & (self.rows < 0).any(dim=1)
            self._observed_tables[key] = torch.cat([self.complete[: self.paired], self.rows[held]])
        return self._observed_tables[key]

    def sample_observed(self, which: Sequence[int], n: int, rng: torch.Generator) -> Tensor:
        which = [int(i) for i in which]
        table = self.observed_rows(which)
        if table.shape[0] == 0:
            names = ", ".join(_part_name(self.part_names, i) for i in which)
            raise DatasetError(
                f"{self.name}: no sample holds {names} together (paired={self.paired}); a tree split of "
                "these parts needs observations of them together, or make them one leaf"
            )
        idx = self._lookup(table, torch.randint(table.shape[0], (n,), generator=rng, device=self.device))
        f = self.factorisation
        pieces = [as_float(_rows(self.parts[p], idx[p])) if p in which else
                  torch.zeros((n, *f.part_shape(self.sample_shape, p)), device=self.device)
                  for p in range(f.num_parts)]
        return f.join(pieces)

    def sample_inputs(self, n: int, rng: torch.Generator, paired_only: bool = False) -> Tensor:
        if self.inputs_rows is None:
            raise DatasetError(f"{self.name} is unconditional: it has no generator inputs")
        k = self.input_parts
        table, high = (self.complete, self.paired) if paired_only else (self.inputs_rows, self.inputs_rows.shape[0])
        if high == 0:
            raise DatasetError(f"{self.name} leaves this model no generator inputs ({'paired=0' if paired_only else 'no sample holds them'})")
        return self._gather(table, range(k), n, high, rng)

    def sample_outputs(self, n: int, rng: torch.Generator) -> Tensor:
        k, table = self.input_parts, self.outputs_rows
        if table.shape[0] == 0:
            raise DatasetError(f"{self.name}: no sample holds every output part")
        cols = range(k, self.factorisation.num_parts)
        return self._gather(table, cols, n, table.shape[0], rng)

    # ---- evaluation batches ---------------------------------------------------------
    def num_samples(self, split: str = TEST) -> int:
        if split == TEST:
            return int(self.test.shape[0])
        if split == TRAIN:
            return int(self.train_reference.shape[0] if self.train_reference is not None else self.complete.shape[0])
        raise ValueError(f"split={split!r}: use {TRAIN!r} or {TEST!r}")

    def samples(self, split: str, index: Tensor) -> Tensor:
        if split == TEST:
            return as_float(self.test[index.to(self.test.device)].to(self.device))
        if split == TRAIN:
            if self.train_reference is not None:
                return as_float(self.train_reference[index.to(self.train_reference.device)].to(self.device))
            return as_float(self._whole(self.complete[index.to(self.device)]))
        raise ValueError(f"split={split!r}: use {TRAIN!r} or {TEST!r}")

    def labels(self, split: str = TEST) -> Tensor | None:
        return self.train_labels if split == TRAIN else self.test_labels

    def with_factorisation(self, factorisation: BaseFactorisation) -> "PooledData":
        """The same samples cut into ``factorisation``'s parts (``factorisation=slices|
        quadrants|grid``), in place: complete data only (parts stored apart keep their cut)."""
        if not self.all_complete:
            return super().with_factorisation(factorisation)  # type: ignore[return-value]  (raises)
        shape = self.sample_shape
        try:
            factorisation.check_shape(shape)
            if self.input_parts >= factorisation.num_parts:
                raise ValueError(f"{factorisation.num_parts} parts leave none to generate beside {self.input_parts} input parts")
            if self.input_parts:  # the generator's input and output must each be one tensor
                factorisation.joined_shape(shape, list(range(self.input_parts)))
                factorisation.joined_shape(shape, list(range(self.input_parts, factorisation.num_parts)))
        except ValueError as err:
            raise DatasetError(f"factorisation {factorisation} does not fit {self.name}: {err}") from None
        whole = self._whole(self.complete)  # (S, *sample_shape) in row order
        parts, rows = complete_pools(whole, factorisation)
        PooledData.__init__(
            self, parts, rows, self.test, factorisation, paired=self.paired, input_parts=self.input_parts,
            name=self.name, train_reference=self.train_reference, train_labels=self.train_labels,
            test_labels=self.test_labels, sample_shape=shape,
        )
        return self

    def __repr__(self) -> str:
        pools = ", ".join(f"{k}={v}" for k, v in self.pool_sizes().items())
        return f"PooledData({self.name}: {pools}, {self.test.shape[0]} test, {self.factorisation})"


# ---- builders ---------------------------------------------------------------------
def complete_pools(x: Tensor, factorisation: BaseFactorisation) -> tuple[list[Tensor], Tensor]:
    """Pools of complete samples ``x`` ``(N, *sample_shape)``: each part of every sample
    (contiguous, in sample order) and the table ``(N, K)`` whose row n points at sample n."""
    n, k = x.shape[0], factorisation.num_parts
    parts = [p.contiguous() for p in factorisation.split(x)]
    return parts, torch.arange(n, device=x.device).unsqueeze(1).expand(n, k)


def from_observed(
    x: Tensor, observed: Tensor, factorisation: Factorisation, **kwargs: object
) -> PooledData:
    """Pools from joint samples ``x`` ``(N, *sample_shape)`` and a mask ``observed``
    ``(N, K)`` of which parts each holds: part i's pool is part i of every sample that
    observes it (in sample order); missing entries are never read (may hold NaN)."""
    n, k = x.shape[0], factorisation.num_parts
    name = str(kwargs.get("name", "dataset"))
    if observed.dim() != 2 or tuple(observed.shape) != (n, k):
        raise DatasetError(
            f"{name}: 'observed' must be (N, K) = ({n}, {k}) booleans (one column per part), got {tuple(observed.shape)}"
        )
    observed = observed.bool()
    split = factorisation.split(x)
    parts, rows = [], torch.full((n, k), -1, dtype=torch.long)
    for i in range(k):
        mask = observed[:, i]
        parts.append(split[i][mask].contiguous())
        rows[mask, i] = torch.arange(int(mask.sum()))
    return PooledData(parts, rows, factorisation=factorisation, **kwargs)  # type: ignore[arg-type]


def from_pools(
    pairs: Tensor, singles: Sequence[Tensor], factorisation: Factorisation, **kwargs: object
) -> PooledData:
    """Pools from complete samples ``pairs`` ``(P, *sample_shape)`` and isolated
    observations ``singles[i]`` ``(S_i, *part_shape_i)`` of each part (any may be empty).
    Rows: the complete samples first (in order), then each part's singles."""
    k = factorisation.num_parts
    if len(singles) != k:
        raise DatasetError(f"{len(singles)} pools of isolated parts for a factorisation into {k} parts")
    split = factorisation.split(pairs)
    p = pairs.shape[0]
    parts, blocks = [], [torch.arange(p).unsqueeze(1).expand(p, k)]
    for i in range(k):
        s = singles[i].shape[0]
        parts.append(torch.cat([split[i], singles[i].to(pairs.dtype)]) if s else split[i].contiguous())
        block = torch.full((s, k), -1, dtype=torch.long)
        block[:, i] = torch.arange(p, p + s)
        blocks.append(block)
    return PooledData(parts, torch.cat(blocks), factorisation=factorisation, **kwargs)  # type: ignore[arg-type]
