"""Evaluations during training (``evaluation.every``): curves, kept apart from the result,
and training unchanged by them."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY, TINY_EVALUATED, compose_config
from factorgan.build import build_trainer
from factorgan.cli.train import train
from factorgan.runs import checkpoint
from factorgan.runs.results.evaluation import DuringTraining

SMALL = [*TINY_EVALUATED, "trainer.max_steps=6", "generator.hidden=16", "discriminator.hidden=16",
         "evaluation.classifier_epochs=1", "evaluation.num_samples=100", "evaluation.progress=false"]


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)] if tag in events.Tags()["scalars"] else []


def assert_same(a, b, where: str = "") -> None:
    """Bit-identical nested checkpoint contents (tensors, dicts, lists, numbers)."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), where


def assert_same_state(a: dict, b: dict) -> None:
    for key in ("step", "generator", "discriminator", "opt_g", "opt_d", "rng"):
        assert_same(a[key], b[key], key)


def test_evaluating_every_two_steps_draws_curves_and_leaves_training_bit_identical(tmp_path):
    # A fresh classifier cache: the first evaluation during training trains the classifier
    # (its own seeded streams), the run without evaluations during training reuses it.
    cache = f"evaluation.cache_dir={tmp_path / 'cache'}"
    curved = train(compose_config(*SMALL, "evaluation.every=2", "evaluation.during={num_samples: 60}", cache),
                   tmp_path / "curved")
    plain = train(compose_config(*SMALL, "evaluation.every=0", cache), tmp_path / "plain")
    assert plain is not None and curved is not None
    assert_same_state(checkpoint.load(tmp_path / "plain" / "checkpoints" / checkpoint.LAST),
                      checkpoint.load(tmp_path / "curved" / "checkpoints" / checkpoint.LAST))
    data = json.loads((tmp_path / "curved" / "metrics.json").read_text())
    # during training: steps 2 and 4 (6 is the final evaluation), with their own settings
    assert sorted(data["during_training"]) == ["2", "4"]
    assert all(e["settings"]["num_samples"] == 60 for e in data["during_training"].values())
    # the run's result is the final evaluation, the same as without evaluations during training
    plain_data = json.loads((tmp_path / "plain" / "metrics.json").read_text())
    assert (data["step"], data["settings"]["num_samples"]) == (6, 100)
    assert data["metrics"] == plain_data["metrics"] and not plain_data.get("during_training")
    # one eval/fid curve: the evaluations during training, then the final one
    curve = scalars(tmp_path / "curved", "eval/fid")
    assert [s for s, _ in curve] == [2, 4, 6]
    assert curve[0][1] == pytest.approx(data["during_training"]["2"]["metrics"]["fid"], rel=1e-6)
    assert curve[2][1] == pytest.approx(data["metrics"]["fid"], rel=1e-6)
    assert [s for s, _ in scalars(tmp_path / "plain", "eval/fid")] == [6]


class NoisyEvaluator:
    """Moves every random stream and mode an evaluator could touch."""

    def __call__(self, G: torch.nn.Module, data) -> dict[str, float]:
        G.eval()
        torch.rand(100)  # the global CPU stream
        print("an evaluator's chatter")
        return {"score": 1.5}


def test_an_evaluation_restores_modes_and_global_random_streams(tmp_path, capsys):
    trainer = build_trainer(compose_config(*TINY), tmp_path)
    trainer.G.train()
    trainer.during_evaluation = DuringTraining(NoisyEvaluator(), every=2, settings={"_target_": "x.Noisy"})
    torch.manual_seed(3)
    global_before, train_before = torch.random.get_rng_state(), trainer.rng.get_state()
    trainer.step = 2
    for _ in range(2):
        assert trainer.evaluate_during_training() == {"score": 1.5}
    assert trainer.G.training and trainer.D.training
    assert torch.equal(torch.random.get_rng_state(), global_before)
    assert torch.equal(trainer.rng.get_state(), train_before)
    out = capsys.readouterr().out
    assert out.count("an evaluator's chatter") == 1  # only the first evaluation's messages
    assert out.count("evaluation at step 2: score=1.5") == 2
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["during_training"]["2"]["metrics"] == {"score": 1.5} and not saved.get("metrics")
