"""The Table 3 classifier: shapes, that it learns, and its cache keyed by the training data."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from factorgan.data.mnist import load_embedded
from factorgan.metrics.mnist_classifier import (
    CACHE_ENV, ClassifierSettings, MNISTClassifier, accuracy, default_cache_dir, load_or_train, to_uint8,
)

ONE_EPOCH = ClassifierSettings(epochs=1)


def as_tensors(images, labels) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(images).float().div(255).unsqueeze(1), torch.from_numpy(labels)


@pytest.fixture(scope="module")
def digits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    train, test = load_embedded()
    return {"train": as_tensors(*train), "test": as_tensors(*test)}


def test_shapes_follow_table_3():
    model = MNISTClassifier()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10)
    assert model.features(x).shape == (5, 50)  # FC1: the FID feature space
    assert model.fc1.in_features == 320 and sum(p.numel() for p in model.parameters()) == 21840
    model.eval()
    torch.testing.assert_close(model.extract(x, batch_size=2), model.features(x))


def test_pixels_round_trip_exactly_to_uint8(digits):
    images, _ = digits["train"]
    train, _ = load_embedded()
    assert (to_uint8(images[:100]) == train[0][:100]).all()


def test_one_epoch_learns_the_digits_and_caches_by_training_data(digits, tmp_path):
    images, labels = digits["train"]
    model, path, hit = load_or_train(images, labels, ONE_EPOCH, tmp_path, progress=False)
    assert not hit and path.exists() and path.parent == tmp_path / "mnist_classifier"
    assert accuracy(model, *digits["test"]) > 0.7  # measured 0.86 after one epoch
    # Same digits in another order (another pairing seed): a hit with the same weights.
    perm = torch.randperm(len(images))
    again, path2, hit2 = load_or_train(images[perm], labels[perm], ONE_EPOCH, tmp_path, progress=False)
    assert hit2 and path2 == path
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # Other digits, other labels or other settings: a miss, cached separately.
    keys = {path}
    for other in [(images[:-1], labels[:-1], ONE_EPOCH),
                  (images, (labels + 1) % 10, ONE_EPOCH),
                  (images[:500], labels[:500], ClassifierSettings(epochs=1, seed=1))]:
        _, p, h = load_or_train(*other[:2], other[2], tmp_path, progress=False)
        assert not h and p not in keys
        keys.add(p)
    assert len(list((tmp_path / "mnist_classifier").glob("*.pt"))) == 4


def test_training_is_seeded(digits, tmp_path):
    images, labels = (t[:300] for t in digits["train"])
    before = torch.get_rng_state()
    a, _, _ = load_or_train(images, labels, ONE_EPOCH, tmp_path / "a", progress=False)
    load_or_train(images, labels, ONE_EPOCH, tmp_path / "a", progress=False)  # a cache hit
    assert torch.equal(torch.get_rng_state(), before)  # the caller's RNG stream is untouched
    b, _, _ = load_or_train(images, labels, ONE_EPOCH, tmp_path / "b", progress=False)
    torch.testing.assert_close(a.fc2.weight, b.fc2.weight)


def test_cache_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    images, labels = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    _, path, _ = load_or_train(images, labels, ONE_EPOCH, progress=False)
    assert path.parent == tmp_path / "env" / "mnist_classifier"
    monkeypatch.delenv(CACHE_ENV)
    assert default_cache_dir() == Path.home() / ".cache" / "factorgan"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="positive"):
        ClassifierSettings(epochs=0)
