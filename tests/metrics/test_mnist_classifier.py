"""The Table 3 classifier: shapes, that it learns, and its cache keyed by the training data."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from factorgan.cache import cache_folder
from factorgan.data.formats.mnist import load_embedded
from factorgan.metrics import shipped_classifiers
from factorgan.metrics.mnist_classifier import (
    CACHE_ENV, PROTOCOL_SETTINGS, VERSION, ClassifierSettings, MNISTClassifier, accuracy, cache_key,
    classifier_key, get_classifier, to_uint8, train_classifier, weights_sha256,
)

ONE_EPOCH = ClassifierSettings(epochs=1)


def load_or_train(images, labels, settings, cache_dir=None, progress=False) -> tuple[MNISTClassifier, Path, bool]:
    """:func:`get_classifier` as (classifier, its file, whether it came from the cache)."""
    got = get_classifier(images, labels, settings, cache_dir, progress)
    return got.model, got.path, got.source != "trained"


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
    assert cache_folder() == tmp_path / "env"
    images, labels = torch.rand(20, 1, 28, 28), torch.arange(20) % 10
    _, path, _ = load_or_train(images, labels, ONE_EPOCH, progress=False)
    assert path.parent == tmp_path / "env" / "mnist_classifier"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_folder() == Path.home() / ".cache" / "factorgan"
    monkeypatch.setenv(CACHE_ENV, "")  # empty: unset
    assert cache_folder(default_sub="musdb") == Path.home() / ".cache" / "factorgan" / "musdb"
    assert cache_folder("~/x", "musdb") == Path.home() / "x"  # a given folder is used as it is


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="positive"):
        ClassifierSettings(epochs=0)


# ---- version 2: the same classifier for every user ----------------------------------
def trained_under(threads: int, images, labels, settings) -> tuple[MNISTClassifier, int]:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = train_classifier(images, labels, settings, progress=False)
        return model, torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def test_training_and_features_are_bit_identical_under_any_thread_count(digits):
    images, labels = (t[::6] for t in digits["train"])  # 667 digits of every class
    rng_before = torch.get_rng_state()
    settings = ClassifierSettings(epochs=3)
    one, threads_after_one = trained_under(1, images, labels, settings)
    two, threads_after_two = trained_under(2, images, labels, settings)
    assert (threads_after_one, threads_after_two) == (1, 2)  # training's one thread is given back
    assert torch.equal(torch.get_rng_state(), rng_before)  # no global RNG use
    assert weights_sha256(one) == weights_sha256(two)
    for a, b in zip(one.state_dict().values(), two.state_dict().values()):
        assert torch.equal(a, b)
    test = digits["test"][0]
    features, before = [], torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        features.append((one.extract(test), one.predict(test)))
    torch.set_num_threads(before)  # later tests keep the process's setting
    assert torch.equal(features[0][0], features[1][0]) and torch.equal(features[0][1], features[1][1])
    assert accuracy(one, *digits["test"]) > 0.5  # 667 digits, 3 epochs: it learns


def test_version_1_is_kept_for_old_runs(digits, tmp_path):
    """Version 1's cache keys are what release 0.1 wrote (its cache files stay valid) and
    its training is release 0.1's (global-RNG dropout: other weights than version 2's)."""
    images, labels = (t[::13] for t in digits["train"])
    v1, v2 = ClassifierSettings(epochs=1, version=1), ClassifierSettings(epochs=1)
    pixels, classes = to_uint8(images), labels.numpy()
    old = hashlib.sha256(repr((1, sorted({"epochs": 1, "batch_size": 25, "lr": 1e-3, "seed": 0}.items()))).encode())
    old.update(pixels.tobytes())
    old.update(classes.astype("int64").tobytes())
    assert cache_key(pixels, classes, v1) == old.hexdigest()[:20] != cache_key(pixels, classes, v2)
    a = load_or_train(images, labels, v1, tmp_path, progress=False)[0]
    b = load_or_train(images, labels, v2, tmp_path, progress=False)[0]
    assert weights_sha256(a) != weights_sha256(b)
    with pytest.raises(ValueError, match="version 3 does not exist"):
        ClassifierSettings(version=3)


@pytest.mark.parametrize("entry", shipped_classifiers.manifest(), ids=lambda e: e["protocol"])
def test_the_shipped_classifiers_match_their_checksums_and_recorded_accuracy(entry, digits):
    file = shipped_classifiers.path(entry)
    assert hashlib.sha256(file.read_bytes()).hexdigest() == entry["file_sha256"]
    assert file.stat().st_size < 100_000  # ~89 KB: 21,840 float32 weights
    state = shipped_classifiers.load(entry)
    assert weights_sha256(state) == entry["weights_sha256"]
    model = MNISTClassifier()
    model.load_state_dict(state)
    assert accuracy(model.eval(), *digits["test"]) == entry["test_accuracy"]
    # It is the one the evaluator looks up for the embedded training digits and the protocol's settings.
    settings = PROTOCOL_SETTINGS[entry["protocol"]]
    assert entry["version"] == settings.version == VERSION and entry["settings"] == settings.training()
    assert classifier_key(*digits["train"], settings)[0] == entry["key"]
    got = get_classifier(*digits["train"], settings, progress=False)
    assert got.source == "shipped" and got.sha256 == entry["weights_sha256"]


def test_the_shipped_classifiers_are_recorded_accurately_enough():
    protocols = {e["protocol"]: e for e in shipped_classifiers.manifest()}
    assert set(protocols) == set(PROTOCOL_SETTINGS)
    assert protocols["ours"]["test_accuracy"] > 0.95  # measured 0.955
    assert protocols["official"]["test_accuracy"] > 0.8  # 4 epochs at 1e-4 underfit 4,000 digits: 0.811


def test_a_damaged_shipped_file_is_not_used(digits, tmp_path, monkeypatch):
    images, labels = (t[::20] for t in digits["train"])
    key, order = classifier_key(images, labels, ONE_EPOCH)
    model = train_classifier(images[order], labels[order], ONE_EPOCH, progress=False)
    shipped = tmp_path / "shipped"
    entry = shipped_classifiers.save(model.state_dict(), {"key": key, "file": "x.npz", "protocol": "test"}, shipped)
    again = shipped_classifiers.save(model.state_dict(), {"key": key, "file": "x.npz", "protocol": "test"}, shipped)
    assert again["file_sha256"] == entry["file_sha256"]  # the same weights, the same bytes
    monkeypatch.setattr(shipped_classifiers, "SHIPPED_DIR", shipped)
    got = get_classifier(images, labels, ONE_EPOCH, tmp_path / "cache", progress=False)
    assert got.source == "shipped" and got.sha256 == weights_sha256(model)
    with open(shipped / "x.npz", "r+b") as f:  # one flipped byte
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.warns(UserWarning, match="missing or damaged"):
        got = get_classifier(images, labels, ONE_EPOCH, tmp_path / "cache", progress=False)
    assert got.source == "trained" and got.sha256 == weights_sha256(model)  # retrained: the same weights
    assert got.provenance(0.5) == {"name": "mnist_classifier", "version": VERSION, "sha256": got.sha256,
                                   "source": "trained", "epochs": 1, "batch_size": 25, "lr": 1e-3, "seed": 0,
                                   "test_accuracy": 0.5}
