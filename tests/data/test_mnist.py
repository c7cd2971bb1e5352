import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from factorgan.data.in_memory import DatasetError, InMemoryData, as_float
from factorgan.data.formats.mnist import load_embedded, load_idx, make_digit_pairs, paired_mnist
from factorgan.method.factorisation import Factorisation

REPO = Path(__file__).resolve().parents[2]


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """MNIST's IDX format: magic 0x0000 08 <ndim>, big-endian int32 dims, uint8 data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def fake_mnist(root: Path, n_train: int = 50, n_test: int = 20, gz: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    raw = root / "MNIST" / "raw"
    images = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    labels = np.arange(n_train) % 10
    write_idx(raw / "train-images-idx3-ubyte", images, gz)
    write_idx(raw / "train-labels-idx1-ubyte", labels, gz)
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, size=(n_test, 28, 28)), gz)
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(n_test) % 10, gz)
    return images, labels


def test_embedded_split_is_fixed_and_balanced():
    (tr_x, tr_y), (te_x, te_y) = load_embedded()
    assert tr_x.shape == (4000, 28, 28) and te_x.shape == (1000, 28, 28)
    assert np.bincount(tr_y).tolist() == [400] * 10 and np.bincount(te_y).tolist() == [100] * 10
    assert tr_x.dtype == np.uint8 and tr_x.max() > 200  # real digits, not blank
    # no digit appears in both splits
    train_rows = {row.tobytes() for row in tr_x}
    assert not any(row.tobytes() in train_rows for row in te_x)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_round_trip(tmp_path, gz):
    images, labels = fake_mnist(tmp_path, gz=gz)
    (tr_x, tr_y), (te_x, te_y) = load_idx(tmp_path)
    np.testing.assert_array_equal(tr_x, images)
    np.testing.assert_array_equal(tr_y, labels)
    assert te_x.shape == (20, 28, 28)


def test_missing_idx_files_name_layout_and_script(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_idx(tmp_path / "nowhere")
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and "scripts/prepare_mnist.py" in msg


def test_truncated_idx_file_is_an_error(tmp_path):
    fake_mnist(tmp_path)
    f = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    f.write_bytes(f.read_bytes()[:-10])
    with pytest.raises(DatasetError, match="truncated"):
        load_idx(tmp_path)


@pytest.mark.parametrize("lam", [0.1, 0.9])
def test_digit_pairs_follow_lambda(lam):
    (x, y), _ = load_embedded()
    pairs, labels = make_digit_pairs(x, y, lam, np.random.default_rng(0))
    assert pairs.shape == (4000, 56, 28)
    same = (labels[:, 0] == labels[:, 1]).mean()
    assert abs(same - lam) < 0.03
    # every digit appears on top exactly once; the bottom digit has the stated class
    assert sorted(map(bytes, pairs[:, :28].reshape(4000, -1))) == sorted(map(bytes, x.reshape(4000, -1)))
    bottom_rows = {row.tobytes(): c for row, c in zip(x.reshape(4000, -1), y)}
    assert all(bottom_rows[b.tobytes()] == c for b, c in zip(pairs[:200, 28:].reshape(200, -1), labels[:200, 1]))
    # λ = 0.1 makes the classes independent: P(bottom = c | top) ≈ 0.1 for every c
    if lam == 0.1:
        joint = np.zeros((10, 10))
        np.add.at(joint, (labels[:, 0], labels[:, 1]), 1)
        cond = joint / joint.sum(1, keepdims=True)
        assert np.abs(cond - 0.1).max() < 0.06


def test_paired_mnist_dataset_and_paired_limit():
    data = paired_mnist(paired=100, lam=0.9)
    assert data.sample_shape == (1, 56, 28) and data.num_train == 4000 and len(data.test) == 1000
    assert data.train.dtype == torch.uint8 and int(data.train.max()) == 255  # pixel codes
    x = data.sample_paired(25, torch.Generator().manual_seed(0))
    assert x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0
    torch.testing.assert_close(as_float(data.train[:3]), data.train[:3].float() / 255, rtol=0, atol=0)
    again = paired_mnist(paired=100, lam=0.9)
    torch.testing.assert_close(data.train, again.train, rtol=0, atol=0)  # fixed pairing
    with pytest.raises(DatasetError, match="maximum is paired=4000"):
        paired_mnist(paired=4001, lam=0.9)


def test_prepare_script_finds_existing_files(tmp_path):
    fake_mnist(tmp_path)
    out = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "prepare_mnist.py"), "--root", str(tmp_path)],
        capture_output=True, text=True, check=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # this checkout's package, installed or not
    )
    assert "50 train / 20 test" in out.stdout


@pytest.mark.parametrize("lam", [0.1, 0.9])
def test_official_lam_rule_draws_the_other_class_from_all_ten(lam):
    """lam_rule=code: agreement lam + (1 - lam) * Σ p_c² (0.19 at lam 0.1), the partner's
    class otherwise following the class frequencies; text stays the default draw."""
    (x, y), _ = load_embedded()
    _, labels = make_digit_pairs(x, y, lam, np.random.default_rng(0), lam_rule="code")
    freq = np.bincount(y, minlength=10) / len(y)
    same = (labels[:, 0] == labels[:, 1]).mean()
    assert abs(same - (lam + (1 - lam) * (freq**2).sum())) < 0.03
    if lam == 0.1:
        assert abs(same - lam) > 0.06  # measurably not the text's rule (0.19 against 0.1)
    default, _ = make_digit_pairs(x, y, lam, np.random.default_rng(0))
    text, _ = make_digit_pairs(x, y, lam, np.random.default_rng(0), lam_rule="text")
    np.testing.assert_array_equal(default, text)
    with pytest.raises(DatasetError, match="lam_rule='paper'"):
        make_digit_pairs(x, y, lam, np.random.default_rng(0), lam_rule="paper")
