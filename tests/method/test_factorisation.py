import pytest
import torch

from factorgan.method.factorisation import Factorisation


def _batch(n: int = 64) -> torch.Tensor:
    # Every row of every part carries its sample index, so pairings are visible.
    idx = torch.arange(n, dtype=torch.float32)
    return idx.view(n, 1, 1, 1).expand(n, 1, 6, 2).clone() + torch.arange(6.0).view(1, 1, 6, 1) * 1000


def test_split_join_roundtrip_and_shapes():
    f = Factorisation(dim=1, sizes=[2, 4])
    x = torch.randn(5, 1, 6, 2)
    parts = f.split(x)
    assert [p.shape for p in parts] == [torch.Size([5, 1, 2, 2]), torch.Size([5, 1, 4, 2])]
    torch.testing.assert_close(f.join(parts), x, rtol=0, atol=0)
    assert f.part_shape((1, 6, 2), 1) == (1, 4, 2)


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="at least 2 parts"):
        Factorisation(dim=0, sizes=[3])
    with pytest.raises(ValueError, match="cannot be cut"):
        Factorisation(dim=1, sizes=[2, 2]).check_shape((1, 6, 2))


@pytest.mark.parametrize("sizes", [[3, 3], [2, 2, 2], [1, 1, 1, 1, 1, 1]])
def test_shuffle_keeps_each_parts_multiset_and_breaks_pairing(sizes):
    f = Factorisation(dim=1, sizes=sizes)
    x = _batch()
    g = torch.Generator().manual_seed(0)
    y = f.shuffle(x, g)
    assert y.shape == x.shape
    xs, ys = f.split(x), f.split(y)
    torch.testing.assert_close(ys[0], xs[0], rtol=0, atol=0)  # the first part stays
    sample_of = [p[:, 0, 0, 0] % 1000 for p in ys]  # which sample each part came from
    for k in range(1, len(sizes)):
        # same multiset of rows ...
        torch.testing.assert_close(
            torch.sort(ys[k].flatten(1), dim=0).values, torch.sort(xs[k].flatten(1), dim=0).values,
            rtol=0, atol=0,
        )
        # ... each part row intact (a whole row of one sample) ...
        assert torch.all(ys[k] % 1000 == sample_of[k].view(-1, 1, 1, 1))
        # ... but the pairing with part 0 is broken for most samples.
        assert (sample_of[k] != sample_of[0]).float().mean() > 0.8
    if len(sizes) > 2:  # parts are permuted independently of each other
        assert (sample_of[1] != sample_of[2]).float().mean() > 0.8


def test_shuffle_is_seeded():
    f = Factorisation(dim=1, sizes=[3, 3])
    x = _batch()
    a = f.shuffle(x, torch.Generator().manual_seed(1))
    b = f.shuffle(x, torch.Generator().manual_seed(1))
    c = f.shuffle(x, torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, c)


def test_group_shuffle_moves_the_parts_of_a_group_together():
    """A tree node shuffles its children: parts grouped as ((0,), (1, 2), (3, 4, 5))."""
    f = Factorisation(dim=1, sizes=[1] * 6)
    x = _batch()
    y = f.shuffle(x, torch.Generator().manual_seed(0), groups=((0,), (1, 2), (3, 4, 5)))
    rows = [p[:, 0, 0, 0] % 1000 for p in f.split(y)]  # the sample index each part came from
    torch.testing.assert_close(rows[0], torch.arange(64.0))  # the first group stays
    torch.testing.assert_close(rows[1], rows[2], rtol=0, atol=0)  # a group moves as one
    torch.testing.assert_close(rows[3], rows[5], rtol=0, atol=0)
    assert not torch.equal(rows[1], rows[3])  # groups move independently
    for part_x, part_y in zip(f.split(x), f.split(y)):  # every part keeps its multiset
        torch.testing.assert_close(part_x.flatten().sort().values, part_y.flatten().sort().values)


def test_default_groups_are_the_parts():
    f = Factorisation(dim=1, sizes=[2, 2, 2])
    a = f.shuffle(_batch(), torch.Generator().manual_seed(4))
    b = f.shuffle(_batch(), torch.Generator().manual_seed(4), groups=((0,), (1,), (2,)))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# ---- grids (factorisation=quadrants | grid) -------------------------------------------
from factorgan.method.factorisation import GridFactorisation  # noqa: E402


def test_grid_blocks_are_row_major_and_join_back():
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).view(2, 3, 4, 6)
    f = GridFactorisation(rows=2, cols=[2, 4])
    parts = f.split(x)
    assert f.num_parts == 4 and [tuple(p.shape[1:]) for p in parts] == [(3, 2, 2), (3, 2, 4), (3, 2, 2), (3, 2, 4)]
    torch.testing.assert_close(parts[1], x[:, :, :2, 2:], rtol=0, atol=0)  # top right
    torch.testing.assert_close(parts[2], x[:, :, 2:, :2], rtol=0, atol=0)  # bottom left
    torch.testing.assert_close(f.join(parts), x, rtol=0, atol=0)
    assert [f.part_shape((3, 4, 6), i) for i in range(4)] == [tuple(p.shape[1:]) for p in parts]
    assert f.joined_shape((3, 4, 6), [3]) == (3, 2, 4) and f.joined_shape((3, 4, 6), [0, 1, 2, 3]) == (3, 4, 6)


def test_grid_shuffle_keeps_each_blocks_multiset():
    f = GridFactorisation(2, 2)
    x = torch.arange(64, dtype=torch.float32).view(64, 1, 1, 1).expand(64, 1, 4, 4).clone()
    y = f.shuffle(x, torch.Generator().manual_seed(0))
    xs, ys = f.split(x), f.split(y)
    torch.testing.assert_close(ys[0], xs[0], rtol=0, atol=0)
    for k in range(1, 4):
        torch.testing.assert_close(torch.sort(ys[k].flatten(1), dim=0).values, torch.sort(xs[k].flatten(1), dim=0).values,
                                   rtol=0, atol=0)
        assert (ys[k][:, 0, 0, 0] != ys[0][:, 0, 0, 0]).float().mean() > 0.8


def test_grid_refuses_what_it_cannot_cut_or_show():
    with pytest.raises(ValueError, match="not divisible into 3"):
        GridFactorisation(3, 2).check_shape((1, 56, 28))
    with pytest.raises(ValueError, match="do not add up to 28"):
        GridFactorisation([28, 28], [10, 10]).check_shape((1, 56, 28))
    with pytest.raises(ValueError, match="cuts images"):
        GridFactorisation(2, 2).check_shape((48,))
    with pytest.raises(ValueError, match="factorisation=slices"):
        GridFactorisation(2, 2).joined_shape((1, 4, 4), [0, 1])
    with pytest.raises(ValueError, match="fewer than 2 parts"):
        GridFactorisation(1, 1)
