"""PooledData: pools of any size, any pattern of observed parts."""
from __future__ import annotations

import pytest
import torch

from factorgan.data.in_memory import InMemoryData
from factorgan.data.interface import TEST, TRAIN, DatasetError, PairedCountError
from factorgan.data.pools import PooledData, from_observed, from_pools
from factorgan.method.factorisation import Factorisation

F2 = Factorisation(dim=0, sizes=[2, 3])  # samples (5,): part 0 = 2 values, part 1 = 3


def ids(n: int, k_sizes=(2, 3)) -> torch.Tensor:
    """Samples whose every entry names its row: x[r] = r + 0.001 * column (float)."""
    cols = torch.arange(sum(k_sizes)).float() * 0.001
    return torch.arange(n).float().unsqueeze(1) + cols


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("input_parts", [0, 1])
def test_complete_data_draws_what_in_memory_data_draws(input_parts):
    x = torch.rand(40, 1, 12, 5)
    f = Factorisation(dim=1, sizes=[4, 8])
    mem = InMemoryData(x[:30], x[30:], f, paired=7, input_parts=input_parts)
    pool = from_observed(x[:30], torch.ones(30, 2, dtype=torch.bool), f, test=x[30:], paired=7,
                         input_parts=input_parts)
    assert pool.sample_shape == mem.sample_shape and pool.output_shape == mem.output_shape
    for draw in (lambda d, r: d.sample_paired(9, r), lambda d, r: d.sample_part(0, 9, r),
                 lambda d, r: d.sample_part(1, 9, r)):
        torch.testing.assert_close(draw(pool, g(3)), draw(mem, g(3)), rtol=0, atol=0)
    if input_parts:
        torch.testing.assert_close(pool.sample_outputs(9, g(5)), mem.sample_outputs(9, g(5)), rtol=0, atol=0)
        for paired_only in (False, True):
            torch.testing.assert_close(pool.sample_inputs(9, g(4), paired_only), mem.sample_inputs(9, g(4), paired_only),
                                       rtol=0, atol=0)
    index = torch.tensor([0, 5, 3])
    torch.testing.assert_close(pool.samples(TRAIN, index), mem.samples(TRAIN, index), rtol=0, atol=0)
    torch.testing.assert_close(pool.samples(TEST, index), mem.samples(TEST, index), rtol=0, atol=0)


def test_uint8_codes_are_decoded_per_batch():
    x = torch.randint(256, (10, 3, 4, 4), dtype=torch.uint8)
    pool = from_observed(x, torch.ones(10, 2, dtype=torch.bool), Factorisation(0, [1, 2]), test=x[:0])
    batch = pool.sample_paired(50, g())
    assert batch.dtype == torch.float32 and 0 <= batch.min() and batch.max() <= 1
    assert set((batch * 255).round().to(torch.uint8).flatten().tolist()) <= set(x.flatten().tolist())


def test_missing_entries_are_never_read():
    x = ids(12)
    observed = torch.ones(12, 2, dtype=torch.bool)
    observed[4:8, 1] = False  # rows 4..7: part 0 only
    observed[8:, 0] = False  # rows 8..11: part 1 only
    x[4:8, 2:] = float("nan")
    x[8:, :2] = float("nan")
    data = from_observed(x, observed, F2, test=x[:0])
    assert data.pool_sizes() == {"complete": 4, "paired": 4, "part_0": 8, "part_1": 8}
    part0 = data.sample_part(0, 2000, g())
    part1 = data.sample_part(1, 2000, g(1))
    assert not part0.isnan().any() and not part1.isnan().any()
    # Every observation of a part is drawn, and only those.
    assert set(part0[:, 0].long().tolist()) == set(range(8))
    assert set(part1[:, 0].long().tolist()) == {0, 1, 2, 3, 8, 9, 10, 11}
    # Complete samples keep their parts together.
    pairs = data.sample_paired(500, g(2))
    torch.testing.assert_close(pairs[:, 0].floor(), pairs[:, 4].floor(), rtol=0, atol=0)
    assert set(pairs[:, 0].long().tolist()) == {0, 1, 2, 3}


def test_paired_takes_the_first_complete_samples():
    x = ids(10)
    observed = torch.ones(10, 2, dtype=torch.bool)
    observed[1, 1] = False  # row 1 is not complete: the first 3 complete rows are 0, 2, 3
    data = from_observed(x, observed, F2, test=x[:0], paired=3)
    drawn = set(data.sample_paired(500, g())[:, 0].long().tolist())
    assert drawn == {0, 2, 3}
    # The other complete samples still feed the marginals.
    assert set(data.sample_part(1, 2000, g())[:, 0].long().tolist()) == set(range(10)) - {1}
    with pytest.raises(PairedCountError, match="maximum is paired=9"):
        from_observed(x, observed, F2, test=x[:0], paired=10)


