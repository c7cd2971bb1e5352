"""``experiment=mnist_pools``: PairedMNIST pairs plus isolated digits from disjoint sets."""
from __future__ import annotations

import pytest
import torch

from conftest import TINY_EVALUATED, compose_config
from factorgan.cli.train import train
from factorgan.data.interface import TEST, TRAIN, PairedCountError
from factorgan.data.formats.mnist import paired_mnist
from factorgan.data.formats.mnist_pools import mnist_pools
from factorgan.runs.results.metrics_file import read_metrics


def digit_set(x: torch.Tensor) -> set[bytes]:
    """Each 28×28 digit ``(N, 1, 28, 28)`` as its bytes."""
    return {bytes(d.flatten().tolist()) for d in x}


def test_pools_have_their_counts_and_disjoint_digits():
    data = mnist_pools(paired=30, top_only=500, bottom_only=200, lam=0.9)
    assert data.pool_sizes() == {"complete": 30, "paired": 30, "part_0": 530, "part_1": 230}
    top, bottom = data.parts
    pair_digits = digit_set(top[:30]) | digit_set(bottom[:30])
    top_only, bottom_only = digit_set(top[30:]), digit_set(bottom[30:])
    assert len(top_only) == 500 and len(bottom_only) == 200
    assert not (top_only & bottom_only) and not (top_only & pair_digits) and not (bottom_only & pair_digits)
    # D_P sees only the pairs; the marginals see pairs and singles alike.
    drawn = data.sample_paired(300, torch.Generator().manual_seed(0))
    assert digit_set((drawn[:, :, :28] * 255).round().to(torch.uint8)) <= digit_set(top[:30])


def test_evaluation_splits_are_paired_mnists():
    pools = mnist_pools(paired=10, top_only=100, bottom_only=100, lam=0.5, seed=3)
    plain = paired_mnist(paired=10, lam=0.5, seed=3)
    assert pools.num_samples(TRAIN) == plain.num_samples(TRAIN) == 4000
    index = torch.arange(0, 4000, 97)
    torch.testing.assert_close(pools.samples(TRAIN, index), plain.samples(TRAIN, index), rtol=0, atol=0)
    torch.testing.assert_close(pools.samples(TEST, index[:10]), plain.samples(TEST, index[:10]), rtol=0, atol=0)
    assert torch.equal(pools.labels(TRAIN), plain.labels(TRAIN)) and torch.equal(pools.labels(TEST), plain.labels(TEST))


def test_pairs_and_singles_compete_for_the_digits():
    with pytest.raises(PairedCountError, match="maximum is paired=1000"):
        mnist_pools(paired=1001, top_only=2000, bottom_only=1000)
    with pytest.raises(Exception, match="leaves none"):
        mnist_pools(paired=1, top_only=3000, bottom_only=1000)


def test_experiment_trains_and_is_evaluated_as_paired_mnist(tmp_path):
    cfg = compose_config("experiment=mnist_pools", "paired=20", "dataset.top_only=300", "dataset.bottom_only=100",
                         *TINY_EVALUATED, "generator.hidden=16", "discriminator.hidden=16",
                         "evaluation.num_samples=100", "evaluation.classifier_epochs=1")
    assert cfg.run_path == "mnist_pools/factorgan/paired20_lam0.9_top300_bottom100_seed0"
    train(cfg, tmp_path / "run")
    metrics = read_metrics(tmp_path / "run")["metrics"]
    assert set(metrics) >= {"fid", "fid_top", "fid_bottom", "dependency", "classifier_accuracy"}
    assert metrics["classifier_accuracy"] > 0.5 and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


def halves_of(x: torch.Tensor, j: int) -> set[bytes]:
    """Half ``j`` (rows 14j .. 14j+13) of samples ``(N, 1, 56, 28)`` in [0, 1], as bytes."""
    return digit_set((x[:, :, 14 * j:14 * j + 14] * 255).round().to(torch.uint8))


