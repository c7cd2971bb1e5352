"""Factorisation trees (factorgan/method/tree.py): flat FactorGAN is today's terms, and
Theorem 1 holds for a two-level tree and an autoregressive chain: optimal
sub-discriminator logits, summed with the tree's signs, are the optimal joint logit."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from conftest import TINY, compose_config
from factorgan.build import build_trainer
from factorgan.cli.train import train
from factorgan.errors import ConfigError
from factorgan.method.discriminator import CombinedDiscriminator, RealBatch
from factorgan.method.factorisation import Factorisation, GridFactorisation
from factorgan.method.terms import GENERATED, PAIRED, PART, Batch, Term, combine, marginal, p_dependency, q_dependency
from factorgan.method.tree import FactorisationTree, MaskedViews, Node
from factorgan.method.variants import factorgan_terms, seen_parts, tree_discriminator
from factorgan.nets.mlp import MLPDiscriminator
from factorgan.runs import checkpoint

V = 2  # values per part

TWO_LEVEL = [[0, 1], [2, 3]]


def states(k: int) -> torch.Tensor:
    """Every joint state of k parts, ``(V**k, k)``, row-major like a ``(V,)*k`` table."""
    return torch.tensor(list(itertools.product(range(V), repeat=k)))


def random_joint(k: int, seed: int, floor: float = 0.02) -> torch.Tensor:
    """A joint distribution over k parts with dependencies between all of them."""
    w = torch.rand((V,) * k, generator=torch.Generator().manual_seed(seed)) ** 3 + floor
    return (w / w.sum()).double()


def log_marginal(r: torch.Tensor, parts: tuple[int, ...], x: torch.Tensor) -> torch.Tensor:
    """log r(x_parts) at states ``x`` ``(N, K)`` (the marginal of the table ``r``)."""
    keep = sorted(parts)
    m = r.sum([d for d in range(r.dim()) if d not in keep]) if len(keep) < r.dim() else r
    return torch.log(m[tuple(x[:, d] for d in keep)])


def log_density(term: Term, batch: Batch, p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log density of one side of ``term``'s batch on its view of states ``x``, read off
    the term's data: its source (real p or generated q), its parts, and for a shuffled
    side the product of its shuffle groups' marginals (parts in no group stay with the
    first group, which is not permuted)."""
    k = p.dim()
    r = q if batch.source == GENERATED else p
    view = set(range(k)) if term.parts is None else set(term.parts)
    if not batch.shuffled:
        return log_marginal(r, tuple(view), x)
    groups = [set(g) for g in (term.shuffle_groups or [[i] for i in range(k)])]
    groups[0] |= set(range(k)) - set().union(*groups)
    return sum(log_marginal(r, tuple(g & view), x) for g in groups if g & view)


def optimal_logits(terms: list[Term], p: torch.Tensor, q: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each term's optimal BCE logit: log(real density / fake density) of its batches."""
    return {t.name: log_density(t, t.real, p, q, x) - log_density(t, t.fake, p, q, x) for t in terms}


# ---- structure --------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("input_parts,dep_p,dep_q,see_inputs",
                         [(0, True, True, True), (0, False, True, True), (1, True, True, True),
                          (1, True, True, False), (1, False, True, False)])
def test_the_flat_tree_is_todays_factorgan(k, input_parts, dep_p, dep_q, see_inputs):
    tree = FactorisationTree.from_config("flat", k)
    parts = seen_parts(k, input_parts, see_inputs)  # the paper's terms, written out
    paper = [marginal(i) for i in range(input_parts, k)] + [p_dependency(parts=parts)] * dep_p \
        + [q_dependency(parts=parts)] * dep_q
    assert tree.terms(input_parts, dep_p, dep_q, see_inputs) == paper == factorgan_terms(k, input_parts, dep_p, dep_q, see_inputs)
    assert FactorisationTree.from_config(list(range(k)), k) == tree


