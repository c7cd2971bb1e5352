"""Image pair generation (paper section 4.2): the aligned-pair datasets (Cityscapes photo |
map, Edges2Shoes grey edges | photo), and the experiments end to end through the Hydra
configs on tiny generated data, training and the LS score."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import TINY, TINY_EVALUATED, compose_config, make_edges2shoes
from factorgan.data.formats import aligned
from factorgan.samples.images import upscale_factor
from factorgan.training.steps import real_batch
from factorgan.data.in_memory import DatasetError, PairedCountError, as_float
from factorgan.data.formats.image_pairs import EDGES2SHOES, cityscapes_pairs, edges2shoes
from factorgan.data.synthetic.cityscapes import make_synthetic_cityscapes
from factorgan.nets.conv import ConvDiscriminator, ConvGenerator
from factorgan.build import build_trainer
from factorgan.cli.train import train

SIZE = 16
SMALL = ["generator.width=8", "discriminator.filters=8", "dataset.size=16", "dataset.cache=false"]


@pytest.fixture(scope="module")
def shoes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2s")
    make_edges2shoes(root, n_train=12, n_val=6, size=SIZE)
    return root


@pytest.fixture(scope="module")
def cs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    make_synthetic_cityscapes(root, n_train=12, n_val=6, size=SIZE, seed=0)
    return root


def test_edges2shoes_reads_grey_edges_then_the_photo_in_file_order(tmp_path):
    halves = make_edges2shoes(tmp_path, n_train=11, n_val=2, size=SIZE)
    data = edges2shoes(paired=3, root=str(tmp_path), size=SIZE, cache=False)
    assert data.sample_shape == (4, SIZE, SIZE) and data.num_train == 11 and len(data.test) == 2
    assert data.input_parts == 0 and data.factorisation.dim == 0 and data.factorisation.sizes == [1, 3]
    assert data.train.dtype == torch.uint8
    # natural order: 1_AB, 2_AB, ..., 10_AB, 11_AB (not 1, 10, 11, 2, ...)
    for row in (0, 1, 9, 10):
        grey, photo = halves["train"][row]
        want = np.concatenate([grey[None], photo.transpose(2, 0, 1)], axis=0)
        np.testing.assert_array_equal(data.train[row].numpy(), want)
    # unconditional: no generator inputs; the paired draws come from the first 3 files
    with pytest.raises(DatasetError, match="unconditional"):
        data.sample_inputs(2, torch.Generator(), paired_only=False)
    paired = data.sample_paired(40, torch.Generator().manual_seed(0))
    assert all(any(torch.equal(p, as_float(data.train[j])) for j in range(3)) for p in paired)


def test_lexicographic_order_pairs_the_official_codes_first_files(tmp_path):
    """dataset.order=lexicographic: file names sorted as strings, as the official code's
    sorted(paths) (10_AB < 11_AB < 1_AB < 2_AB: its first N files are the pairs); the
    decode cache, kept in natural order, serves both orders."""
    halves = make_edges2shoes(tmp_path, n_train=11, n_val=2, size=SIZE)
    natural = edges2shoes(paired=3, root=str(tmp_path), size=SIZE, cache=True)
    lexi = edges2shoes(paired=3, root=str(tmp_path), size=SIZE, cache=True, order="lexicographic")
    names = [f"{i}_AB.png" for i in range(1, 12)]
    want = sorted(range(11), key=lambda i: names[i])
    assert [names[i] for i in want[:4]] == ["10_AB.png", "11_AB.png", "1_AB.png", "2_AB.png"]
    for row, i in enumerate(want):
        grey, _ = halves["train"][i]
        np.testing.assert_array_equal(lexi.train[row, 0].numpy(), grey)
    torch.testing.assert_close(lexi.train[torch.argsort(torch.tensor(want))], natural.train, rtol=0, atol=0)
    torch.testing.assert_close(lexi.test, natural.test, rtol=0, atol=0)  # the test split keeps its order
    paired = lexi.sample_paired(60, torch.Generator().manual_seed(0))
    firsts = [as_float(natural.train[i]) for i in want[:3]]
    assert all(any(torch.equal(p, f) for f in firsts) for p in paired)
    with pytest.raises(DatasetError, match="dataset.order='random'"):
        edges2shoes(paired=3, root=str(tmp_path), size=SIZE, order="random")


def test_cityscapes_pairs_are_unconditional_six_channel_samples(cs_root):
    data = cityscapes_pairs(paired=4, root=str(cs_root), size=SIZE, cache=False)
    assert data.sample_shape == (6, SIZE, SIZE) and data.input_parts == 0 and data.factorisation.sizes == [3, 3]
    assert data.output_shape == (6, SIZE, SIZE) and data.input_shape is None
    # the same files as the segmentation experiment reads, in the same order
    from factorgan.data.formats.cityscapes import cityscapes

    seg = cityscapes(paired=4, root=str(cs_root), size=SIZE, cache=False)
    assert torch.equal(seg.train, data.train) and torch.equal(seg.test, data.test)


def test_cache_keys_on_the_modes(tmp_path):
    """A split cached as RGB | RGB is not reused for a grey | RGB reading of it."""
    make_edges2shoes(tmp_path, n_train=3, n_val=1, size=SIZE)
    rgb = aligned.AlignedLayout(name="edges2shoes", halves=("a", "b"))
    six = aligned.load_split(tmp_path, "train", rgb, SIZE)
    four = aligned.load_split(tmp_path, "train", EDGES2SHOES, SIZE)
    assert six.shape[1] == 6 and four.shape[1] == 4
    torch.testing.assert_close(four[:, 0], six[:, 0], rtol=0, atol=0)  # R = G = B = grey
    assert torch.equal(aligned.load_split(tmp_path, "train", EDGES2SHOES, SIZE), four)


def test_missing_data_names_the_layout_and_the_download_script(tmp_path):
    with pytest.raises(DatasetError) as err:
        edges2shoes(paired=1, root=str(tmp_path / "nowhere"))
    msg = str(err.value)
    assert "edges2shoes/train/*.jpg" in msg and "edge map | shoe photo" in msg
    assert "download_pix2pix.py --dataset edges2shoes" in msg
    with pytest.raises(DatasetError, match="download_cityscapes.py"):
        cityscapes_pairs(paired=1, root=str(tmp_path / "nowhere"))


def test_paired_larger_than_the_training_set_is_an_error(shoes_root):
    with pytest.raises(PairedCountError, match="maximum is paired=12"):
        edges2shoes(paired=13, root=str(shoes_root), size=SIZE, cache=False)


def test_experiment_configs_are_the_papers_setup():
    for name, target in (("cityscapes_pairs", "cityscapes_pairs"), ("edges2shoes", "edges2shoes")):
        cfg = compose_config(f"experiment={name}")
        assert cfg.dataset._target_ == f"factorgan.data.formats.image_pairs.{target}" and cfg.dataset.size == 64
        assert cfg.generator._target_ == "factorgan.nets.conv.ConvGenerator" and cfg.generator.width == 64
        assert cfg.generator.output_layer == "transpose"  # the official code's
        assert cfg.discriminator._target_ == "factorgan.nets.conv.ConvDiscriminator"
        assert cfg.discriminator.filters == 32 and cfg.discriminator.layers is None
        assert cfg.trainer.batch_size == 25 and cfg.trainer.disc_iter == 2 and cfg.trainer.max_steps == 200_000
        assert cfg.evaluation._target_ == "factorgan.evaluators.image_pairs.LSScoreEvaluator"
        assert cfg.evaluation.runs == 10 and cfg.evaluation.epochs == 40 and cfg.evaluation.filters == 16
        assert cfg.evaluation.layers is None and list(cfg.evaluation.betas) == [0.9, 0.999]
        assert cfg.experiment_name == name


@pytest.mark.parametrize("variant", ["official", "table"])
def test_networks_at_64_pixels(variant):
    """The official code's networks (512..64 filters and a transposed output layer; four
    discriminator convolutions, 4x4x256 into the FC layer) or the paper's tables as printed
    (Table 4: 1024..64 and a stride-1 convolution; Table 5: five, 2x2x512), for every
    FactorGAN term."""
    table = ["generator.output_layer=conv", "discriminator.layers=5"] if variant == "table" else []
    cfg = compose_config("experiment=edges2shoes", "device=cpu", *table)
    shoes = torch.zeros(30, 4, 64, 64, dtype=torch.uint8)
    from factorgan.data.in_memory import InMemoryData
    from factorgan.method.factorisation import Factorisation
    from hydra.utils import instantiate

    data = InMemoryData(shoes, shoes[:4], Factorisation(0, [1, 3]), paired=10)
    G = instantiate(cfg.generator, out_shape=data.output_shape, cond_shape=data.input_shape)
    convs = [m for m in G.modules() if isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.Conv2d))]
    want = [1024, 512, 256, 128, 64, 4] if variant == "table" else [512, 256, 128, 64, 4]
    assert [c.out_channels for c in convs] == want
    D = instantiate(cfg.model.combined, make_net=instantiate(cfg.discriminator), sample_shape=data.sample_shape,
                    factorisation=data.factorisation, input_parts=0)
    assert sorted(D.nets) == ["dep_p", "dep_q", "marginal_0", "marginal_1"]
    for name, net in D.nets.items():
        assert isinstance(net, ConvDiscriminator)
        assert net.net[-1].in_features == (2 * 2 * 512 if variant == "table" else 4 * 4 * 256)
        want = {"marginal_0": 1, "marginal_1": 3}.get(name, 4)
        assert net.net[0].in_channels == want, name


@pytest.mark.parametrize("experiment,root", [("edges2shoes", "shoes_root"), ("cityscapes_pairs", "cs_root")])
@pytest.mark.parametrize("model", ["factorgan", "gan"])
def test_each_model_trains_evaluates_and_draws_pairs(experiment, root, model, tmp_path, request):
    root = request.getfixturevalue(root)
    channels = 4 if experiment == "edges2shoes" else 6
    cfg = compose_config(f"experiment={experiment}", f"model={model}", f"dataset.root={root}", "paired=5",
                         *TINY_EVALUATED, *SMALL, "evaluation.runs=1", "evaluation.epochs=1",
                         "evaluation.filters=4", "evaluation.batch_size=3")
    run_dir = tmp_path / "run"
    trainer = train(cfg, run_dir)
    assert trainer.step == 4 and isinstance(trainer.G, ConvGenerator)
    assert ("dep_p" in trainer.D.nets) == (model == "factorgan")  # conv networks: never stacked
    x = trainer.ctx.generate(3).detach()
    assert x.shape == (3, channels, SIZE, SIZE) and 0 < float(x.min()) and float(x.max()) < 1
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert 0.0 < metrics["ls"] < 3.0 and metrics["ls_std"] == 0.0
    # the default grid: 64 pairs in 8 rows of 8, each pair its two images side by side in RGB
    with Image.open(run_dir / "samples" / "latest.png") as grid:
        tile = upscale_factor(SIZE, SIZE) * SIZE  # small samples are shown enlarged
        assert grid.mode == "RGB" and grid.size == (8 * (2 * tile + 2) + 2, 8 * (tile + 2) + 2)


def test_factorgan_shares_the_marginals_with_unpaired_data(shoes_root, tmp_path):
    """FactorGAN's marginals draw from every training sample, D_P and the GAN only from
    the paired ones (the point of the experiment with paired=100 of 49,825)."""
    cfg = compose_config("experiment=edges2shoes", f"dataset.root={shoes_root}", "paired=2", *TINY, *SMALL)
    trainer = build_trainer(cfg, tmp_path / "run")
    real = real_batch(trainer.D, trainer.data, 200, trainer.rng)
    train = as_float(trainer.data.train)

    def rows(x):
        return {int(torch.nonzero((train.flatten(1) == s.flatten()).all(1))[0]) for s in x}

    assert rows(real.paired) <= {0, 1}
    edges = real.parts[0]
    seen = {int(torch.nonzero((train[:, :1].flatten(1) == e.flatten()).all(1))[0]) for e in edges}
    assert len(seen - {0, 1}) > 0


def test_the_synthetic_demo_config_trains_on_the_cpu(tmp_path):
    root = tmp_path / "synthetic"
    make_synthetic_cityscapes(root, n_train=8, n_val=5, size=32, seed=0)
    cfg = compose_config("experiment=cityscapes_pairs_synthetic", f"dataset.root={root}", "paired=4", *TINY_EVALUATED,
                         "evaluation.epochs=1")
    assert cfg.trainer.max_steps == 4 and cfg.dataset.size == 32
    trainer = train(cfg, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]
    assert trainer.step == 4 and np.isfinite(metrics["ls"])
