"""Users' image folders (factorgan/data/formats/image_folders.py): both pair layouts, the pools,
``paired``, val, the decode cache, conditional data, every refused input with its
message, and ``experiment=image_folders`` end to end on a tiny generated folder."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY, TINY_EVALUATED, compose_config
from factorgan.build import build_trainer
from factorgan.cli.train import train
from factorgan.data.formats import aligned, image_folders as folders_module
from factorgan.data.formats.image_folders import image_folders
from factorgan.data.interface import TEST, TRAIN, DatasetError, PairedCountError, as_float
from factorgan.results.collect import collect

S = 16  # image side in these tests: written at S, so no resize unless a test asks for one
REPO = Path(__file__).resolve().parents[2]
SMALL = ["generator.width=8", "discriminator.filters=8", f"dataset.size={S}"]
FAST_LS = ["evaluation.runs=1", "evaluation.epochs=1", "evaluation.filters=4", "evaluation.batch_size=3"]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = load_script("make_example_folders")


def save(array: np.ndarray, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def rgb(rng: np.random.Generator, side: int = S) -> np.ndarray:
    return rng.integers(0, 256, (side, side, 3), dtype=np.uint8)


def grey(rng: np.random.Generator, side: int = S) -> np.ndarray:
    return rng.integers(0, 256, (side, side), dtype=np.uint8)


def chw(a: np.ndarray) -> torch.Tensor:
    """(H, W[, C]) uint8 -> (C, H, W)."""
    return torch.from_numpy(np.array(a[:, :, None] if a.ndim == 2 else a)).permute(2, 0, 1)


def exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual.int(), expected.int(), rtol=0, atol=0)


# ---- both pair layouts -------------------------------------------------------------
def test_aligned_pairs_and_isolated_parts_load_as_written(tmp_path):
    """PNG pairs A | B (B grey, stored as RGB with R = G = B, as pix2pix's edge maps),
    plus isolated images: exact pixels, pools = pairs then singles, val as the test split."""
    rng = np.random.default_rng(0)
    pairs, a_only, b_only, val = [], [], [], []
    for i in range(1, 4):
        a, b = rgb(rng), grey(rng)
        save(np.concatenate([a, np.repeat(b[:, :, None], 3, axis=2)], axis=1), tmp_path / "pairs" / f"{i}.png")
        pairs.append((a, b))
    for i in range(1, 6):
        a_only.append(rgb(rng))
        save(a_only[-1], tmp_path / "A" / f"{i}.png")
    for i in range(1, 3):
        b_only.append(grey(rng))
        save(b_only[-1], tmp_path / "B" / f"{i}.png")
    for i in range(1, 4):
        a, b = rgb(rng), grey(rng)
        save(np.concatenate([a, np.stack([b] * 3, axis=2)], axis=1), tmp_path / "val" / "pairs" / f"v{i}.png")
        val.append((a, b))
    data = image_folders(str(tmp_path), size=S, modes=["RGB", "L"], cache=False)

    assert data.sample_shape == (4, S, S) and data.factorisation.sizes == [3, 1] and data.input_parts == 0
    assert data.pool_sizes() == {"complete": 3, "paired": 3, "part_0": 3 + 5, "part_1": 3 + 2}
    assert data.parts[0].dtype == torch.uint8 and data.num_samples(TEST) == 3
    for j, (a, b) in enumerate(pairs):
        exact(data.parts[0][j], chw(a))
        exact(data.parts[1][j], chw(b))
    for j, a in enumerate(a_only):
        exact(data.parts[0][3 + j], chw(a))
    for j, b in enumerate(b_only):
        exact(data.parts[1][3 + j], chw(b))
    for j, (a, b) in enumerate(val):
        exact(data.test[j], torch.cat([chw(a), chw(b)]))
    # the complete training samples as evaluation reads them: the pairs, joined, in [0, 1]
    torch.testing.assert_close(data.samples(TRAIN, torch.tensor([1])),
                               as_float(torch.cat([chw(pairs[1][0]), chw(pairs[1][1])]))[None], rtol=0, atol=0)


def test_split_pairs_match_by_name_without_extension(tmp_path):
    """pairs/A/<name>.jpg goes with pairs/B/<name>.png, in A's natural name order; JPEG
    pixels within a two-sided tolerance of what was written."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:S, 0:S]
    written = {}
    for name in ("10", "2", "1"):  # natural order: 1, 2, 10
        scene = np.stack([x * 15, y * 15, np.full((S, S), int(name) * 20)], axis=2).astype(np.uint8)  # smooth: JPEG-friendly
        labels = rgb(rng)
        save(scene, tmp_path / "pairs" / "A" / f"{name}.jpg", quality=95)
        save(labels, tmp_path / "pairs" / "B" / f"{name}.png")
        written[name] = (scene, labels)
    data = image_folders(str(tmp_path), size=S, cache=False)
    assert data.pool_sizes() == {"paired": 3, "samples": 3}  # every sample complete
    assert data.num_samples(TEST) == 0  # no val/
    for j, name in enumerate(["1", "2", "10"]):
        scene, labels = written[name]
        torch.testing.assert_close(data.parts[0][j].float(), chw(scene).float(), rtol=0, atol=12.0)
        exact(data.parts[1][j], chw(labels))


def test_images_are_resized_bicubic_to_size(tmp_path):
    rng = np.random.default_rng(2)
    big = rgb(rng, 2 * S)
    save(big, tmp_path / "A" / "1.png")
    save(np.full((3 * S, 3 * S), 77, np.uint8), tmp_path / "B" / "1.png")
    data = image_folders(str(tmp_path), size=S, modes=["RGB", "L"], cache=False)
    want = np.asarray(Image.fromarray(big).resize((S, S), Image.BICUBIC))
    exact(data.parts[0][0], chw(want))
    assert not torch.equal(data.parts[0][0], chw(np.asarray(Image.fromarray(big).resize((S, S), Image.BILINEAR))))
    torch.testing.assert_close(data.parts[1][0].float(), torch.full((1, S, S), 77.0), rtol=0, atol=1.0)


def test_natural_order_and_paired_n_takes_the_first_n_pairs(tmp_path):
    """paired=3 of 11 pairs: D_P draws files 1, 2, 3 only (not 1, 10, 11); every pair's
    parts still feed the part pools."""
    for i in range(1, 12):
        a = np.full((S, S, 3), 10 * i, np.uint8)  # the pair's number, readable in its pixels
        save(np.concatenate([a, a], axis=1), tmp_path / "pairs" / f"{i}.png")
    data = image_folders(str(tmp_path), paired=3, size=S, cache=False)
    assert [int(data.parts[0][j, 0, 0, 0]) // 10 for j in range(11)] == list(range(1, 12))
    drawn = data.sample_paired(200, torch.Generator().manual_seed(0))
    assert {round(float(v) * 255) // 10 for v in drawn[:, 0, 0, 0]} == {1, 2, 3}
    parts = data.sample_part(0, 400, torch.Generator().manual_seed(1))
    assert len({round(float(v) * 255) // 10 for v in parts[:, 0, 0, 0]}) > 3
    assert data.pool_sizes() == {"paired": 3, "samples": 11}
    assert image_folders(str(tmp_path), paired="all", size=S, cache=False).paired == 11
    assert image_folders(str(tmp_path), paired=None, size=S, cache=False).paired == 11


def test_no_pairs_is_legal_data(tmp_path):
    rng = np.random.default_rng(3)
    save(rgb(rng), tmp_path / "A" / "1.png")
    save(rgb(rng), tmp_path / "B" / "x.png")
    data = image_folders(str(tmp_path), size=S, cache=False)
    assert data.pool_sizes() == {"complete": 0, "paired": 0, "part_0": 1, "part_1": 1}
    with pytest.raises(DatasetError, match="factorgan_no_cp"):
        data.sample_paired(2, torch.Generator())


def test_conditional_makes_a_the_generator_input(tmp_path):
    """Inputs come from every sample holding A: the pairs and the isolated A images."""
    for i in range(1, 3):
        a = np.full((S, S, 3), 10 * i, np.uint8)
        save(np.concatenate([a, np.full((S, S, 3), 200, np.uint8)], axis=1), tmp_path / "pairs" / f"{i}.png")
    for i in range(3, 7):
        save(np.full((S, S, 3), 10 * i, np.uint8), tmp_path / "A" / f"{i}.png")
    data = image_folders(str(tmp_path), size=S, modes=["RGB", "L"], conditional=True, cache=False)
    assert data.input_parts == 1 and data.input_shape == (3, S, S) and data.output_shape == (1, S, S)
    inputs = data.sample_inputs(300, torch.Generator().manual_seed(0))
    assert {round(float(v) * 255) // 10 for v in inputs[:, 0, 0, 0]} == set(range(1, 7))
    assert not image_folders(str(tmp_path), size=S, cache=False).input_parts


# ---- the cache ----------------------------------------------------------------------
def test_cache_is_reused_and_invalidated_when_a_file_changes(tmp_path, monkeypatch):
    root, cache = tmp_path / "data", tmp_path / "cache"
    monkeypatch.setenv("FACTORGAN_CACHE", str(cache))
    rng = np.random.default_rng(4)
    for i in range(1, 4):
        save(rgb(rng), root / "A" / f"{i}.png")
        save(rgb(rng), root / "B" / f"{i}.png")
    before = sorted(p for p in root.rglob("*"))
    first = image_folders(str(root), size=S)
    assert sorted(p for p in root.rglob("*")) == before  # nothing written into the user's folder
    assert len(list((cache / "image_folders").glob("*.pt"))) == 2  # A and B (no pairs, no val)

    decoded: list[str] = []
    real_decode = folders_module.decode_group
    monkeypatch.setattr(folders_module, "decode_group", lambda g, *a, **k: decoded.append(g.name) or real_decode(g, *a, **k))
    again = image_folders(str(root), size=S)
    assert decoded == []
    for p, q in zip(first.parts, again.parts):
        exact(p, q)

    new = rgb(rng)
    path = save(new, root / "B" / "2.png")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later edit, whatever the clock's resolution
    changed = image_folders(str(root), size=S)
    assert decoded == ["B"]  # only the changed folder is decoded again
    exact(changed.parts[1][1], chw(new))
    exact(changed.parts[0], first.parts[0])
    # another size or mode is cached apart; cache=false reads and writes nothing
    image_folders(str(root), size=8)
    assert decoded == ["B", "A", "B"] and len(list((cache / "image_folders").glob("*.pt"))) == 4
    image_folders(str(root), size=S, cache=False)
    assert decoded == ["B", "A", "B", "A", "B"] and len(list((cache / "image_folders").glob("*.pt"))) == 4


# ---- refused inputs -----------------------------------------------------------------
@pytest.mark.parametrize("width,height", [(100, 30), (64, 64), (33, 16)])
def test_aligned_files_must_be_two_square_halves(tmp_path, width, height):
    path = save(np.zeros((height, width, 3), np.uint8), tmp_path / "pairs" / "7.png")
    with pytest.raises(DatasetError) as err:
        image_folders(str(tmp_path), size=S, cache=False)
    assert str(path) in str(err.value) and f"{width}×{height}" in str(err.value)
    assert "width = 2 × height" in str(err.value)
    with pytest.raises(DatasetError, match="width = 2 × height"):  # the pix2pix loaders refuse it too
        aligned.decode_pair(path, S)


def test_aligned_decode_still_reads_pix2pix_files(tmp_path):
    rng = np.random.default_rng(5)
    a, b = rgb(rng), rgb(rng)
    path = save(np.concatenate([a, b], axis=1), tmp_path / "1.png")
    exact(torch.from_numpy(aligned.decode_pair(path, S)), torch.cat([chw(a), chw(b)]))


def test_split_names_that_do_not_match_are_listed(tmp_path):
    rng = np.random.default_rng(6)
    for name in ("1", "2", "3"):
        save(rgb(rng), tmp_path / "pairs" / "A" / f"{name}.png")
    for name in ("1", "2", "4", "5"):
        save(rgb(rng), tmp_path / "pairs" / "B" / f"{name}.jpg")
    with pytest.raises(DatasetError) as err:
        image_folders(str(tmp_path), size=S, cache=False)
    msg = str(err.value)
    assert "1 only in A (3)" in msg and "2 only in B (4, 5)" in msg and "<root>/A" in msg


@pytest.mark.parametrize("case,match", [
    ("same stem twice", "holds 1.jpg and 1.png"),
    ("only pairs/A", "no .*pairs/B"),
    ("both layouts", "use one pair layout"),
    ("images straight in val", "val/pairs"),
    ("no image of B", "no image of part B .*B/"),
])
def test_ambiguous_layouts_are_refused(tmp_path, case, match):
    rng = np.random.default_rng(7)
    save(rgb(rng), tmp_path / "pairs" / "A" / "1.png")
    if case == "same stem twice":
        save(rgb(rng), tmp_path / "pairs" / "A" / "1.jpg")
        save(rgb(rng), tmp_path / "pairs" / "B" / "1.png")
    elif case == "both layouts":
        save(rgb(rng), tmp_path / "pairs" / "B" / "1.png")
        save(rgb(rng, 2 * S)[:S], tmp_path / "pairs" / "9.png")
    elif case == "images straight in val":
        save(rgb(rng), tmp_path / "pairs" / "B" / "1.png")
        save(rgb(rng, 2 * S)[:S], tmp_path / "val" / "1.png")
    elif case == "no image of B":
        shutil.rmtree(tmp_path / "pairs")
        save(rgb(rng), tmp_path / "A" / "1.png")
        (tmp_path / "B").mkdir()
    with pytest.raises(DatasetError, match=match):
        image_folders(str(tmp_path), size=S, cache=False)


def test_unreadable_and_16_bit_images_are_named(tmp_path):
    rng = np.random.default_rng(8)
    save(rgb(rng), tmp_path / "A" / "1.png")
    bad = tmp_path / "B" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"not a png")
    (tmp_path / "B" / "notes.txt").write_text("ignored: not an image format")
    with pytest.raises(DatasetError, match=f"cannot read {bad}"):
        image_folders(str(tmp_path), size=S, cache=False)
    bad.unlink()
    deep = tmp_path / "B" / "depth.png"
    Image.fromarray(rng.integers(0, 2**16, (S, S)).astype(np.uint16)).save(deep)
    with pytest.raises(DatasetError, match=f"{deep} is a I.*16-bit or float"):
        image_folders(str(tmp_path), size=S, cache=False)


def test_colour_images_in_a_grey_part_are_refused_grey_up_to_jpeg_noise_is_not(tmp_path):
    rng = np.random.default_rng(9)
    save(rgb(rng), tmp_path / "A" / "1.png")
    y, x = np.mgrid[0:S, 0:S]
    shade = (x * 8 + y * 7).astype(np.uint8)
    save(np.stack([shade] * 3, axis=2), tmp_path / "B" / "grey_as_rgb.jpg", quality=75)
    data = image_folders(str(tmp_path), size=S, modes=["RGB", "L"], cache=False)
    torch.testing.assert_close(data.parts[1][0].float(), chw(shade).float(), rtol=0, atol=12.0)
    colour = save(rgb(rng), tmp_path / "B" / "colour.png")
    with pytest.raises(DatasetError) as err:
        image_folders(str(tmp_path), size=S, modes=["RGB", "L"], cache=False)
    assert str(colour) in str(err.value) and "dataset.modes" in str(err.value) and "RGB" in str(err.value)
    # the same folder with B in colour is fine: colour parts take any image
    assert image_folders(str(tmp_path), size=S, modes=["RGB", 3], cache=False).parts[1].shape == (2, 3, S, S)


def test_a_grey_part_refuses_the_colour_half_of_an_aligned_file(tmp_path):
    rng = np.random.default_rng(10)
    path = save(np.concatenate([rgb(rng), rgb(rng)], axis=1), tmp_path / "pairs" / "1.png")
    with pytest.raises(DatasetError, match=f"{path} \\(right half\\) is a colour image"):
        image_folders(str(tmp_path), size=S, modes=["RGB", "L"], cache=False)


def test_grey_images_in_a_colour_part_repeat_their_value(tmp_path):
    rng = np.random.default_rng(11)
    g = grey(rng)
    save(g, tmp_path / "A" / "1.png")
    save(rgb(rng), tmp_path / "B" / "1.png")
    data = image_folders(str(tmp_path), size=S, cache=False)
    exact(data.parts[0][0], chw(np.stack([g] * 3, axis=2)))


@pytest.mark.parametrize("what", ["missing", "empty", "pix2pix train/"])
def test_a_root_without_the_layout_names_it_and_the_example_script(tmp_path, what):
    root = tmp_path / "data"
    if what != "missing":
        root.mkdir()
    if what == "pix2pix train/":
        save(np.zeros((S, 2 * S, 3), np.uint8), root / "train" / "1.jpg")
    with pytest.raises(DatasetError) as err:
        image_folders(str(root), size=S, cache=False)
    msg = str(err.value)
    assert f"{root}/pairs/" in msg and f"{root}/A/" in msg and "make_example_folders.py" in msg
    if what == "pix2pix train/":
        assert "it holds: train/" in msg


def test_paired_larger_than_the_pairs_names_the_maximum(tmp_path):
    for i in range(1, 6):
        save(np.zeros((S, 2 * S, 3), np.uint8), tmp_path / "pairs" / f"{i}.png")
    with pytest.raises(PairedCountError, match="maximum is paired=5"):
        image_folders(str(tmp_path), paired=6, size=S, cache=False)
    with pytest.raises(DatasetError, match="whole number"):
        image_folders(str(tmp_path), paired="most", size=S, cache=False)
    with pytest.raises(DatasetError, match="RGB .*or L"):
        image_folders(str(tmp_path), modes=["RGB", "CMYK"], size=S, cache=False)


# ---- experiment=image_folders end to end ---------------------------------------------
@pytest.fixture(scope="module")
def example_root(tmp_path_factory):
    return example.write_example(tmp_path_factory.mktemp("folders") / "example", pairs=6, a_only=8, b_only=5,
                                 val=5, size=S, layout="split")


def test_the_example_script_writes_both_layouts(tmp_path):
    assert example.main(["--root", str(tmp_path / "a"), "--pairs", "3", "--a-only", "2", "--b-only", "1",
                         "--val", "0", "--size", str(S)]) == 0
    data = image_folders(str(tmp_path / "a"), size=S, cache=False)
    assert data.pool_sizes() == {"complete": 3, "paired": 3, "part_0": 5, "part_1": 4} and data.num_samples(TEST) == 0
    # B is a function of A's shapes: background pixels of the label map are black
    b = data.parts[1][:3].float()
    assert float((b.sum(1) == 0).float().mean()) > 0.3
    with pytest.raises(SystemExit):  # never mixes with existing files
        example.main(["--root", str(tmp_path / "a")])


def test_experiment_trains_factorgan_on_all_pairs_and_scores_val(example_root, tmp_path):
    cfg = compose_config("experiment=image_folders", f"dataset.root={example_root}", *TINY_EVALUATED, *SMALL, *FAST_LS)
    assert cfg.paired == "all" and cfg.run_path == "image_folders/factorgan/pairedall_seed0"
    run_dir = tmp_path / "outputs" / cfg.run_path
    trainer = train(cfg, run_dir)
    assert trainer.step == 4 and trainer.data.paired == 6 and trainer.data.pool_sizes()["part_0"] == 14
    assert {"dep_p", "marginal_0", "marginal_1"} <= set(trainer.D.nets)  # conv networks: never stacked
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert 0.0 < metrics["ls"] < 3.0
    row = collect(tmp_path / "outputs").iloc[0]
    assert row["experiment"] == "image_folders" and row["paired"] == "all" and row["ls"] == metrics["ls"]


def test_experiment_conditional_with_a_unet(example_root, tmp_path):
    cfg = compose_config("experiment=image_folders", f"dataset.root={example_root}", "dataset.conditional=true",
                         "generator=unet", "paired=2", *TINY_EVALUATED, *SMALL, *FAST_LS)
    trainer = train(cfg, tmp_path / "run")
    assert trainer.data.input_parts == 1 and trainer.data.paired == 2
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert 0.0 < metrics["ls"] < 3.0  # the LS score of (val scene, generated map) pairs


def test_conditional_with_the_default_generator_says_what_to_add(example_root, tmp_path):
    cfg = compose_config("experiment=image_folders", f"dataset.root={example_root}", "dataset.conditional=true",
                         *TINY, *SMALL)
    with pytest.raises(Exception, match="generator=unet"):
        build_trainer(cfg, tmp_path / "run")


def test_without_val_or_pairs(tmp_path, capsys):
    """No val/: no evaluation, one line saying so. No pairs: models that need them refuse,
    FactorGAN without D_P trains."""
    root = example.write_example(tmp_path / "data", pairs=0, a_only=6, b_only=4, val=0, size=S)
    cfg = compose_config("experiment=image_folders", f"dataset.root={root}", *TINY, *SMALL)
    with pytest.raises(DatasetError, match="needs complete samples.*factorgan_no_cp"):
        build_trainer(cfg, tmp_path / "refused")
    cfg = compose_config("experiment=image_folders", f"dataset.root={root}", "model=factorgan_no_cp",
                         *TINY_EVALUATED, *SMALL, *FAST_LS)
    trainer = train(cfg, tmp_path / "run")
    assert trainer.step == 4
    assert "No evaluation:" in capsys.readouterr().out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()).get("metrics", {}) == {}
