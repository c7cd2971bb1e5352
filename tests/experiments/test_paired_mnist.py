"""PairedMNISTEvaluator on stand-in generators with known answers, and the training hook."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from conftest import TINY, TINY_EVALUATED, compose_config
from factorgan.data.in_memory import DatasetError
from factorgan.data.interface import TRAIN
from factorgan.errors import ConfigError
from factorgan.evaluators.paired_mnist import METRICS, PairedMNISTEvaluator, png_round_trip
from factorgan.build import build_trainer
from factorgan.cli.train import train
from factorgan.metrics.mnist_classifier import ClassifierSettings, weights_sha256
from factorgan.runs.results import metrics_file as run_metrics

SMALL = ["generator.hidden=16", "discriminator.hidden=16"]
WITH_EVALUATION = [o for o in TINY if not o.startswith("evaluation")]
# One classifier epoch (86 % test accuracy) keeps the tests fast; cached for the session.
FAST_EVAL = ["evaluation.classifier_epochs=1", "evaluation.progress=false"]


class Replay(nn.Module):
    """A 'generator' that returns stored pairs, picked by the noise: a perfect model of
    whatever pairs it holds. ``copy_top`` replaces each bottom digit by its top digit."""

    def __init__(self, pairs: Tensor, copy_top: bool = False) -> None:
        super().__init__()
        self.noise_dim = 50
        self.register_buffer("pairs", pairs)
        self.copy_top = copy_top
        self.dummy = nn.Parameter(torch.zeros(()))  # so it has a device like a real network

    def forward(self, z: Tensor) -> Tensor:
        idx = ((z[:, 0] + 1) / 2 * len(self.pairs)).long().clamp(max=len(self.pairs) - 1)
        x = self.pairs[idx]
        return torch.cat([x[:, :, :28], x[:, :, :28]], dim=2) if self.copy_top else x


def evaluator() -> PairedMNISTEvaluator:
    return PairedMNISTEvaluator(classifier_epochs=1, progress=False)


@pytest.fixture(scope="module")
def trainers(tmp_path_factory):
    """A tiny untrained trainer on PairedMNIST for lam 0.1 and 0.9."""
    root = tmp_path_factory.mktemp("eval")
    return {lam: build_trainer(compose_config(*TINY, *SMALL, f"lam={lam}"), root / str(lam)) for lam in (0.1, 0.9)}


def metrics_of(trainer, generator) -> dict[str, float]:
    trainer.G = generator
    return evaluator()(trainer.G, trainer.data)


def test_metric_names_and_ranges(trainers):
    m = evaluator()(trainers[0.9].G, trainers[0.9].data)  # the untrained MLP generator: blurry noise
    assert tuple(m) == METRICS
    assert all(isinstance(v, float) and v == v for v in m.values())
    assert 0.7 < m["classifier_accuracy"] <= 1.0
    assert m["fid"] == pytest.approx((m["fid_top"] + m["fid_bottom"]) / 2)


@pytest.mark.parametrize("lam", [0.1, 0.9])
def test_a_generator_of_real_pairs_beats_noise_and_models_the_dependencies(trainers, lam):
    trainer = trainers[lam]
    untrained = evaluator()(trainer.G, trainer.data)
    real = metrics_of(trainer, Replay(trainer.data.train))  # training pairs, same lam
    assert real["fid_top"] < 0.2 * untrained["fid_top"] and real["fid_bottom"] < 0.2 * untrained["fid_bottom"]
    assert real["dependency"] < 0.6  # classifier errors alone (86 % accuracy) stay small


def test_copying_the_top_digit_at_lam_0_1_is_caught_by_the_dependency_metric(trainers):
    trainer = trainers[0.1]
    real = metrics_of(trainer, Replay(trainer.data.train))
    copied = metrics_of(trainer, Replay(trainer.data.train, copy_top=True))
    assert copied["dependency"] > 1.0 > 2 * real["dependency"]  # 1.64 with a perfect classifier
    # Each digit alone still looks real.
    assert copied["fid_top"] == pytest.approx(real["fid_top"], rel=1e-6)


def test_generated_samples_are_seeded_and_sized_by_num_samples(trainers):
    trainer = trainers[0.9]
    a = PairedMNISTEvaluator(num_samples=300, classifier_epochs=1, progress=False)(trainer.G, trainer.data)
    b = PairedMNISTEvaluator(num_samples=300, classifier_epochs=1, progress=False)(trainer.G, trainer.data)
    c = PairedMNISTEvaluator(num_samples=300, seed=7, classifier_epochs=1, progress=False)(trainer.G, trainer.data)
    assert a == b and a["fid"] != c["fid"]
    assert a["fid"] != evaluator()(trainer.G, trainer.data)["fid"]  # 300 vs the 1,000 test pairs


@pytest.mark.parametrize("shape", [[], ["dataset.sample_shape=[1,28,28]", "dataset.sizes=[14,14]"]])
def test_other_data_is_refused(tmp_path, shape):
    trainer = build_trainer(compose_config(*TINY, "dataset=synthetic", *shape), tmp_path)
    with pytest.raises(DatasetError, match="PairedMNIST"):
        evaluator()(trainer.G, trainer.data)


def test_training_evaluates_at_the_end(run_dir, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(compose_config(*WITH_EVALUATION, *SMALL, *FAST_EVAL, "evaluation.num_samples=200"), run_dir)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["checkpoint"] == "last.pt" and saved["step"] == 4
    assert set(saved["metrics"]) == set(METRICS)
    # the run ends with the result table: direction and baselines beside each headline
    out = capsys.readouterr().out
    table = out[out.index("Result at step 4 (metrics.json):"):].splitlines()
    assert table[1].split()[:4] == ["metric", "value", "better", "baselines"]
    fid_row = next(line for line in table if line.startswith("  FID (mean over parts)"))
    assert f"{saved['metrics']['fid']:.4g}" in fid_row and " lower " in fid_row
    assert any(line.startswith("  classes covered (of 10)") and " higher " in line for line in table)
    assert "classes_covered" in saved["metrics"] and 0 <= saved["metrics"]["class_tv"] <= 1
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    assert {f"eval/{m}" for m in METRICS} <= set(acc.Tags()["scalars"])
    assert acc.Scalars("eval/fid")[0].value == pytest.approx(saved["metrics"]["fid"], rel=1e-5)
    # one run in TensorBoard: HParams in the run's own event file, none in tb/hparams
    assert [p.name for p in (run_dir / "tb").iterdir() if p.is_dir()] == []
    assert len(list((run_dir / "tb").glob("events.out.tfevents.*"))) == 1
    assert {"hparam/fid", "hparam/dependency"} <= set(acc.Tags()["scalars"])
    # the Custom Scalars tab: eval first, FID beside FID per part, then the losses per term
    from tensorboard.plugins.custom_scalar import layout_pb2, metadata

    layout = layout_pb2.Layout()
    layout.ParseFromString(acc.Tensors(metadata.CONFIG_SUMMARY_TAG)[0].tensor_proto.string_val[0])
    assert [c.title for c in layout.category] == ["eval", "training"]
    fid_chart = layout.category[0].chart[0]
    assert fid_chart.title == "FID (mean over parts) (lower is better)"
    assert list(fid_chart.multiline.tag) == ["^eval/fid$", "^eval/fid_top$", "^eval/fid_bottom$"]
    assert "discriminator loss per term" in [c.title for c in layout.category[1].chart]


# ---- protocols and the classifier's name ------------------------------------------
def test_the_png_round_trip_of_a_known_tensor():
    samples = torch.tensor([[0.2, 0.4, 0.6, 1.0], [-1.0, 0.0, 1.0, 3.0], [0.5, 0.5, 0.5, 0.5]]).view(3, 1, 2, 2)
    out = png_round_trip(samples).view(3, 4)
    # Per sample: (x - min) / (max - min + 1e-5), then floor(255 x + 0.5) / 255 (0.5 -> 127, not 128).
    expected = torch.tensor([[0, 64, 127, 255], [0, 64, 127, 255], [0, 0, 0, 0]]).float() / 255
    assert torch.equal(out, expected)
    digits = torch.randint(0, 256, (4, 1, 56, 28)).float() / 255
    digits[:, :, 0, 0], digits[:, :, 0, 1] = 0, 1  # full range: real digits come back exactly
    assert torch.equal(png_round_trip(digits), digits)
    assert torch.equal(png_round_trip(digits * 0.5 + 0.2), digits)  # a dim sample is stretched back


def test_the_png_round_trip_is_what_saving_with_torchvision_gives(tmp_path):
    from PIL import Image
    from torchvision.utils import save_image

    samples = torch.rand(6, 1, 56, 28) * 0.8 + torch.linspace(-0.3, 0.3, 6).view(6, 1, 1, 1)
    read = []
    for i, sample in enumerate(samples):  # as the official eval/Visualisation.py saves them
        save_image(sample, tmp_path / f"gen_{i}.png", normalize=True)
        read.append(torch.from_numpy(np.asarray(Image.open(tmp_path / f"gen_{i}.png"), dtype=np.float32).mean(axis=2) / 255))
    official = torch.stack(read).unsqueeze(1)
    ours = png_round_trip(samples)
    # Today's torchvision divides by max(max - min, 1e-5), 0.5's by (max - min + 1e-5): a pixel
    # within 0.003 of a rounding boundary may land one level apart.
    levels = (ours - official).abs().mul(255).round()
    assert levels.max() <= 1 and (levels == 0).float().mean() > 0.99


def test_the_protocols_classifier_settings():
    ours, official = PairedMNISTEvaluator(progress=False), PairedMNISTEvaluator(protocol="official", progress=False)
    assert ours.settings == ClassifierSettings(epochs=20, batch_size=25, lr=1e-3, seed=0, version=1)
    assert official.settings == ClassifierSettings(epochs=4, batch_size=25, lr=1e-4, seed=0, version=1)
    assert PairedMNISTEvaluator(protocol="official", classifier_epochs=2, classifier_version=2).settings == \
        ClassifierSettings(epochs=2, batch_size=25, lr=1e-4, seed=0, version=2)  # a setting given wins
    cfg = compose_config(*TINY_EVALUATED)
    assert (cfg.evaluation.protocol, cfg.evaluation.classifier_version) == ("ours", 2)  # new runs name both
    with pytest.raises(ConfigError, match="evaluation.protocol='paper' is not a protocol; use one of ours, official"):
        PairedMNISTEvaluator(protocol="paper")
    with pytest.raises(ConfigError, match="classifier_version=3 does not exist"):
        PairedMNISTEvaluator(classifier_version=3)


def test_the_official_protocol_rescales_generated_digits_before_their_fid(trainers):
    trainer = trainers[0.9]
    same_classifier = {"classifier_epochs": 1, "classifier_lr": 1e-3, "progress": False}
    ours = PairedMNISTEvaluator(**same_classifier)
    official = PairedMNISTEvaluator(protocol="official", **same_classifier)
    pairs = trainer.data.samples(TRAIN, torch.arange(trainer.data.num_samples(TRAIN)))  # in [0, 1]
    real = Replay(pairs)
    a, b = ours(real, trainer.data), official(real, trainer.data)
    # Real pairs in 8-bit steps come back as they were, but for the few (27 of 4,000)
    # whose brightest pixel is 254, not 255: those are stretched.
    assert b["fid"] == pytest.approx(a["fid"], rel=1e-3) and b["fid"] != a["fid"]
    dim = Replay(pairs * 0.5 + 0.2)  # the same pairs at half contrast
    c, d = ours(dim, trainer.data), official(dim, trainer.data)
    assert d["fid"] == pytest.approx(b["fid"], rel=1e-6) and a["fid"] < 0.5 * c["fid"]  # official: stretched back
    assert d["dependency"] == c["dependency"]  # predicted from the generated digits as they are


def test_every_result_names_its_classifier(trainers, tmp_path):
    trainer = trainers[0.9]
    result = PairedMNISTEvaluator(classifier_version=2, progress=False)(trainer.G, trainer.data)
    info = result.provenance["classifier"]
    assert info["source"] == "shipped" and info["version"] == 2 and info["epochs"] == 20
    assert info["sha256"] == weights_sha256(PairedMNISTEvaluator(classifier_version=2).classifier(trainer.data))
    assert info["test_accuracy"] == result["classifier_accuracy"] > 0.95
    run_metrics.write_metrics(tmp_path, result, step=4, settings={"_target_": "x", "classifier_version": 2})
    saved = run_metrics.read_metrics(tmp_path)
    assert saved["provenance"] == saved["by_checkpoint"]["last.pt"][saved["settings_key"]]["provenance"] == \
        {"classifier": info}
    raw = json.loads((tmp_path / "metrics.json").read_text())  # stored once, named by id
    assert raw["provenances"] == {raw["provenance"]: {"classifier": info}}
