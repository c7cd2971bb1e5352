"""End to end: the cityscapes_seg experiment with every model (factorgan, gan, cyclegan)
on tiny synthetic data through the Hydra configs, training and evaluation."""
from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from factorgan.samples.images import column_header, upscale_factor

from conftest import TINY_EVALUATED, compose_config
from factorgan.training.cyclegan import CycleGANSteps
from factorgan.data.in_memory import as_float
from factorgan.data.synthetic.cityscapes import make_synthetic_cityscapes
from factorgan.nets.conv import ConvDiscriminator
from factorgan.samples.grids import ComparisonSampleWriter
from factorgan.build import build_trainer
from factorgan.cli.train import train
from factorgan.nets.unet import UNetGenerator

SIZE = 16
SMALL = ["generator.width=8", "discriminator.filters=8", "evaluation.batch_size=3", "samples.n=3"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cs")
    make_synthetic_cityscapes(root, n_train=10, n_val=4, size=SIZE, seed=0)
    return root


def seg_config(data_root, *overrides: str):
    return compose_config("experiment=cityscapes_seg_synthetic", f"dataset.root={data_root}",
                          f"dataset.size={SIZE}", *TINY_EVALUATED, *SMALL, *overrides)


def test_experiment_configs_are_the_paper_setup():
    cfg = compose_config("experiment=cityscapes_seg")
    assert cfg.paired == 25 and cfg.dataset.size == 128 and cfg.dataset.root == "data"
    assert cfg.generator._target_ == "factorgan.nets.unet.UNetGenerator" and cfg.generator.noise_dim == 50
    assert cfg.discriminator._target_ == "factorgan.nets.conv.ConvDiscriminator"
    assert cfg.trainer.batch_size == 25 and cfg.trainer.disc_iter == 2 and cfg.spectral_norm
    assert cfg.optimizer.lr == 1e-4 and list(cfg.optimizer.betas) == [0.5, 0.999]
    # the official code's bilinear upsampling (which produced the paper's numbers); Table 6's
    # transposed convolution stays the U-Net's own default and an option here
    assert cfg.generator.upsample == "bilinear" and cfg.dataset.order == "natural"
    assert compose_config("experiment=cityscapes_seg", "generator.upsample=transpose").generator.upsample == "transpose"
    assert compose_config("generator=unet").generator.upsample == "transpose"
    cyc = compose_config("experiment=cityscapes_seg", "model=cyclegan").model
    assert cyc.steps.cycle_weight == 10.0 and cyc.steps.identity_weight == 0.5


@pytest.mark.parametrize("model,terms", [
    ("factorgan", ["marginal_1", "dep_p", "dep_q"]),
    ("gan", ["joint"]),
    ("cyclegan", ["input", "output"]),
])
def test_each_model_trains_and_evaluates(data_root, tmp_path, model, terms):
    run_dir = tmp_path / "run"
    trainer = train(seg_config(data_root, f"model={model}", "paired=5"), run_dir)
    assert trainer.step == 4
    assert isinstance(trainer.G, UNetGenerator)
    assert sorted(trainer.D.nets) == sorted(terms)
    assert all(isinstance(net, ConvDiscriminator) for net in trainer.D.nets.values())
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert 0.0 < metrics["mse"] < 1.0 and 0.0 <= metrics["pixel_accuracy"] <= 100.0
    assert any(k.startswith("class_accuracy/") for k in metrics)
    # scene | prediction | truth: 3 columns of SIZE-pixel tiles shown enlarged, samples.n=3
    # rows, under a header strip naming the columns
    tile = upscale_factor(SIZE, SIZE) * SIZE
    header = column_header(3 * tile + 4 * 2, ["scene", "prediction", "truth"], 3, tile, 2).shape[1]
    with Image.open(run_dir / "samples" / "latest.png") as grid:
        assert tile > SIZE and grid.size == (3 * tile + 4 * 2, 3 * tile + 4 * 2 + header)


def test_models_get_the_right_networks_and_inputs(data_root, tmp_path):
    fg = build_trainer(seg_config(data_root, "model=factorgan", "paired=5"), tmp_path / "a")
    assert [t.name for t in fg.D.term_list] == ["marginal_1", "dep_p", "dep_q"] and fg.D.marginal_parts == (1,)  # no marginal for scenes
    assert not fg.ctx.inputs_paired_only and isinstance(fg.samples, ComparisonSampleWriter)
    gan = build_trainer(seg_config(data_root, "model=gan", "paired=5"), tmp_path / "b")
    assert [t.name for t in gan.D.term_list] == ["joint"] and gan.ctx.inputs_paired_only
    cyc = build_trainer(seg_config(data_root, "model=cyclegan", "paired=0"), tmp_path / "c")
    assert isinstance(cyc.steps, CycleGANSteps) and [t.name for t in cyc.D.term_list] == ["input", "output"]
    assert isinstance(cyc.steps.F, UNetGenerator) and not cyc.D.needs_paired
    # the GAN's generator sees only the paired scenes
    torch.manual_seed(0)
    scenes = as_float(gan.data.train[:, :3])
    fake = gan.ctx.generate(40)
    idx = [int(torch.nonzero((scenes == s).flatten(1).all(1))[0]) for s in fake[:, :3]]
    assert max(idx) < 5


def test_cyclegan_ignores_paired_and_resumes_exactly(data_root, tmp_path):
    """CycleGAN trains with paired=0, and 2 steps + resume to 4 equals 4 steps (G, F, D)."""
    whole = train(seg_config(data_root, "model=cyclegan", "paired=0"), tmp_path / "whole")
    half_dir = tmp_path / "half"
    train(seg_config(data_root, "model=cyclegan", "paired=0", "trainer.max_steps=2"), half_dir)
    resumed = train(seg_config(data_root, "model=cyclegan", "paired=0", "resume=true"), half_dir)
    assert resumed.step == 4
    for a, b in ((whole.G, resumed.G), (whole.steps.F, resumed.steps.F), (whole.D, resumed.D)):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            torch.testing.assert_close(x, y, rtol=0, atol=0, msg=name)
