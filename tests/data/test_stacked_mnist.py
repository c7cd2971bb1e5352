"""StackedMNIST (K ≥ 2 stacked digits, ``experiment=triple_mnist``): the data's class
chain, the generalised dependency metrics, the evaluator, Theorem 1 at K = 3, and a
tiny training run."""
from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from conftest import TINY, TINY_EVALUATED, compose_config
from factorgan.build import build_trainer
from factorgan.cli.train import train
from factorgan.data.in_memory import DatasetError, PairedCountError
from factorgan.data.formats.mnist import load_embedded, paired_mnist
from factorgan.data.formats.stacked_mnist import class_chain, make_digit_stacks, stacked_mnist
from factorgan.evaluators.paired_mnist import PairedMNISTEvaluator
from factorgan.evaluators.stacked_mnist import StackedMNISTEvaluator, metric_names
from factorgan.method.discriminator import RealBatch
from factorgan.method.factorisation import Factorisation
from factorgan.method.terms import combine
from factorgan.method.variants import factorgan_terms, factorised_discriminator
from factorgan.metrics.dependency import (
    EPS, dependency_metric, joint_dependency_metric, joint_eps, pair_dependency,
)
from factorgan.metrics import mnist_classifier
from factorgan.metrics.mnist_classifier import MNISTClassifier

SMALL = ["generator.hidden=16", "discriminator.hidden=16"]


