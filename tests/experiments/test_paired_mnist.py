"""PairedMNISTEvaluator on stand-in generators with known answers, and the training hook."""
from __future__ import annotations

import json

import pytest
import torch
from torch import Tensor, nn

from conftest import TINY, compose_config
from factorgan.data.in_memory import DatasetError
from factorgan.experiments.paired_mnist import METRICS, PairedMNISTEvaluator
from factorgan.cli.train import build_trainer, train

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


def test_training_evaluates_at_the_end(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(compose_config(*WITH_EVALUATION, *SMALL, *FAST_EVAL, "evaluation.num_samples=200"), run_dir)
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["checkpoint"] == "last.pt" and saved["step"] == 4
    assert set(saved["metrics"]) == set(METRICS)
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    assert {f"eval/{m}" for m in METRICS} <= set(acc.Tags()["scalars"])
    assert acc.Scalars("eval/fid")[0].value == pytest.approx(saved["metrics"]["fid"], rel=1e-5)
