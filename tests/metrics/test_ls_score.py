"""LS score: the LSGAN loss, the test-split partition, and the evaluator on stand-in
generators with known answers (a copy of the real data scores ~0.5, a constant grey image
~0), its reproducibility, RNG hygiene and errors."""
from __future__ import annotations


import pytest
import torch
from torch import nn

from factorgan.data.in_memory import InMemoryData, as_float
from factorgan.method.factorisation import Factorisation
from factorgan.evaluators.image_pairs import LSScoreEvaluator
from factorgan.metrics.ls_score import ls_loss, partition

SHAPE = (4, 16, 16)  # the smallest image ConvDiscriminator takes is 8×8
FAST = dict(runs=2, epochs=8, batch_size=10, lr=1e-3, progress=False)  # bounds checked for seeds 0..9


def squares(n: int, seed: int) -> torch.Tensor:
    """``(n, 4, 16, 16)`` uint8 codes: a bright 5×5 square at a random place on a dark,
    slightly noisy background (structure a discriminator picks up quickly)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *SHAPE, generator=g) * 0.1
    for i in range(n):
        r, c = torch.randint(0, 12, (2,), generator=g).tolist()
        x[i, :, r : r + 5, c : c + 5] = 0.9 + 0.1 * torch.rand(4, 5, 5, generator=g)
    return (x * 255).round().to(torch.uint8)


class CopyReal(nn.Module):
    """A perfect 'generator': random rows of the real test data, from its own generator."""

    noise_dim = 2

    def __init__(self, pool: torch.Tensor, seed: int = 0) -> None:
        super().__init__()
        self.pool = as_float(pool)
        self.g = torch.Generator().manual_seed(seed)
        self.modes: list[bool] = []  # self.training at every call

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        assert z.shape[1] == self.noise_dim and -1 <= z.min() and z.max() <= 1
        self.modes.append(self.training)
        return self.pool[torch.randint(len(self.pool), (len(z),), generator=self.g)]


class Constant(nn.Module):
    """A bad 'generator': the same image every time."""

    noise_dim = 2

    def __init__(self, value: float = 0.5) -> None:
        super().__init__()
        self.value = value

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.full((len(z), *SHAPE), self.value)


class Noise(nn.Module):
    """A bad 'generator': uniform noise images, a function of z."""

    noise_dim = 2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        g = torch.Generator().manual_seed(int(z[0, 0].mul(1e6)) % 2**31)
        return torch.rand(len(z), *SHAPE, generator=g)


class Broken(CopyReal):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("generator failed")


def make_trainer(G: nn.Module, test: torch.Tensor, input_parts: int = 0) -> tuple[nn.Module, InMemoryData]:
    data = InMemoryData(train=squares(4, 1), test=test, factorisation=Factorisation(dim=0, sizes=[1, 3]),
                         paired=4, input_parts=input_parts, name="squares")
    return G, data


@pytest.fixture
def held_out() -> torch.Tensor:
    return squares(40, 100)


# ---- ls_loss --------------------------------------------------------------------------
def test_ls_loss_is_half_when_undecided_and_zero_when_perfect():
    half = torch.full((7,), 0.5)
    torch.testing.assert_close(ls_loss(half, torch.full((3,), 0.5)), torch.tensor(0.5))
    torch.testing.assert_close(ls_loss(torch.ones(5), torch.zeros(4)), torch.tensor(0.0))
    # Exactly wrong: real -> 0, fake -> 1 costs 1 per term.
    torch.testing.assert_close(ls_loss(torch.zeros(2), torch.ones(2)), torch.tensor(2.0))


def test_ls_loss_averages_each_side_separately():
    real, fake = torch.tensor([0.5]), torch.tensor([1.0, 0.0, -1.0])
    torch.testing.assert_close(ls_loss(real, fake), torch.tensor(0.25 + 2 / 3))


# ---- partition ------------------------------------------------------------------------
@pytest.mark.parametrize("n, fraction, n_train", [(10, 0.8, 8), (7, 0.8, 6), (500, 0.8, 400), (3, 0.5, 2)])
def test_partition_is_disjoint_complete_and_sized(n, fraction, n_train):
    train, test = partition(n, fraction, torch.Generator().manual_seed(0))
    assert len(train) == n_train and len(test) == n - n_train
    assert sorted(torch.cat([train, test]).tolist()) == list(range(n))  # disjoint and complete


def test_partition_is_reproducible_and_random():
    a = partition(50, 0.8, torch.Generator().manual_seed(3))
    b = partition(50, 0.8, torch.Generator().manual_seed(3))
    c = partition(50, 0.8, torch.Generator().manual_seed(4))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].tolist() != list(range(40))  # shuffled, not the first 80%


def test_ordered_partition_is_the_first_share_in_file_order_whatever_the_seed():
    for seed in (3, 4):
        train, test = partition(10, 0.8, torch.Generator().manual_seed(seed), split="ordered")
        assert train.tolist() == list(range(8)) and test.tolist() == [8, 9]
    with pytest.raises(ValueError, match="split='first'.*random.*ordered"):
        partition(10, 0.8, torch.Generator(), split="first")


@pytest.mark.parametrize("n, fraction", [(2, 0.8), (2, 0.1), (4, 0.95)])
def test_partition_refuses_to_leave_one_side_empty(n, fraction):
    with pytest.raises(ValueError, match="partition would be empty"):
        partition(n, fraction, torch.Generator().manual_seed(0))


# ---- the evaluator --------------------------------------------------------------------
def test_copy_of_real_data_scores_near_half_and_bad_generators_near_zero(held_out):
    good = LSScoreEvaluator(**FAST)(*make_trainer(CopyReal(held_out), held_out))
    assert set(good) == {"ls", "ls_std"}
    assert 0.3 < good["ls"] < 0.7, good
    for bad in (Constant(0.5), Constant(0.0), Noise()):
        m = LSScoreEvaluator(**FAST)(*make_trainer(bad, held_out))
        assert m["ls"] < 0.2 and m["ls"] < good["ls"] - 0.25, (type(bad).__name__, m)
        assert m["ls_std"] >= 0


def test_ordered_split_trains_every_run_on_the_first_share(held_out, monkeypatch):
    import factorgan.metrics.ls_score as ls

    seen = []
    real_partition = ls.partition

    def recording(n, fraction, generator, split):
        seen.append(real_partition(n, fraction, generator, split))
        return seen[-1]

    monkeypatch.setattr(ls, "partition", recording)
    ev = LSScoreEvaluator(runs=2, epochs=1, batch_size=10, split="ordered", progress=False)
    ev(*make_trainer(CopyReal(held_out), held_out))
    n_train = round(0.8 * len(held_out))
    assert len(seen) == 2 and all(train.tolist() == list(range(n_train)) for train, _ in seen)


def test_float_and_uint8_test_splits_give_the_same_score(held_out):
    ev = LSScoreEvaluator(runs=1, epochs=2, batch_size=10, progress=False)
    a = ev(*make_trainer(CopyReal(held_out), held_out))
    b = ev(*make_trainer(CopyReal(held_out), as_float(held_out)))
    assert a["ls"] == pytest.approx(b["ls"], rel=1e-5)
    assert a["ls_std"] == 0.0  # population std of one run


def test_same_seed_same_score_other_seed_other_score(held_out):
    trainer = make_trainer(Constant(0.5), held_out)  # deterministic generator: only the seed varies
    kw = dict(runs=2, epochs=2, batch_size=10, progress=False)
    a, b = LSScoreEvaluator(seed=5, **kw)(*trainer), LSScoreEvaluator(seed=5, **kw)(*trainer)
    c = LSScoreEvaluator(seed=6, **kw)(*trainer)
    assert a == b
    assert a["ls"] != c["ls"]


def test_global_rng_untouched_and_generator_mode_restored(held_out):
    G = CopyReal(held_out)
    ev = LSScoreEvaluator(runs=1, epochs=1, batch_size=10, progress=False)
    for training in (True, False):
        G.train(training)
        G.modes.clear()
        state = torch.get_rng_state()
        with torch.no_grad():  # also works when the caller evaluates without autograd
            ev(*make_trainer(G, held_out))
        assert torch.equal(torch.get_rng_state(), state)
        assert G.training == training
        assert G.modes and not any(G.modes)  # sampled in eval mode only


def test_generator_mode_restored_on_error(held_out):
    G = Broken(held_out).train()
    with pytest.raises(RuntimeError, match="generator failed"):
        LSScoreEvaluator(runs=1, epochs=1, progress=False)(*make_trainer(G, held_out))
    assert G.training


# ---- errors ---------------------------------------------------------------------------
def test_conditional_data_is_refused(held_out):
    trainer = make_trainer(CopyReal(held_out), held_out, input_parts=1)
    with pytest.raises(ValueError, match="unconditional.*input_parts=1"):
        LSScoreEvaluator(**FAST)(*trainer)


@pytest.mark.parametrize("n, match", [(0, "at least 2 samples.*has 0"), (1, "at least 2 samples.*has 1"),
                                      (2, "partition would be empty")])
def test_too_small_test_split_is_refused(n, match):
    test = squares(n, 0) if n else torch.empty(0, *SHAPE, dtype=torch.uint8)
    with pytest.raises(ValueError, match=match):
        LSScoreEvaluator(**FAST)(*make_trainer(Constant(), test))


@pytest.mark.parametrize("kw", [dict(runs=0), dict(epochs=0), dict(batch_size=0), dict(train_fraction=1.0),
                                dict(train_fraction=0.0), dict(split="first")])
def test_bad_settings_are_refused(kw):
    with pytest.raises(ValueError):
        LSScoreEvaluator(**kw)