# ---- data ---------------------------------------------------------------------------
def indexed_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` fake 'digits' whose first two pixels spell their index, classes i % 10."""
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = np.arange(n) % 256, np.arange(n) // 256
    return images, np.arange(n) % 10


def source_rows(stacks: np.ndarray, digits: int) -> np.ndarray:
    """The index of the source digit at every position, ``(N, digits)``."""
    first = stacks[:, 0::28, :2].astype(np.int64)  # (N, digits, 2): each digit's first row's pixels
    return first[..., 0] + 256 * first[..., 1]


@pytest.fixture(scope="module")
def triple() -> "InMemoryData":  # noqa: F821
    return stacked_mnist(100, digits=3)


def test_shapes_labels_and_parts(triple):
    assert triple.train.shape == (4000, 1, 84, 28) and triple.test.shape == (1000, 1, 84, 28)
    assert triple.train.dtype == torch.uint8
    assert triple.train_labels.shape == (4000, 3) and triple.test_labels.shape == (1000, 3)
    assert triple.factorisation.num_parts == 3 and triple.paired == 100
    x = triple.samples("test", torch.arange(5))
    parts = triple.factorisation.split(x)
    assert [tuple(p.shape) for p in parts] == [(5, 1, 28, 28)] * 3
    for k, part in enumerate(parts):
        torch.testing.assert_close(part, x[:, :, 28 * k : 28 * (k + 1)], rtol=0, atol=0)


def test_every_part_is_a_digit_of_its_class_from_the_split_and_every_digit_tops_once():
    images, labels = indexed_digits(500)
    stacks, stack_labels = make_digit_stacks(images, labels, 4, 0.7, np.random.default_rng(0))
    assert stacks.shape == (500, 112, 28) and stack_labels.shape == (500, 4)
    rows = source_rows(stacks, 4)
    np.testing.assert_array_equal(np.sort(rows[:, 0]), np.arange(500))  # each digit on top exactly once
    np.testing.assert_array_equal(labels[rows], stack_labels)  # each part is a digit of its label's class
    assert len(np.unique(rows[:, 1:])) > 250  # lower digits are drawn, not the top's order repeated


@pytest.mark.parametrize("digits", [2, 3, 5])
def test_lam_1_repeats_the_top_class_and_lam_0_always_changes_it(digits):
    images, labels = indexed_digits(300)
    _, same = make_digit_stacks(images, labels, digits, 1.0, np.random.default_rng(1))
    assert (same == same[:, :1]).all()
    _, differ = make_digit_stacks(images, labels, digits, 0.0, np.random.default_rng(1))
    assert (differ[:, 1:] != differ[:, :-1]).all()


def test_class_chain_statistics_at_lam_0_9():
    rng = np.random.default_rng(2)
    n, lam = 200_000, 0.9
    chain = class_chain(rng.integers(0, 10, n), 3, lam, rng)
    for k in (1, 2):
        step = (chain[:, k] - chain[:, k - 1]) % 10  # 0: same class, 1..9: which other class
        freq = np.bincount(step, minlength=10) / n
        np.testing.assert_allclose(freq, [lam] + [(1 - lam) / 9] * 9, rtol=0, atol=0.003)
    # Two links: the bottom repeats the top with λ² + (1 − λ)²/9.
    np.testing.assert_allclose((chain[:, 2] == chain[:, 0]).mean(), lam**2 + (1 - lam) ** 2 / 9, atol=0.004)


def test_two_digits_are_exactly_paired_mnist():
    a, b = stacked_mnist(7, digits=2, lam=0.3, seed=5), paired_mnist(7, lam=0.3, seed=5)
    for x, y in ((a.train, b.train), (a.test, b.test), (a.train_labels, b.train_labels), (a.test_labels, b.test_labels)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_the_top_digits_are_the_training_split_once(triple):
    (train_images, _), _ = load_embedded()
    top = triple.train[:, 0, :28].reshape(4000, -1).numpy()
    def rows(a: np.ndarray) -> list[bytes]:
        return sorted(r.tobytes() for r in a.reshape(len(a), -1))
    assert rows(top) == rows(train_images)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"digits": 1}, DatasetError, "digits=1"),
    ({"digits": 2.5}, DatasetError, "integer"),
    ({"lam": 1.5}, DatasetError, "lam=1.5"),
    ({"source": "web"}, DatasetError, "unknown MNIST source"),
    ({"source": "idx"}, DatasetError, "dataset.root"),
    ({"paired": 4001}, PairedCountError, "maximum is paired=4000"),
    ({"paired": 3500, "prefix_only": 1000}, PairedCountError, "maximum is paired=3000"),
    ({"prefix_only": -1}, DatasetError, "prefix_only=-1"),
])
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        stacked_mnist(**{"paired": 10, **kwargs})


def test_prefixes_are_the_same_stacks_without_their_last_digit(triple):
    """prefix_only: the stacks after the paired ones feed the chain's prefix pair (x1, x2)
    whole; their third digit is never seen; D_P still reads only the paired stacks."""
    data = stacked_mnist(100, digits=3, prefix_only=500)
    g = torch.Generator().manual_seed(0)
    assert data.pool_sizes() == {"complete": 3500, "paired": 100, "part_0": 4000, "part_1": 4000, "part_2": 3500}

    def as_bytes(x: Tensor) -> set[bytes]:  # rows of uint8 codes or of floats in [0, 1]
        codes = x if x.dtype == torch.uint8 else (x * 255).round().to(torch.uint8)
        return {bytes(r.numpy().tobytes()) for r in codes.flatten(1)}

    prefixes = data.sample_observed((0, 1), 12000, g)  # every one of the 600 drawn (missing one: p < 1e-5)
    assert (prefixes[:, :, 56:] == 0).all()
    assert as_bytes(prefixes[:, :, :56]) == as_bytes(triple.train[:600, :, :56])  # 100 paired + 500 prefixes
    assert as_bytes(data.sample_paired(2000, g)) == as_bytes(triple.train[:100])
    # The prefixes' third digits are in no pool; every other stack's are.
    assert torch.equal(data.parts[2], torch.cat([triple.train[:100, :, 56:], triple.train[600:, :, 56:]]))
    # Evaluation reads what the in-memory dataset gives.
    torch.testing.assert_close(data.samples("train", torch.arange(5)), triple.samples("train", torch.arange(5)))
    assert torch.equal(data.labels("test"), triple.labels("test"))


# ---- the generalised dependency metrics ---------------------------------------------
def chain_labels(lam: float, n: int, seed: int, digits: int = 3) -> Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(class_chain(rng.integers(0, 10, n), digits, lam, rng))


def paper_metric(real: Tensor, fake: Tensor) -> float:
    """Eq. 5 for two digits, written out densely: mean over 10×10 of |c_P − c_Q|."""
    def c(labels: Tensor) -> np.ndarray:
        joint = np.zeros((10, 10))
        np.add.at(joint, (labels[:, 0].numpy(), labels[:, 1].numpy()), 1.0)
        joint /= len(labels)
        return joint / (np.outer(joint.sum(1), joint.sum(0)) + 0.001)
    return float(np.abs(c(real) - c(fake)).mean())


def dense_joint_metric(real: Tensor, fake: Tensor) -> float:
    """Eq. 5 on the full 10^K joint histogram, written out densely."""
    k = real.shape[1]
    def c(labels: Tensor) -> np.ndarray:
        joint = np.zeros((10,) * k)
        np.add.at(joint, tuple(labels.numpy().T), 1.0)
        joint /= len(labels)
        product = np.ones((10,) * k)
        for i in range(k):
            marginal = joint.sum(axis=tuple(a for a in range(k) if a != i))
            product = product * marginal.reshape([10 if a == i else 1 for a in range(k)])
        return joint / (product + 0.1 * 10.0**-k)
    return float(np.abs(c(real) - c(fake)).mean())


def test_matching_joint_distributions_score_zero_and_others_positive():
    real = chain_labels(0.9, 2000, 0)
    shuffled = real[torch.randperm(len(real))]  # the same joint distribution exactly
    assert dependency_metric(real, shuffled) == 0.0 and joint_dependency_metric(real, shuffled) == 0.0
    third_independent = real.clone()
    third_independent[:, 2] = real[torch.randperm(len(real)), 2]  # same marginals, (1,3), (2,3) broken
    assert dependency_metric(real, third_independent) > 0.5
    assert joint_dependency_metric(real, third_independent) > 0.5


def test_two_digits_give_the_papers_value():
    real, fake = chain_labels(0.9, 3000, 0, digits=2), chain_labels(0.4, 3000, 1, digits=2)
    expected = paper_metric(real, fake)
    assert expected > 0.5
    assert dependency_metric(real, fake) == expected  # the K = 2 value is unchanged, bit for bit
    torch.testing.assert_close(joint_dependency_metric(real, fake), expected, rtol=1e-12, atol=0)
    assert joint_eps(2) == pytest.approx(EPS, rel=1e-12)


def test_k_digits_average_every_pair_and_the_joint_matches_its_dense_definition():
    real, fake = chain_labels(0.9, 3000, 0, digits=3), chain_labels(0.6, 2500, 1, digits=3)
    pairs = [paper_metric(real[:, [i, j]], fake[:, [i, j]]) for i, j in combinations(range(3), 2)]
    torch.testing.assert_close(dependency_metric(real, fake), sum(pairs) / 3, rtol=1e-12, atol=0)
    torch.testing.assert_close(pair_dependency(real, fake, 0, 2), pairs[1], rtol=1e-12, atol=0)
    torch.testing.assert_close(joint_dependency_metric(real, fake), dense_joint_metric(real, fake), rtol=1e-12, atol=0)


def test_independent_digits_at_lam_0_9_score_about_1_4():
    real, independent = chain_labels(0.9, 20000, 0), chain_labels(0.1, 20000, 1)
    assert dependency_metric(real, independent) == pytest.approx(1.40, abs=0.05)
    assert dependency_metric(real, chain_labels(0.9, 20000, 1)) < 0.1


def test_only_the_joint_metric_sees_a_three_digit_dependency():
    # x3 = x1 + x2 (mod 10) with x1, x2 independent: every pair is independent.
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 10, (50_000, 2), generator=g)
    real = torch.cat([x, (x.sum(1, keepdim=True)) % 10], dim=1)
    fake = torch.randint(0, 10, (50_000, 3), generator=g)
    assert dependency_metric(real, fake) < 0.1
    # c_P = 0.01 / 0.0011 on the 100 tuples real data has, 0 elsewhere; c_Q ≈ 0.001 / 0.0011.
    expected = (100 * (0.01 - 0.001) + 900 * 0.001) / 0.0011 / 1000
    assert joint_dependency_metric(real, fake) == pytest.approx(expected, rel=0.03)


def test_labels_must_have_matching_digits():
    with pytest.raises(ValueError, match="same K"):
        dependency_metric(torch.zeros(5, 3, dtype=torch.long), torch.zeros(5, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 digits"):
        joint_dependency_metric(torch.zeros(5, 1, dtype=torch.long), torch.zeros(5, 1, dtype=torch.long))


# ---- the evaluator ------------------------------------------------------------------
class Replay(nn.Module):
    """A 'generator' returning stored stacks picked by the noise (a perfect model of them);
    ``independent`` parts are each taken from their own row (their class pairing broken)."""

    def __init__(self, stacks: Tensor, independent: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.noise_dim = 50
        self.register_buffer("stacks", stacks)
        self.independent = independent
        self.dummy = nn.Parameter(torch.zeros(()))  # so it has a device like a real network

    def forward(self, z: Tensor) -> Tensor:
        def pick(u: Tensor) -> Tensor:
            return ((u + 1) / 2 * len(self.stacks)).long().clamp(max=len(self.stacks) - 1)
        x = self.stacks[pick(z[:, 0])].float() / 255
        for j, k in enumerate(self.independent):
            x[:, :, 28 * k : 28 * (k + 1)] = self.stacks[pick(z[:, j + 1]), :, 28 * k : 28 * (k + 1)].float() / 255
        return x


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    """A tiny untrained trainer on TripleMNIST."""
    return build_trainer(compose_config("experiment=triple_mnist", *TINY, *SMALL), tmp_path_factory.mktemp("triple"))


def evaluate(G: nn.Module, data, cls=StackedMNISTEvaluator) -> dict[str, float]:
    # One classifier epoch (86 % test accuracy), cached for the session (the file
    # tests/experiments/test_paired_mnist.py trains and uses), and 300 samples keep it fast.
    return cls(num_samples=300, classifier_epochs=1, progress=False)(G, data)


def test_metrics_of_noise_real_stacks_and_a_broken_third_digit(trainer):
    data = trainer.data
    noise = evaluate(trainer.G, data)  # the untrained MLP generator: blurry noise
    assert tuple(noise) == metric_names(3)
    assert all(isinstance(v, float) and np.isfinite(v) for v in noise.values())
    assert 0.7 < noise["classifier_accuracy"] <= 1.0
    assert noise["fid"] == pytest.approx((noise["fid_1"] + noise["fid_2"] + noise["fid_3"]) / 3, rel=1e-12)

    real = evaluate(Replay(data.train), data)
    for k in (1, 2, 3):
        assert real[f"fid_{k}"] < 0.3 * noise[f"fid_{k}"]
    assert real["dependency"] < 0.6  # sampling noise and classifier errors only

    broken = evaluate(Replay(data.train, independent=(2,)), data)
    assert broken["dependency"] > real["dependency"] + 0.3
    assert broken["dependency_joint"] > real["dependency_joint"] + 0.3
    assert broken["fid_3"] < 0.3 * noise["fid_3"]  # each digit alone still looks real


def test_the_classifier_is_paired_mnists(triple, tmp_path, monkeypatch):
    """Trained on the stacks' top digits (every training digit once), it is the cache file
    PairedMNIST's evaluator looks up: training it for one is a cache hit for the other."""
    trained = []

    def untrained(images, labels, settings, progress=True):  # the real keying, no training
        trained.append(len(images))
        return MNISTClassifier().to(images.device).eval()

    monkeypatch.setattr(mnist_classifier, "train_classifier", untrained)
    settings = {"cache_dir": str(tmp_path), "classifier_epochs": 1, "progress": False}
    StackedMNISTEvaluator(**settings).classifier(triple)
    assert trained == [4000] and len(list(tmp_path.rglob("*.pt"))) == 1
    PairedMNISTEvaluator(**settings).classifier(paired_mnist(100))  # the same digits, paired otherwise
    assert trained == [4000]  # a hit
    StackedMNISTEvaluator(**settings).classifier(stacked_mnist(100, digits=4, lam=0.2, seed=3))
    assert trained == [4000]


def test_at_two_digits_it_is_paired_mnists_evaluation(tmp_path):
    pair_trainer = build_trainer(compose_config(*TINY, *SMALL), tmp_path)  # experiment=paired_mnist
    stacked = evaluate(pair_trainer.G, pair_trainer.data)
    paired = evaluate(pair_trainer.G, pair_trainer.data, cls=PairedMNISTEvaluator)
    assert tuple(stacked) == metric_names(2)
    for mine, theirs in (("fid_1", "fid_top"), ("fid_2", "fid_bottom"), ("fid", "fid"), ("dependency", "dependency")):
        torch.testing.assert_close(stacked[mine], paired[theirs], rtol=1e-12, atol=0)


def test_other_data_is_refused(tmp_path):
    t = build_trainer(compose_config(*TINY, "dataset=synthetic"), tmp_path)
    with pytest.raises(DatasetError, match="StackedMNIST"):
        StackedMNISTEvaluator(progress=False)(t.G, t.data)


# ---- Theorem 1 at K = 3 -------------------------------------------------------------
V = 3  # values per part in the discrete test space


class TableNet(nn.Module):
    """A free logit per discrete input: inputs ``(N, *in_shape)`` with values in {0..V-1}."""

    def __init__(self, in_shape, width_mult: int = 1) -> None:
        super().__init__()
        self.k = int(np.prod(in_shape))
        self.table = nn.Parameter(torch.zeros(V**self.k))

    def forward(self, x: Tensor) -> Tensor:
        digits = x.reshape(x.shape[0], -1).long()
        return self.table[(digits * V ** torch.arange(self.k - 1, -1, -1)).sum(1)]


def three_part_discriminator(dep_p: bool = True):
    return factorised_discriminator(TableNet, (3,), Factorisation(0, [1, 1, 1]), dep_p=dep_p, spectral_norm=False)


def distribution(seed: int) -> Tensor:
    """A random joint distribution ``(V, V, V)`` with every state likely."""
    w = torch.rand(V, V, V, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + 0.1
    return w / w.sum()


def marginals(p: Tensor) -> list[Tensor]:
    return [p.sum((1, 2)), p.sum((0, 2)), p.sum((0, 1))]


def product(m: list[Tensor]) -> Tensor:
    return m[0][:, None, None] * m[1][None, :, None] * m[2][None, None, :]


def every_state() -> Tensor:
    return torch.cartesian_prod(*[torch.arange(V)] * 3).float()  # (27, 3), row-major like p.flatten()


def test_three_parts_combine_as_the_signed_sum():
    terms = {n: torch.randn(4) for n in ("marginal_0", "marginal_1", "marginal_2", "dep_p", "dep_q")}
    expected = terms["marginal_0"] + terms["marginal_1"] + terms["marginal_2"] + terms["dep_p"] - terms["dep_q"]
    torch.testing.assert_close(combine(terms, factorgan_terms(3)), expected)


def test_theorem1_optimal_terms_give_log_p_over_q_at_k_3():
    p, q = distribution(0), distribution(1)
    d = three_part_discriminator()
    mp, mq = marginals(p), marginals(q)  # float64; the tables hold them as float32
    with torch.no_grad():
        for i in range(3):  # optimal BCE discriminators: d = log(real density / fake density)
            d.nets[f"marginal_{i}"].table.copy_(torch.log(mp[i] / mq[i]))
        d.nets["dep_p"].table.copy_(torch.log(p / product(mp)).flatten())
        d.nets["dep_q"].table.copy_(torch.log(q / product(mq)).flatten())
        logit = d(every_state())
    torch.testing.assert_close(logit, torch.log(p / q).flatten().float(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.sigmoid(logit), (p / (p + q)).flatten().float(), rtol=1e-5, atol=1e-6)


def sample_states(dist: Tensor, n: int, g: torch.Generator) -> Tensor:
    idx = torch.multinomial(dist.flatten().float(), n, replacement=True, generator=g)
    return torch.stack([idx // (V * V), idx // V % V, idx % V], 1).float()


@pytest.mark.parametrize("dep_p", [True, False])
def test_training_the_three_part_terms_recovers_theorem1(dep_p):
    """Each term trained on its own data (marginals: part i of real vs fake samples, D_P:
    paired vs shuffled paired, D_Q: fake vs shuffled fake) combines to p/(p+q); without D_P
    (no-cp) to the optimum for independent parts, ∏ p_i/(∏ p_i + q)."""
    torch.manual_seed(0)
    p, q = distribution(2), distribution(3)
    d = three_part_discriminator(dep_p)
    steps, n = 200, 4096
    opt = torch.optim.Adam(d.parameters(), lr=0.1)
    # Decaying to 0 averages out the minibatches' noise: the end point is the optimum's.
    decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / steps)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        real, isolated = sample_states(p, n, g), sample_states(p, n, g)
        parts = {i: isolated[:, i : i + 1] for i in range(3)}  # each part alone (their pairing unused)
        losses = d.losses(RealBatch(paired=real if dep_p else None, parts=parts), sample_states(q, n, g), g)
        opt.zero_grad()
        sum(t.loss for t in losses.values()).backward()
        opt.step()
        decay.step()
    got = torch.sigmoid(d(every_state())).detach().double()
    target = (p if dep_p else product(marginals(p))).flatten()
    # Trained to within 0.02 (4 seeds); the two optima differ by 0.25 somewhere.
    torch.testing.assert_close(got, target / (target + q.flatten()), rtol=0, atol=0.04)


# ---- training -----------------------------------------------------------------------
def test_training_triple_mnist_runs_and_evaluates(run_dir):
    cfg = compose_config("experiment=triple_mnist", *TINY_EVALUATED, *SMALL, "evaluation.classifier_epochs=1",
                         "evaluation.progress=false", "evaluation.num_samples=200")
    assert cfg.run_path == "triple_mnist/factorgan/paired100_lam0.9_seed0"
    t = train(cfg, run_dir)
    assert set(t.D.term_logits(torch.zeros(2, 1, 84, 28))) == {"marginal_0", "marginal_1", "marginal_2", "dep_p", "dep_q"}
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["step"] == 4 and tuple(saved["metrics"]) == metric_names(3)  # in the evaluator's order
    assert (run_dir / "samples" / "latest.png").exists()


def test_the_gan_baseline_runs_on_three_digits(run_dir):
    t = train(compose_config("experiment=triple_mnist", "model=gan", "paired=50", *TINY, *SMALL), run_dir)
    assert set(t.D.nets) == {"joint"} and t.data.paired == 50
