"""Cityscapes loader (pix2pix aligned layout), its cache and errors, the label table and
the synthetic scene generator."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from factorgan.data.in_memory import DatasetError, as_float
from factorgan.data.formats.cityscapes import cityscapes, decode_pair, list_images, load_split
from factorgan.data.formats.cityscapes_labels import EVAL_LABELS, LABELS, full_palette
from factorgan.data.synthetic.cityscapes import CLASS_NAMES, draw_layout, make_synthetic_cityscapes


def write_pair(path, scene: np.ndarray, seg: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate([scene, seg], axis=1)).save(path)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    make_synthetic_cityscapes(root, n_train=12, n_val=4, size=32, seed=1)
    return root


def test_label_table_has_the_19_evaluated_classes_in_train_id_order():
    assert len(LABELS) == 35
    assert [l.train_id for l in EVAL_LABELS] == list(range(19))
    assert EVAL_LABELS[0].name == "road" and EVAL_LABELS[-1].name == "bicycle"
    assert EVAL_LABELS[13].color == (0, 0, 142)  # car


def test_shared_colours_stand_for_the_first_label():
    palette = full_palette()
    names = [l.name for l in EVAL_LABELS]
    by_color = {tuple(round(v * 255) for v in c.tolist()): int(k) for c, k in zip(palette.colors, palette.eval_class)}
    assert len(by_color) == len(palette.colors)  # distinct colours
    assert by_color[(0, 0, 142)] == names.index("car")  # not the ignored licence plate
    assert by_color[(153, 153, 153)] == names.index("pole")  # not the ignored polegroup
    assert by_color[(0, 0, 0)] == -1 and by_color[(250, 170, 160)] == -1  # unlabeled, parking


def test_loader_reads_the_aligned_layout(tmp_path):
    """Exact halves on PNG files (lossless): scene channels first, map channels second."""
    rng = np.random.default_rng(0)
    scenes = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    maps = [rng.integers(0, 256, (16, 16, 3), dtype=np.uint8) for _ in range(3)]
    for i, name in enumerate(["2.png", "10.png", "1.png"]):  # natural order: 1, 2, 10
        write_pair(tmp_path / "cityscapes" / "train" / name, scenes[i], maps[i])
    write_pair(tmp_path / "cityscapes" / "val" / "1.png", scenes[0], maps[0])
    data = cityscapes(paired=2, root=str(tmp_path), size=16, cache=False)
    assert data.sample_shape == (6, 16, 16) and data.num_train == 3 and len(data.test) == 1
    assert data.input_parts == 1 and data.factorisation.sizes == [3, 3] and data.factorisation.dim == 0
    assert data.input_shape == (3, 16, 16) and data.output_shape == (3, 16, 16)
    assert data.train.dtype == torch.uint8  # stored compactly, decoded per batch
    expected_order = [2, 0, 1]  # 1.png, 2.png, 10.png
    for row, i in enumerate(expected_order):
        want = np.concatenate([scenes[i], maps[i]], axis=2).transpose(2, 0, 1) / 255.0
        torch.testing.assert_close(as_float(data.train[row]), torch.from_numpy(want).float(), rtol=0, atol=1e-6)
    # paired=2: the first two files in natural order are the pairs
    g = torch.Generator().manual_seed(0)
    paired = data.sample_paired(50, g)
    assert all(any(torch.equal(p, as_float(data.train[j])) for j in range(2)) for p in paired)


def test_resize_and_value_range(synthetic_root):
    data = cityscapes(paired=5, root=str(synthetic_root), size=16, cache=False)
    assert data.train.shape == (12, 6, 16, 16) and data.train.dtype == torch.uint8
    x = data.sample_paired(20, torch.Generator().manual_seed(0))  # what training sees
    assert x.dtype == torch.float32 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert float(x.std()) > 0.1  # real content, not blank


def test_cache_is_reused_and_invalidated(synthetic_root, monkeypatch):
    first = load_split(synthetic_root, "val", 16)
    cache_file = synthetic_root / "cityscapes" / ".cache" / "val_16px.pt"
    assert cache_file.exists()

    calls = []
    import factorgan.data.formats.aligned as module

    original = module._decode_all
    monkeypatch.setattr(module, "_decode_all", lambda *a, **k: calls.append(1) or original(*a, **k))
    assert torch.equal(load_split(synthetic_root, "val", 16), first) and calls == []  # from the cache
    load_split(synthetic_root, "val", 24)  # another size: its own cache entry
    assert calls == [1]
    # a changed file invalidates the cache
    victim = list_images(synthetic_root, "val")[0]
    Image.new("RGB", (64, 32), (255, 0, 0)).save(victim)
    changed = load_split(synthetic_root, "val", 16)
    assert calls == [1, 1] and not torch.equal(changed, first)
    red = changed[0, :3].float().mean(dim=(1, 2))  # the new file's scene half is red (JPEG: nearly)
    torch.testing.assert_close(red, torch.tensor([255.0, 0.0, 0.0]), rtol=0, atol=8.0)


def test_missing_root_names_layout_and_scripts(tmp_path):
    with pytest.raises(DatasetError) as err:
        cityscapes(paired=1, root=str(tmp_path / "nowhere"))
    msg = str(err.value)
    assert "cityscapes/train" in msg and "download_cityscapes.py" in msg and "make_synthetic_cityscapes.py" in msg


def test_empty_split_and_unreadable_file_are_errors(tmp_path):
    (tmp_path / "cityscapes" / "train").mkdir(parents=True)
    with pytest.raises(DatasetError, match="holds no"):
        list_images(tmp_path, "train")
    bad = tmp_path / "cityscapes" / "train" / "1.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="cannot read"):
        decode_pair(bad, 16)


def test_halves_of_different_sizes_are_an_error(tmp_path):
    path = tmp_path / "odd.png"
    Image.new("RGB", (33, 16)).save(path)
    with pytest.raises(DatasetError, match="odd width"):
        decode_pair(path, 16)


def test_paired_larger_than_training_set_is_an_error(synthetic_root):
    with pytest.raises(DatasetError, match="maximum is paired=12"):
        cityscapes(paired=13, root=str(synthetic_root), size=16)


def test_synthetic_maps_use_label_colours_and_follow_the_scene(synthetic_root):
    files = list_images(synthetic_root, "train")
    assert len(files) == 12 and len(list_images(synthetic_root, "val")) == 4
    with Image.open(files[0]) as img:
        assert img.size == (64, 32)
    layout = draw_layout(32, np.random.default_rng(3))
    assert layout.min() >= 0 and layout.max() < len(CLASS_NAMES)
    assert len(np.unique(layout)) >= 4  # sky, building, road, sidewalk at least
    # the same seed gives the same data
    other = synthetic_root / "again"
    make_synthetic_cityscapes(other, n_train=12, n_val=4, size=32, seed=1)
    assert (other / "cityscapes" / "train" / "5.jpg").read_bytes() == (synthetic_root / "cityscapes" / "train" / "5.jpg").read_bytes()