def test_a_chain_is_a_left_deep_tree_with_a_pair_per_prefix():
    chain = FactorisationTree.chain(3)
    assert chain == FactorisationTree.from_config([[0, 1], 2], 3) == FactorisationTree.from_config("chain", 3)
    terms = {t.name: t for t in chain.terms()}
    assert list(terms) == ["marginal_0", "marginal_1", "marginal_2", "dep_p", "dep_q", "dep_p_0_1", "dep_q_0_1"]
    # x_1 x_2 x_3 against x_1 x_2 with an independent x_3; x_1 x_2 against x_1 and x_2.
    assert terms["dep_p"].parts is None and terms["dep_p"].shuffle_groups == ((0, 1), (2,))
    assert terms["dep_q_0_1"].parts == (0, 1) and terms["dep_q_0_1"].shuffle_groups == ((0,), (1,))
    assert [terms[n].sign for n in ("dep_p", "dep_q", "dep_p_0_1", "dep_q_0_1")] == [1, -1, 1, -1]
    assert FactorisationTree.chain([2, 0, 1]).describe() == "[[2, 0], 1]"


def test_two_level_term_names_name_their_nodes():
    tree = FactorisationTree.from_config(TWO_LEVEL, 4)
    assert [t.name for t in tree.terms()] == [
        "marginal_0", "marginal_1", "marginal_2", "marginal_3",
        "dep_p", "dep_q", "dep_p_0_1", "dep_q_0_1", "dep_p_2_3", "dep_q_2_3"]
    leafy = FactorisationTree.from_config([{"leaf": [0, 1]}, [2, 3]], 4)
    terms = {t.name: t for t in leafy.terms()}
    assert set(terms) == {"marginal_0-1", "marginal_2", "marginal_3", "dep_p", "dep_q", "dep_p_2_3", "dep_q_2_3"}
    assert terms["marginal_0-1"].real == Batch(PART) and terms["marginal_0-1"].parts == (0, 1)
    assert terms["dep_p"].shuffle_groups == ((0, 1), (2, 3))
    # Data per node: the root's D_P reads complete samples, an inner split's D_P every
    # observation holding its parts together; every D_Q reads the generator batch.
    two = {t.name: t for t in tree.terms()}
    assert two["dep_p"].real == Batch(PAIRED) and two["dep_p"].fake == Batch(PAIRED, shuffled=True)
    assert two["dep_p_0_1"].real == Batch(PART) and two["dep_p_0_1"].fake == Batch(PART, shuffled=True)
    assert two["dep_p_0_1"].parts == (0, 1) and two["dep_q_2_3"].real == Batch(GENERATED)
    # Conditional (part 0 is the generator's input): no marginal and no pair on inputs alone.
    cond = [t.name for t in FactorisationTree.from_config([[0, 1], 2], 3).terms(input_parts=2)]
    assert cond == ["marginal_2", "dep_p", "dep_q"]


def test_config_trees_from_omegaconf_and_clear_errors():
    spec = OmegaConf.create({"tree": [[0, 1], {"leaf": [2, 3]}]}).tree
    assert FactorisationTree.from_config(spec, 4).root == Node.split(
        Node.split(Node.leaf(0), Node.leaf(1)), Node.leaf(2, 3))
    for bad, match in (([[0, 1], [1, 2]], "repeated: \\[1\\]"), ([[0, 1], 2], "missing: \\[3\\]"),
                       ([0, 1, 2, 7], "not a part: \\[7\\]"), ([[0, 1, 2, 3]], "at least 2"),
                       ([[0], 1, 2, 3], "at least 2 children"), ("tree", "flat, chain"),
                       ([0, "a", 2, 3], "not a part index"), ([{"leaves": [0]}, 1, 2, 3], "leaf: \\[part")):
        with pytest.raises(ConfigError, match=match):
            FactorisationTree.from_config(bad, 4)


# ---- Theorem 1 ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec,k", [(TWO_LEVEL, 4), ("chain", 3), ("chain", 4), ([[0, {"leaf": [1, 2]}], 3], 4),
                                    ("flat", 3)])