def test_half_digit_pools_hold_whole_digits_together_and_halves_alone():
    data = mnist_pools(paired=20, top_only=50, bottom_only=40, half_only=30, halves=True)
    assert data.factorisation.sizes == [14, 14, 14, 14]
    assert data.pool_sizes() == {"complete": 20, "paired": 20, "part_0": 100, "part_1": 100,
                                 "part_2": 90, "part_3": 90}
    g = torch.Generator().manual_seed(0)
    # Whole top digits (the pairs' and the isolated ones) feed the split of the top digit:
    # upper and lower halves of one digit, the bottom digit zero.
    tops = data.sample_observed((0, 1), 2000, g)
    assert (tops[:, :, 28:] == 0).all() and data.observed_rows((0, 1)).shape[0] == 70
    assert len(digit_set((tops[:, :, :28] * 255).round().to(torch.uint8))) == 70
    pairs = data.sample_paired(2000, g)
    assert digit_set((pairs[:, :, :28] * 255).round().to(torch.uint8)) < digit_set((tops[:, :, :28] * 255).round().to(torch.uint8))
    # A half seen alone belongs to no whole digit: the top digit's upper-half pool holds 30
    # halves the whole top digits do not have.
    upper = {bytes(h.flatten().tolist()) for h in data.parts[0]}
    whole_uppers = halves_of(tops, 0)
    assert len(upper) == 100 and len(upper - whole_uppers) == 30
    bottoms = data.sample_observed((2, 3), 2000, g)
    assert (bottoms[:, :, :28] == 0).all() and data.observed_rows((2, 3)).shape[0] == 60
    # The pairs are the complete samples; a group across the digits exists only in them.
    assert data.observed_rows((1, 2)).shape[0] == 20
    # Conditional: the generator's input is the whole top digit (both halves), from every
    # sample holding it.
    cond = mnist_pools(paired=20, top_only=50, bottom_only=40, half_only=30, halves=True, conditional=True)
    assert cond.input_parts == 2 and cond.input_shape == cond.output_shape == (1, 28, 28)
    inputs = cond.sample_inputs(2000, g)
    assert digit_set((inputs * 255).round().to(torch.uint8)) == digit_set((tops[:, :, :28] * 255).round().to(torch.uint8))


def test_half_digit_pools_are_the_digits_of_the_k2_pools_cut_again():
    """halves=true with half_only=0 holds the same pairs and isolated digits as the K = 2
    pools, cut into halves."""
    k2 = mnist_pools(paired=15, top_only=40, bottom_only=30)
    k4 = mnist_pools(paired=15, top_only=40, bottom_only=30, halves=True)
    torch.testing.assert_close(k4.sample_paired(50, torch.Generator().manual_seed(1)),
                               k2.sample_paired(50, torch.Generator().manual_seed(1)), rtol=0, atol=0)
    assert digit_set(k2.parts[0]) == digit_set(torch.cat([k4.parts[0], k4.parts[1]], dim=2))
    with pytest.raises(Exception, match="need dataset.halves=true"):
        mnist_pools(paired=15, half_only=10)


@pytest.mark.parametrize("tree,groups,marginals", [
    ("[[0,1],[2,3]]", ((0, 1), (2, 3)), (0, 1, 2, 3)),
    ("[{leaf:[0,1]},{leaf:[2,3]}]", ((0, 1), (2, 3)), ()),
    ("flat", (), (0, 1, 2, 3)),
])
def test_mnist_halves_trains_each_tree_and_is_evaluated_as_paired_mnist(tmp_path, tree, groups, marginals):
    """The hierarchical tree reads half-digits (its marginals) and whole digits (its inner
    pairs); flat over digits reads whole digits only; flat over halves no whole digit."""
    cfg = compose_config("experiment=mnist_halves", "paired=20", "dataset.top_only=60", "dataset.bottom_only=60",
                         "dataset.half_only=40", f"model.combined.tree={tree}", *TINY_EVALUATED,
                         "generator.hidden=16", "discriminator.hidden=16", "evaluation.num_samples=100",
                         "evaluation.every=0")
    assert cfg.run_path == "mnist_halves/factorgan_tree/paired20_lam0.9_top60_bottom60_halves40_seed0"
    trainer = train(cfg, tmp_path / "run")
    assert trainer.D.observed_groups == groups and trainer.D.marginal_parts == marginals
    metrics = read_metrics(tmp_path / "run")["metrics"]
    assert {"fid_top", "fid_bottom", "dependency"} <= set(metrics)
    assert all(torch.isfinite(torch.tensor(metrics[k])) for k in ("fid_top", "fid_bottom", "dependency"))
