"""``experiment=mnist_pools``: PairedMNIST pairs plus isolated digits from disjoint sets."""
from __future__ import annotations

import pytest
import torch

from conftest import TINY_EVALUATED, compose_config
from factorgan.cli.train import train
from factorgan.data.interface import TEST, TRAIN, PairedCountError
from factorgan.data.mnist import paired_mnist
from factorgan.data.mnist_pools import mnist_pools
from factorgan.runs.metrics import read_metrics


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