def test_theorem1_optimal_terms_sum_to_the_optimal_joint_logit(spec, k):
    p, q = random_joint(k, 0), random_joint(k, 1)
    terms = FactorisationTree.from_config(spec, k).terms()
    x = states(k)
    got = combine(optimal_logits(terms, p, q, x), terms)
    expected = torch.log(p.flatten() / q.flatten()).float()  # combine sums in fp32
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_theorem1_fails_without_an_inner_pair():
    """The check can fail: dropping the inner split's pair (or using flat FactorGAN's
    terms under a chain's shuffles) leaves the joint logit wrong."""
    p, q = random_joint(3, 2), random_joint(3, 3)
    x = states(3)
    expected = torch.log(p.flatten() / q.flatten()).float()
    terms = [t for t in FactorisationTree.chain(3).terms() if not t.name.endswith("_0_1")]
    assert (combine(optimal_logits(terms, p, q, x), terms) - expected).abs().max() > 1e-2


def test_chain_matches_eq8_by_hand():
    """Eq. 8 for 3 steps: d_C = d_1 + Σ_{t=2,3} [d_t + d_P^t(x_1..x_t) − d_Q^t(x_1..x_t)],
    with d_P^t = log p(x_≤t) / (p(x_<t) p(x_t)) — the chain's terms give these values."""
    p, q = random_joint(3, 4), random_joint(3, 5)
    x = states(3)
    logits = optimal_logits(FactorisationTree.chain(3).terms(), p, q, x)

    def lm(r, parts):
        return log_marginal(r, parts, x)

    for r, name in ((p, "p"), (q, "q")):
        torch.testing.assert_close(logits[f"dep_{name}"], lm(r, (0, 1, 2)) - lm(r, (0, 1)) - lm(r, (2,)))
        torch.testing.assert_close(logits[f"dep_{name}_0_1"], lm(r, (0, 1)) - lm(r, (0,)) - lm(r, (1,)))
    for t in range(3):
        torch.testing.assert_close(logits[f"marginal_{t}"], lm(p, (t,)) - lm(q, (t,)))