def test_conditional_inputs_come_from_every_sample_holding_them():
    x = ids(10)
    observed = torch.ones(10, 2, dtype=torch.bool)
    observed[6:, 1] = False  # 6..9: inputs without outputs
    observed[:2, 0] = False  # 0..1: outputs without inputs
    data = from_observed(x, observed, F2, test=x[:0], paired=2, input_parts=1)
    inputs = data.sample_inputs(2000, g())
    assert inputs.shape == (2000, 2)
    assert set(inputs[:, 0].long().tolist()) == set(range(2, 10))
    assert set(data.sample_inputs(500, g(), paired_only=True)[:, 0].long().tolist()) == {2, 3}
    assert set(data.sample_outputs(2000, g())[:, 0].long().tolist()) == set(range(6))


def test_from_pools_keeps_pairs_and_singles_apart():
    pairs = ids(3)
    singles = [ids(5)[:, :2] + 100, ids(2)[:, 2:] + 200]
    data = from_pools(pairs, singles, F2, test=pairs[:0])
    assert data.pool_sizes() == {"complete": 3, "paired": 3, "part_0": 8, "part_1": 5}
    assert set(data.sample_paired(500, g())[:, 0].long().tolist()) == {0, 1, 2}
    assert set(data.sample_part(0, 3000, g())[:, 0].long().tolist()) == {0, 1, 2, 100, 101, 102, 103, 104}
    assert set(data.sample_part(1, 3000, g())[:, 0].long().tolist()) == {0, 1, 2, 200, 201}
    # The training split evaluation reads: the complete samples, joined.
    torch.testing.assert_close(data.samples(TRAIN, torch.arange(3)), pairs, rtol=0, atol=0)


def test_no_complete_samples_names_the_models_that_run_without_them():
    data = from_pools(ids(0), [ids(4)[:, :2], ids(4)[:, 2:]], F2, test=ids(0))
    assert data.paired == 0
    data.sample_part(0, 3, g())  # the marginals still train
    with pytest.raises(DatasetError, match="factorgan_no_cp"):
        data.sample_paired(3, g())


def test_bad_tables_get_clear_errors():
    x = ids(4)
    with pytest.raises(DatasetError, match=r"'observed' must be \(N, K\) = \(4, 2\)"):
        from_observed(x, torch.ones(4, 3, dtype=torch.bool), F2, test=x[:0])
    observed = torch.ones(4, 2, dtype=torch.bool)
    observed[2] = False
    with pytest.raises(DatasetError, match="sample 2 has no part observed"):
        from_observed(x, observed, F2, test=x[:0])
    with pytest.raises(DatasetError, match="part 1 .*map.* observations have shape"):
        PooledData([x[:, :2], x[:, :2]], torch.arange(4).unsqueeze(1).expand(4, 2), x[:0], F2,
                   part_names=["photo", "map"])
    with pytest.raises(DatasetError, match="exactly one sample"):
        PooledData([x[:, :2], x[:, 2:]], torch.zeros(4, 2, dtype=torch.long), x[:0], F2)


F3 = Factorisation(dim=0, sizes=[1, 1, 1])  # samples (3,): one value per part


def test_a_group_of_parts_is_drawn_from_every_sample_holding_it():
    """An inner tree split's D_P reads observations holding its parts together: the first
    ``paired`` complete samples and every partly observed sample holding the group, never
    a complete sample beyond ``paired`` (those count as isolated parts) nor one missing
    a part of the group; the other parts are zero."""
    x = torch.arange(1, 11).float().unsqueeze(1) * torch.tensor([1.0, 10.0, 100.0])  # row r: (r, 10r, 100r), r ≥ 1
    observed = torch.ones(10, 3, dtype=torch.bool)
    observed[4:7, 2] = False  # rows 5..7 (values): parts 0 and 1 only
    observed[7:9, 1] = False  # rows 8, 9: parts 0 and 2
    observed[9, :2] = False  # row 10: part 2 alone
    pool = from_observed(x, observed, F3, test=x[:0], paired=2)
    batch = pool.sample_observed((0, 1), 3000, g())
    torch.testing.assert_close(batch[:, 2], torch.zeros(3000))  # part 2 is not shown
    torch.testing.assert_close(batch[:, 1], batch[:, 0] * 10)  # parts 0 and 1 of one sample, together
    assert set(batch[:, 0].tolist()) == {1.0, 2.0, 5.0, 6.0, 7.0}  # paired 1, 2 and the partial rows 5..7
    other = pool.sample_observed((0, 2), 500, g())
    assert set(other[:, 0].tolist()) == {1.0, 2.0, 8.0, 9.0} and (other[:, 1] == 0).all()
    torch.testing.assert_close(other[:, 2], other[:, 0] * 100)
    pool_none = from_observed(x, observed, F3, test=x[:0], paired=0)
    with pytest.raises(DatasetError, match="no sample holds part 1, part 2 together"):
        pool_none.sample_observed((1, 2), 4, g())


