"""The data interface and its in-memory implementation: what each batch draws from,
evaluation access by index, and a dataset that keeps no tensor serving a whole run."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import Tensor

from factorgan.data.in_memory import InMemoryData
from factorgan.data.interface import TEST, TRAIN, TrainingData, as_float
from factorgan.method.factorisation import Factorisation


def test_sampling_respects_the_paired_subset():
    train = torch.arange(20, dtype=torch.float32).view(20, 1, 1, 1).expand(20, 1, 2, 1).contiguous()
    data = InMemoryData(train, train[:0], Factorisation(1, [1, 1]), paired=5, input_parts=1)
    g = torch.Generator().manual_seed(0)
    assert data.sample_paired(500, g).max() < 5
    assert data.sample_part(1, 500, g).max() >= 15  # parts come from every sample
    assert data.sample_inputs(500, g, paired_only=True).max() < 5
    assert data.sample_inputs(500, g, paired_only=False).max() >= 15
    assert data.input_shape == (1, 1, 1) and data.output_shape == (1, 1, 1)



def test_uint8_storage_draws_the_same_batches_as_float():
    codes = torch.randint(256, (30, 6, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    f = Factorisation(dim=0, sizes=[3, 3])
    packed = InMemoryData(codes, codes[:4], f, paired=10, input_parts=1)
    plain = InMemoryData(codes.float() / 255, codes[:4].float() / 255, f, paired=10, input_parts=1)
    for draw in (lambda d, g: d.sample_paired(12, g), lambda d, g: d.sample_part(1, 12, g),
                 lambda d, g: d.sample_inputs(12, g, paired_only=False)):
        a = draw(packed, torch.Generator().manual_seed(3))
        b = draw(plain, torch.Generator().manual_seed(3))
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_split_inputs_and_join_inputs_are_inverse():
    x = torch.rand(4, 9, 5, 5)
    data = InMemoryData(x, x[:1], Factorisation(dim=0, sizes=[2, 3, 4]), paired=2, input_parts=2)
    inputs, outputs = data.split_inputs(x)
    assert inputs.shape == (4, *data.input_shape) and outputs.shape == (4, *data.output_shape)
    torch.testing.assert_close(inputs, x[:, :5], rtol=0, atol=0)  # parts 0 and 1
    torch.testing.assert_close(outputs, x[:, 5:], rtol=0, atol=0)  # part 2
    torch.testing.assert_close(data.join_inputs(inputs, outputs), x, rtol=0, atol=0)


def test_evaluation_access_by_index_and_in_order():
    codes = torch.randint(256, (7, 6, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(14).view(7, 2)
    data = InMemoryData(codes, codes[:5], Factorisation(0, [3, 3]), paired=3, train_labels=labels, test_labels=labels[:5])
    assert data.num_samples(TRAIN) == 7 and data.num_samples(TEST) == 5
    torch.testing.assert_close(data.samples(TRAIN, torch.tensor([6, 0])), as_float(codes[[6, 0]]), rtol=0, atol=0)
    batches = list(data.batches(TEST, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    torch.testing.assert_close(torch.cat(batches), as_float(codes[:5]), rtol=0, atol=0)
    torch.testing.assert_close(data.examples(3), as_float(codes[:3]), rtol=0, atol=0)
    assert torch.equal(data.labels(TEST), labels[:5]) and torch.equal(data.labels(TRAIN), labels)
    with pytest.raises(ValueError, match="split"):
        data.num_samples("val")


def test_examples_fall_back_to_training_samples_without_a_test_split():
    x = torch.rand(6, 1, 4, 2)
    data = InMemoryData(x, x[:0], Factorisation(1, [2, 2]), paired=2)
    torch.testing.assert_close(data.examples(4), x[:4], rtol=0, atol=0)


def test_outputs_are_drawn_independently_of_inputs():
    rows = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1).expand(50, 2, 1, 1).contiguous()
    data = InMemoryData(rows, rows[:0], Factorisation(0, [1, 1]), paired=0, input_parts=1)
    g = torch.Generator().manual_seed(0)
    a, b = data.sample_inputs(400, g), data.sample_outputs(400, g)
    assert a.shape == b.shape == (400, 1, 1, 1)
    assert (a != b).float().mean() > 0.9  # different samples: the pairing is not kept
    assert b.max() >= 45  # from every sample, paired=0 notwithstanding


class StreamedData(TrainingData):
    """A dataset that holds no tensor: sample i is computed from i on demand, as a
    memory-mapped or streamed implementation would read it."""

    def __init__(self, n_train: int, n_test: int, paired: int, input_parts: int = 0) -> None:
        self.factorisation = Factorisation(0, [3, 3])  # RGB | RGB
        self.input_parts, self.paired, self.name = input_parts, paired, "streamed"
        self.n = {TRAIN: n_train, TEST: n_test}
        self.reads = 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (6, 8, 8)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def to(self, device, memory_format=torch.preserve_format) -> "StreamedData":
        return self

    def _make(self, index: Tensor, offset: float = 0.0) -> Tensor:
        self.reads += 1
        ramp = torch.linspace(0, 1, 64).view(1, 1, 8, 8)
        level = (index.float().view(-1, 1, 1, 1) + offset) % 10 / 10
        return torch.cat([level * ramp, (1 - level) * ramp], dim=1).repeat(1, 3, 1, 1)

    def sample_paired(self, n, generator):
        return self._make(torch.randint(self.paired, (n,), generator=generator))

    def sample_part(self, i, n, generator):
        return self.factorisation.split(self._make(torch.randint(self.n[TRAIN], (n,), generator=generator)))[i]

    def sample_inputs(self, n, generator, paired_only=False):
        high = self.paired if paired_only else self.n[TRAIN]
        return self.split_inputs(self._make(torch.randint(high, (n,), generator=generator)))[0]

    def sample_outputs(self, n, generator):
        return self.split_inputs(self._make(torch.randint(self.n[TRAIN], (n,), generator=generator)))[1]

    def num_samples(self, split=TEST):
        return self.n[split]

    def samples(self, split, index):
        return self._make(index, offset=0.5 if split == TEST else 0.0)


@pytest.mark.parametrize("conditional", [False, True])
def test_a_dataset_without_tensors_serves_training_grids_and_evaluation(tmp_path: Path, conditional):
    """Training, sample grids, fixed-seed samples and an evaluator need nothing but the
    interface: a run on :class:`StreamedData` reads every batch through it."""
    from factorgan.evaluators.image_pairs import LSScoreEvaluator
    from factorgan.evaluators.segmentation import CityscapesEvaluator
    from factorgan.method.variants import factorised_discriminator
    from factorgan.nets.mlp import MLPDiscriminator
    from factorgan.nets.mlp import MLPGenerator
    from factorgan.samples.generate import draw_samples
    from factorgan.training.loop import TrainerSettings, Trainer

    torch.manual_seed(0)
    data = StreamedData(n_train=40, n_test=10, paired=5, input_parts=int(conditional))
    G = MLPGenerator(data.output_shape, noise_dim=4, hidden=8, cond_shape=data.input_shape)
    D = factorised_discriminator(lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8),
                                 data.sample_shape, data.factorisation, input_parts=data.input_parts)
    trainer = Trainer(G, D, data, objective=lambda v: torch.nn.functional.softplus(-v),
                      make_optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
                      settings=TrainerSettings(max_steps=3, batch_size=6, log_every=1, sample_every=3, ckpt_every=3,
                                        progress=False), run_dir=tmp_path)
    trainer.fit()
    assert trainer.step == 3 and data.reads > 0
    assert (tmp_path / "samples" / "latest.png").exists() and (tmp_path / "checkpoints" / "last.pt").exists()
    x = draw_samples(G, data, 12, seed=1)
    assert x.shape == (12, 6, 8, 8)
    torch.testing.assert_close(x, draw_samples(G, data, 12, seed=1), rtol=0, atol=0)
    if conditional:  # inputs are the test split's, in order, cycled
        torch.testing.assert_close(x[:, :3], data.samples(TEST, torch.arange(12) % 10)[:, :3])
        scores = CityscapesEvaluator(batch_size=4, progress=False)(G, data)
        assert 0.0 < scores["mse"] < 1.0
    else:
        scores = LSScoreEvaluator(runs=1, epochs=1, batch_size=4, filters=2, progress=False)(G, data)
        assert scores["ls"] > 0.0


def test_with_factorisation_recuts_the_same_samples():
    from factorgan.data.interface import DatasetError
    from factorgan.method.factorisation import GridFactorisation

    x = torch.rand(20, 1, 8, 6)
    data = InMemoryData(x, x[:0], Factorisation(1, [4, 4]), paired=5)
    g = torch.Generator().manual_seed(0)
    data.with_factorisation(GridFactorisation(2, 2))
    assert data.factorisation.num_parts == 4 and data.output_shape == (1, 8, 6)
    part = data.sample_part(3, 7, g)  # bottom-right blocks of training samples
    rows = {tuple(r.flatten().tolist()) for r in x[:, :, 4:, 3:]}
    assert part.shape == (7, 1, 4, 3) and {tuple(r.flatten().tolist()) for r in part} <= rows
    with pytest.raises(DatasetError, match="does not fit"):
        data.with_factorisation(Factorisation(1, [4, 5]))
    conditional = InMemoryData(x, x[:0], Factorisation(1, [4, 4]), paired=5, input_parts=1)
    with pytest.raises(DatasetError, match="factorisation=slices"):
        conditional.with_factorisation(GridFactorisation(2, 2))
    conditional.with_factorisation(Factorisation(2, [2, 2, 2]))
    assert conditional.input_shape == (1, 8, 2) and conditional.output_shape == (1, 8, 4)