class TableNet(nn.Module):
    """A logit per discrete input ``(N, k)`` with values in {0..V-1}."""

    def __init__(self, in_shape, width_mult=1) -> None:
        super().__init__()
        self.k = int(torch.tensor(in_shape).prod())
        self.table = nn.Parameter(torch.zeros(V ** self.k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1).long()
        return self.table[(x * V ** torch.arange(self.k - 1, -1, -1)).sum(1)]


def table_discriminator(spec, k: int) -> CombinedDiscriminator:
    terms = FactorisationTree.from_config(spec, k).terms()
    f = Factorisation(0, [1] * k)
    nets = {t.name: TableNet(f.joined_shape((k,), t.parts) if t.parts else (k,)) for t in terms}
    return CombinedDiscriminator(terms, nets, f, (k,), spectral_norm=False)


@pytest.mark.parametrize("spec,k", [(TWO_LEVEL, 4), ("chain", 3)])
def test_theorem1_through_the_combined_discriminator(spec, k):
    """The same optimum through CombinedDiscriminator's views: each table holds its term's
    optimal logit per state of the parts it sees, and σ(d_C) = p / (p + q)."""
    p, q = random_joint(k, 6), random_joint(k, 7)
    d = table_discriminator(spec, k)
    x = states(k)
    with torch.no_grad():
        for t in d.term_list:
            seen = list(t.parts) if t.parts is not None else list(range(k))
            sub = states(len(seen))
            full = torch.zeros(len(sub), k, dtype=torch.long)  # the other parts do not matter
            full[:, seen] = sub
            d.nets[t.name].table.copy_(optimal_logits([t], p, q, full)[t.name].float())
    pf, qf = p.flatten().float(), q.flatten().float()
    torch.testing.assert_close(torch.sigmoid(d(x.float())), pf / (pf + qf), rtol=1e-4, atol=1e-5)


def _sample(dist: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    idx = torch.multinomial(dist.flatten().float(), n, replacement=True, generator=g)
    return STATES[dist.dim()][idx]


def _keep(x: torch.Tensor, group: tuple[int, ...]) -> torch.Tensor:
    """Joint states ``(N, K)`` with the parts outside ``group`` zeroed: observations of
    the group alone, as :meth:`TrainingData.sample_observed` gives them."""
    out = torch.zeros_like(x)
    out[:, list(group)] = x[:, list(group)]
    return out


STATES = {k: states(k).float() for k in (3, 4)}


@pytest.fixture
def one_thread():
    """Tiny tensors: one thread is many times faster than several on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("spec,k", [(TWO_LEVEL, 4), ("chain", 3)])
def test_training_a_tree_with_its_losses_recovers_theorem1(spec, k, one_thread):
    """Every term trained by BCE on the batches CombinedDiscriminator makes for it (inner
    splits shuffle their children) combines into p / (p + q)."""
    torch.manual_seed(0)
    p, q = random_joint(k, 8, floor=0.1), random_joint(k, 9, floor=0.1)
    d = table_discriminator(spec, k)
    opt = torch.optim.Adam(d.parameters(), lr=0.05)
    g = torch.Generator().manual_seed(0)
    n = 4096
    assert d.observed_groups == (((0, 1), (2, 3)) if k == 4 else ((0, 1),))
    for step in range(300):
        if step == 200:  # a smaller step to settle: the last iterate's batch noise shrinks with it
            opt.param_groups[0]["lr"] = 0.01
        parts = {i: _sample(p, n, g)[:, i:i + 1] for i in range(k)}
        observed = {grp: _keep(_sample(p, n, g), grp) for grp in d.observed_groups}
        losses = d.losses(RealBatch(paired=_sample(p, n, g), parts=parts, observed=observed), _sample(q, n, g), g)
        opt.zero_grad()
        sum(t.loss for t in losses.values()).backward()
        opt.step()
    got = torch.sigmoid(d(STATES[k])).detach()
    pf, qf = p.flatten().float(), q.flatten().float()
    torch.testing.assert_close(got, pf / (pf + qf), rtol=0, atol=0.04)  # a tree without its inner pairs: > 0.1


# ---- training a tree ---------------------------------------------------------------------
def test_masked_views_show_a_grids_block_pairs_as_the_image_with_the_rest_zeroed():
    grid = GridFactorisation(2, 2)
    m = MaskedViews(grid, (1, 4, 4))
    x = torch.arange(2 * 16.0).view(2, 1, 4, 4) + 1
    parts = grid.split(x)
    expected = x.clone()
    expected[:, :, 2:] = 0  # the bottom quadrants
    torch.testing.assert_close(m.join_some([parts[0], parts[1]], (0, 1)), expected)
    assert m.joined_shape((1, 4, 4), (0, 1)) == (1, 4, 4) and m.joined_shape((1, 4, 4), (2,)) == (1, 2, 2)
    assert torch.equal(m.join_some([parts[2]], (2,)), parts[2]) and m.joins((3,)) and not m.joins((1, 3))


def test_a_tree_discriminator_on_quadrants_shuffles_each_nodes_children():
    make = lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8)  # noqa: E731
    d = tree_discriminator(make, (1, 4, 4), GridFactorisation(2, 2), tree=TWO_LEVEL)
    assert isinstance(d.factorisation, MaskedViews) and d.in_shape(d.term_list[6]) == (1, 4, 4)
    n = 64
    rows = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1) + 1
    offset = torch.tensor([[0.0, 0.0, 1000.0, 1000.0], [2000.0, 2000.0, 3000.0, 3000.0]]).repeat_interleave(2, 0)
    paired = rows + offset.view(1, 1, 4, 4)  # every pixel of a quadrant carries its row index
    top = paired.clone()
    top[:, :, 2:] = 0  # observations of the top half alone
    observed = {(0, 1): top + 5000.0, (2, 3): paired - top}  # + 5000: told apart from the paired batch
    b = d.batches(RealBatch(paired=paired, parts={i: torch.zeros(n, 1, 2, 2) for i in range(4)}, observed=observed),
                  -paired, torch.Generator().manual_seed(0))
    real, fake = b["dep_p_0_1"]
    torch.testing.assert_close(real[:, :, 2:], torch.zeros(n, 1, 2, 4))  # sees the top half only ...
    torch.testing.assert_close(real[:, :, :2], paired[:, :, :2] + 5000)  # ... of the top halves observed
    paired = paired + 5000
    assert (fake[:, 0, 0, 0] == paired[:, 0, 0, 0]).all()  # the first child stays ...
    assert (fake[:, 0, 0, 2] - 1000 != fake[:, 0, 0, 0]).float().mean() > 0.9  # ... the second moves
    _, root_fake = b["dep_p"]
    top, bottom = root_fake[:, 0, 0, 0], root_fake[:, 0, 2, 0]
    assert (root_fake[:, 0, 0, 2] - 1000 == top).all() and (root_fake[:, 0, 2, 2] - 1000 == bottom).all()
    assert (bottom - 2000 != top).float().mean() > 0.9  # the halves move apart, each in one piece


def test_shared_weights_one_network_per_kind_of_term():
    make = lambda in_shape, width_mult: MLPDiscriminator(in_shape, hidden=8)  # noqa: E731
    f = Factorisation(1, [2, 2, 2, 2])
    own = tree_discriminator(make, (1, 8, 3), f, tree="chain", stack_same_shape=True)
    shared = tree_discriminator(make, (1, 8, 3), f, tree="chain", stack_same_shape=True, share_weights=True)
    nets = {t.name: shared.nets[t.name] for t in shared.term_list}  # every term keeps its own key
    assert all(nets[f"marginal_{i}"] is nets["marginal_0"] for i in range(4))
    assert nets["dep_p"] is nets["dep_p_0-1_2"] is nets["dep_p_0_1"] and nets["dep_q"] is nets["dep_q_0_1"]
    assert nets["dep_p"] is not nets["dep_q"] and not shared.stacks  # sharing is not undone by stacking
    assert shared.in_shape(shared.term_list[-1]) == (1, 8, 3)  # the first prefix seen whole, the rest zeroed
    count = lambda d: sum(p.numel() for p in d.parameters())  # noqa: E731
    assert count(shared) * 2 < count(own)
    x = torch.rand(5, 1, 8, 3)
    shared.eval()
    terms = shared.terms(x)
    torch.testing.assert_close(shared(x), shared.combine(terms))
    zeroed = x.clone()
    zeroed[:, :, 4:] = 0
    torch.testing.assert_close(terms["dep_p_0_1"], nets["dep_p"](zeroed))


@pytest.mark.parametrize("tree,names", [
    ("[[0,1],[2,3]]", ["dep_p", "dep_q", "dep_p_0_1", "dep_q_0_1", "dep_p_2_3", "dep_q_2_3"]),
    ("chain", ["dep_p", "dep_q", "dep_p_0-1_2", "dep_q_0-1_2", "dep_p_0_1", "dep_q_0_1"]),
    ("chain model.combined.share_weights=true",
     ["dep_p", "dep_q", "dep_p_0-1_2", "dep_q_0-1_2", "dep_p_0_1", "dep_q_0_1"]),
])
def test_a_tree_trains_on_paired_mnist_quadrants_and_logs_each_node(tree, names, run_dir, one_thread):
    tree, *more = tree.split()
    cfg = compose_config("model=factorgan_tree", "factorisation=quadrants", f"model.combined.tree={tree}",
                         *more, *TINY, "generator.hidden=16", "discriminator.hidden=16")
    trainer = train(cfg, run_dir)
    assert trainer.step == 4
    names = [f"marginal_{i}" for i in range(4)] + names
    assert [t.name for t in trainer.D.term_list] == names
    acc = EventAccumulator(str(run_dir / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for name in names:
        assert {f"loss/d_{name}", f"acc/d_{name}", f"logit/{name}_fake"} <= tags
    values = [e.value for e in acc.Scalars("loss/d_dep_p_0_1")]
    assert values and all(math.isfinite(v) and v > 0 for v in values)
    rebuilt = build_trainer(cfg, run_dir / "again")  # the checkpoint's networks are the config's
    rebuilt.D.load_state_dict(checkpoint.load(run_dir / "checkpoints" / checkpoint.LAST)["discriminator"])


def test_a_single_leaf_as_the_root_says_what_a_root_must_be():
    from factorgan.errors import ConfigError
    from factorgan.method.tree import FactorisationTree

    with pytest.raises(ConfigError) as err:
        FactorisationTree.from_config({"leaf": [0, 1, 2, 3]}, 4)
    message = str(err.value)
    assert message.startswith("model.combined.tree={leaf: [0, 1, 2, 3]} is a single leaf")
    assert "[[0, 1], [2, 3]]" in message and "model=gan" in message