def test_paper_data_has_a_group_of_parts_only_in_its_paired_samples():
    """InMemoryData (the paper's protocol: complete pairs, the rest seen one part at a
    time) draws a group from its paired samples, the other parts zeroed."""
    x = torch.arange(1, 21).float().unsqueeze(1) * torch.tensor([1.0, 10.0, 100.0])
    mem = InMemoryData(x, x[:0], F3, paired=4)
    batch = mem.sample_observed((1, 2), 2000, g())
    assert set(batch[:, 1].tolist()) == {10.0, 20.0, 30.0, 40.0} and (batch[:, 0] == 0).all()
    torch.testing.assert_close(batch[:, 2], batch[:, 1] * 10)


def test_in_memory_data_is_the_pooled_data_of_complete_samples():
    """One data class: InMemoryData only builds the pools (each part of every sample, row
    n pointing at sample n) and gives back the samples it was built from."""
    x = torch.randint(256, (9, 5), dtype=torch.uint8)
    mem = InMemoryData(x, x[:2], F2, paired=3)
    assert isinstance(mem, PooledData) and mem.all_complete
    assert torch.equal(mem.parts[0], x[:, :2]) and torch.equal(mem.parts[1], x[:, 2:])
    assert torch.equal(mem.rows, torch.arange(9).unsqueeze(1).expand(9, 2))
    assert torch.equal(mem.train, x) and mem.num_train == 9
    assert mem.pool_sizes() == {"paired": 3, "samples": 9}


@pytest.mark.parametrize("input_parts", [0, 1])
def test_row_aligned_draws_skip_the_table_and_draw_the_same_rows(input_parts):
    """Complete data stored row-aligned draws by the random row alone; the same data read
    through its sample table (the path of data with missing parts) draws bit-identical
    batches, and data whose rows are not aligned is not taken for aligned."""
    x = ids(12)
    fast = InMemoryData(x, x[:0], F2, paired=5, input_parts=input_parts)
    table = InMemoryData(x, x[:0], F2, paired=5, input_parts=input_parts)
    table.aligned = False
    assert fast.aligned
    draws = [lambda d, r: d.sample_paired(50, r), lambda d, r: d.sample_observed((0, 1), 50, r),
             lambda d, r: d.sample_outputs(50, r)]
    if input_parts:
        draws += [lambda d, r: d.sample_inputs(50, r), lambda d, r: d.sample_inputs(50, r, paired_only=True)]
    for draw in draws:
        torch.testing.assert_close(draw(fast, g(2)), draw(table, g(2)), rtol=0, atol=0)
    assert fast.sample_paired(200, g()).max() < 5  # the first `paired` rows only
    rows = torch.tensor([[11 - r, r] for r in range(12)])  # sample r: part 0 stored at row 11 - r
    swapped = PooledData([x[:, :2].flip(0), x[:, 2:]], rows, x[:0], F2, paired=5)
    assert not swapped.aligned
    torch.testing.assert_close(swapped.sample_paired(50, g(1)), table.sample_paired(50, g(1)), rtol=0, atol=0)


def test_complete_pools_can_be_cut_into_other_parts_and_incomplete_ones_cannot():
    from factorgan.method.factorisation import GridFactorisation

    x = torch.rand(6, 1, 4, 6)
    f = Factorisation(dim=1, sizes=[2, 2])
    pool = from_pools(x, [x[:0, :, :2], x[:0, :, 2:]], f, test=x[:1], paired=4)
    assert pool.all_complete and pool.with_factorisation(GridFactorisation(2, 3)) is pool
    assert pool.factorisation.num_parts == 6 and pool.paired == 4 and pool.sample_shape == (1, 4, 6)
    torch.testing.assert_close(pool.samples(TRAIN, torch.arange(6)), x, rtol=0, atol=0)
    block = pool.sample_part(5, 50, g())  # bottom-right 2×2 blocks of the samples
    assert block.shape == (50, 1, 2, 2)
    assert {tuple(b.flatten().tolist()) for b in block} <= {tuple(b.flatten().tolist()) for b in x[:, :, 2:, 4:]}
    pairs = pool.sample_paired(50, g(1))
    assert {tuple(p.flatten().tolist()) for p in pairs} <= {tuple(s.flatten().tolist()) for s in x[:4]}
    incomplete = from_pools(x[:3], [x[3:, :, :2], x[:0, :, 2:]], f, test=x[:0])
    with pytest.raises(DatasetError, match="stores its parts apart"):
        incomplete.with_factorisation(GridFactorisation(2, 2))


def test_a_grid_cut_needs_the_sample_shape_given():
    from factorgan.method.factorisation import GridFactorisation

    grid = GridFactorisation(2, 2)
    x = torch.rand(3, 1, 4, 4)
    parts = grid.split(x)
    rows = torch.arange(3).unsqueeze(1).expand(3, 4)
    with pytest.raises(DatasetError, match="give sample_shape"):
        PooledData(parts, rows, x[:0], grid)
    data = PooledData(parts, rows, x[:0], grid, sample_shape=(1, 4, 4))
    torch.testing.assert_close(data.samples(TRAIN, torch.tensor([2, 0])), x[[2, 0]], rtol=0, atol=0)
